//! Checks of condition plugins (RoutingPlugin, and Plugins of type accessControl): every
//! condition parses and reads only declared or system parameters.

use std::collections::BTreeMap;

use super::problem::ConditionType::Accepted;
use super::{ObjectRef, Problem};
use crate::condition::Condition;
use crate::resources::ParameterSource;

/// The system parameters a condition may read without declaring them.
pub const SYSTEM_PARAMETERS: [&str; 15] = [
    "CaClientIp",
    "CaDomain",
    "CaRequestHandleTime",
    "CaAppId",
    "CaRequestId",
    "CaHttpSchema",
    "CaProxy",
    "CaApiName",
    "CaClientUa",
    "CaCloudMarketInstanceId",
    "CaAppKey",
    "CaAppExtendInfo",
    "CaStage",
    "CaInstanceId",
    "CaSourceVpcId",
];

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
                    if !parameters.contains_key(parameter) && !SYSTEM_PARAMETERS.contains(&parameter) {
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
