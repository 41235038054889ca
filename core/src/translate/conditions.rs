//! Checks of condition plugins (RoutingPlugin, and Plugins of type accessControl): every
//! condition parses and reads only declared or system parameters.

use std::collections::BTreeMap;

use super::problem::ConditionType::Accepted;
use super::{ObjectRef, Problem};
use crate::condition::Condition;
use crate::resources::{ParameterSource, SystemParameterName};

/// Alibaba's system parameters the gateway has no value for (no cloud market, no VPC source):
/// a condition may read them (they are null), beside every [`SystemParameterName`].
pub const UNSERVED_SYSTEM_PARAMETERS: [&str; 3] = ["CaCloudMarketInstanceId", "CaAppExtendInfo", "CaSourceVpcId"];

/// Whether `name` is a system parameter a condition may read without declaring it.
pub fn is_system_parameter(name: &str) -> bool {
    SystemParameterName::from_name(name).is_some() || UNSERVED_SYSTEM_PARAMETERS.contains(&name)
}

/// Everything wrong with the `parameters` and the `(kind, name, condition)` items (such as
/// `("route", "old", "$v < '2.0.5'")`) of one object; each problem names the item and, for a
/// condition that does not parse, the column.
pub fn check<'a>(
    object: &ObjectRef,
    parameters: &BTreeMap<String, ParameterSource>,
    items: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem =
        |reason, message| problems.push(Problem { object: object.clone(), condition: Accepted, reason, message });
    for name in parameters.keys() {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            problem("InvalidParameterName", format!("parameter {name:?}: names are letters, digits and _"));
        }
    }
    for (kind, name, source) in items {
        match Condition::parse(source) {
            Err(error) => problem("InvalidCondition", format!("{kind} {name}: condition {source:?}: {error}")),
            Ok(condition) => {
                for parameter in condition.parameters() {
                    if !parameters.contains_key(parameter) && !is_system_parameter(parameter) {
                        problem(
                            "UndeclaredParameter",
                            format!(
                                "{kind} {name}: ${parameter} is neither declared in parameters nor a system parameter"
                            ),
                        );
                    }
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_parameters_are_named_as_they_are_written() {
        for parameter in SystemParameterName::ALL {
            let written = serde_json::to_value(parameter).expect("serializes");
            assert_eq!(written, parameter.as_str(), "the Api's spelling");
            assert_eq!(SystemParameterName::from_name(parameter.as_str()), Some(parameter));
            assert!(is_system_parameter(parameter.as_str()));
        }
        assert!(is_system_parameter("CaSourceVpcId"), "Alibaba's, null here");
        assert!(!is_system_parameter("CaNothing"));
    }
}
