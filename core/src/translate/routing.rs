//! RoutingPlugin checks: every condition parses and reads only declared or system parameters.

use super::problem::ConditionType::Accepted;
use super::{Problem, object_ref};
use crate::condition::Condition;
use crate::resources::RoutingPlugin;

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

/// Everything wrong with a routing plugin, each problem naming the route and, for a condition
/// that does not parse, the column.
pub fn check(plugin: &RoutingPlugin) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem =
        |reason, message| problems.push(Problem { object: object_ref(plugin), condition: Accepted, reason, message });
    for name in plugin.spec.parameters.keys() {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            problem("InvalidParameterName", format!("parameter {name:?}: names are letters, digits and _"));
        }
    }
    for route in &plugin.spec.routes {
        match Condition::parse(&route.condition) {
            Err(error) => {
                problem("InvalidCondition", format!("route {}: condition {:?}: {error}", route.name, route.condition))
            }
            Ok(condition) => {
                for name in condition.parameters() {
                    if !plugin.spec.parameters.contains_key(name) && !SYSTEM_PARAMETERS.contains(&name) {
                        problem(
                            "UndeclaredParameter",
                            format!(
                                "route {}: ${name} is neither declared in spec.parameters nor a system parameter",
                                route.name
                            ),
                        );
                    }
                }
            }
        }
    }
    problems
}
