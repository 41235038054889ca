//! Status: what each object's `status` should say, and writing it only when it changes.
//!
//! Conditions: `Accepted` (the object is valid), `ResolvedRefs` (everything it references exists
//! and is allowed), `Programmed` (a ready gateway of its instance serves a config version that
//! contains the object's current generation), and on objects with alarms `AlarmsReady` (their
//! PrometheusRule is written). `lastTransitionTime` moves only when a condition's
//! status flips, so an unchanged object compares equal and is not written.

use std::fmt::Debug;

use apigw_core::bundle::MANAGER;
use apigw_core::translate::{ConditionType, ObjectRef, Problem};
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::alarms::AlarmState;
use crate::metrics::{KindLabels, Metrics};

/// Whether an object is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Programmed {
    /// Not valid or not resolved: never sent to gateways.
    Refused,
    /// Refused, but its last good version is served (a bad edit never takes an Api down).
    LastGood,
    /// Valid, but nothing served uses it (`message` says why).
    Unused(&'static str),
    /// In config `version` of `instance`, which not every ready gateway of it has loaded yet.
    Pending {
        /// The first instance still waiting.
        instance: String,
        /// The version that contains the object.
        version: u64,
        /// The instance's ready gateways that have loaded it.
        loaded: usize,
        /// The instance's ready gateways.
        ready: usize,
    },
    /// Served by every ready gateway of every instance that uses it, at a version that
    /// contains it.
    Served {
        /// Those instances, each with its loaded/ready gateway count: `default (2/2)`.
        instances: String,
    },
}

/// Everything that decides one object's status.
pub struct Facts<'a> {
    /// The object's `metadata.generation`.
    pub generation: Option<i64>,
    /// Its problems (already filtered to this object).
    pub problems: &'a [&'a Problem],
    /// Whether it is served.
    pub programmed: Programmed,
    /// Kind-specific fields (`url`, `apiCount`, `internalDomain`), merged into the status.
    pub extra: Map<String, Value>,
    /// Where its alarms are (objects with alarms only).
    pub alarms: Option<AlarmState>,
}

/// The status `facts` call for, keeping transition times of conditions that did not flip.
pub fn desired(facts: &Facts, current: &[Condition], now: &Time) -> Value {
    let condition = |kind: ConditionType| -> (bool, String, String) {
        let found: Vec<&&Problem> = facts.problems.iter().filter(|problem| problem.condition == kind).collect();
        match found.first() {
            None => (true, kind.as_str().to_owned(), ok_message(kind).to_owned()),
            Some(first) => {
                (false, first.reason.to_owned(), joined(found.iter().map(|problem| problem.message.as_str())))
            }
        }
    };
    let programmed = match &facts.programmed {
        Programmed::Refused => {
            (false, "Invalid".to_owned(), "not served: see the Accepted and ResolvedRefs conditions".to_owned())
        }
        Programmed::LastGood => (
            false,
            "ServingLastGood".to_owned(),
            "this generation is refused (see Accepted and ResolvedRefs); gateways keep serving the last accepted one"
                .to_owned(),
        ),
        Programmed::Unused(why) => (false, "Unused".to_owned(), (*why).to_owned()),
        Programmed::Pending { instance, version, loaded, ready: 0 } => (
            false,
            "Pending".to_owned(),
            format!(
                "{loaded}/0 ready gateways of instance {instance}: waiting for one to load config version {version}"
            ),
        ),
        Programmed::Pending { instance, version, loaded, ready } => (
            false,
            "Pending".to_owned(),
            format!("{loaded}/{ready} ready gateways of instance {instance} have loaded config version {version}"),
        ),
        Programmed::Served { instances } => {
            (true, "Programmed".to_owned(), format!("served by every ready gateway of instance {instances}"))
        }
    };
    let alarms = facts.alarms.as_ref().map(|state| match state {
        AlarmState::Rendered(name) => {
            (true, "Rendered".to_owned(), format!("the alarms are rules of PrometheusRule {name}"))
        }
        AlarmState::NoPrometheusOperator => (
            false,
            "NoPrometheusOperator".to_owned(),
            "the cluster serves no monitoring.coreos.com/v1 PrometheusRule: install the prometheus-operator CRDs"
                .to_owned(),
        ),
        AlarmState::Failed(message) => (false, "WriteFailed".to_owned(), message.clone()),
    });
    let conditions = [
        ("Accepted", condition(ConditionType::Accepted)),
        ("ResolvedRefs", condition(ConditionType::ResolvedRefs)),
        ("Programmed", programmed),
    ]
    .into_iter()
    .chain(alarms.map(|alarms| ("AlarmsReady", alarms)))
    .map(|(kind, (ok, reason, message))| {
        let status = if ok { "True" } else { "False" };
        let previous = current.iter().find(|condition| condition.type_ == kind);
        let last_transition_time = previous
            .filter(|previous| previous.status == status)
            .map_or_else(|| now.clone(), |previous| previous.last_transition_time.clone());
        Condition {
            type_: kind.to_owned(),
            status: status.to_owned(),
            reason,
            message,
            observed_generation: facts.generation,
            last_transition_time,
        }
    })
    .collect::<Vec<_>>();
    let mut status = facts.extra.clone();
    if let Some(generation) = facts.generation {
        status.insert("observedGeneration".to_owned(), json!(generation));
    }
    status.insert("conditions".to_owned(), serde_json::to_value(conditions).expect("conditions serialize"));
    Value::Object(status)
}

/// Longest condition message written, in bytes: the API server refuses a condition whose
/// message passes 32,768 characters.
const MESSAGE_BYTES: usize = 32 * 1024 - 64;

/// `messages` joined by `; `, the ones past [`MESSAGE_BYTES`] counted instead of written.
fn joined<'a>(messages: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = messages.len();
    let mut text = String::new();
    for (written, message) in messages.enumerate() {
        let separator = if written == 0 { "" } else { "; " };
        if text.len() + separator.len() + message.len() > MESSAGE_BYTES {
            let mut left = total - written;
            if written == 0 {
                let end = (0..=MESSAGE_BYTES).rev().find(|&end| message.is_char_boundary(end)).unwrap_or(0);
                text.push_str(&message[..end]);
                text.push('…');
                left -= 1;
            }
            if left > 0 {
                text += &format!("; and {left} more");
            }
            break;
        }
        text += separator;
        text += message;
    }
    text
}

fn ok_message(kind: ConditionType) -> &'static str {
    match kind {
        ConditionType::Accepted => "the spec is valid",
        ConditionType::ResolvedRefs => "every reference was found and is allowed",
    }
}

/// The conditions of a status as [`current_status`] returns it.
pub fn conditions_of(status: &Value) -> Vec<Condition> {
    status.get("conditions").and_then(|conditions| serde_json::from_value(conditions.clone()).ok()).unwrap_or_default()
}

/// An object's status as JSON (`{}` when it has none).
pub fn current_status<K: HasStatus>(object: &K) -> Value
where
    K::Status: Serialize,
{
    object.status().and_then(|status| serde_json::to_value(status).ok()).unwrap_or_else(|| json!({}))
}

/// A status to write.
pub struct Update {
    /// The object.
    pub object: ObjectRef,
    /// Its new status.
    pub status: Value,
}

/// Writes `updates` to objects of kind `K`, 16 at a time; returns how many failed (the next
/// pass retries them, as their status still differs).
pub async fn write<K>(client: &Client, updates: Vec<Update>, metrics: &Metrics) -> usize
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let writes = updates.into_iter().map(|update| {
        let api: Api<K> = Api::namespaced(client.clone(), &update.object.namespace);
        async move {
            let patch = json!({ "status": update.status });
            let params = PatchParams { field_manager: Some(MANAGER.to_owned()), ..PatchParams::default() };
            let result = api.patch_status(&update.object.name, &params, &Patch::Merge(&patch)).await;
            match result {
                Ok(object) => {
                    metrics.status_writes.get_or_create(&KindLabels { kind: update.object.kind }).inc();
                    tracing::debug!(object = %update.object, generation = ?object.meta().generation, "status written");
                    false
                }
                // Deleted since the snapshot: nothing to report on.
                Err(kube::Error::Api(status)) if status.code == 404 => false,
                Err(error) => {
                    tracing::warn!(object = %update.object, %error, "writing status failed");
                    true
                }
            }
        }
    });
    futures::stream::iter(writes).buffer_unordered(16).filter(|failed| std::future::ready(*failed)).count().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_core::translate::ObjectRef;

    fn problem(condition: ConditionType, reason: &'static str, message: &str) -> Problem {
        let object = ObjectRef { kind: "Api", namespace: "shop".into(), name: "orders".into() };
        Problem { object, condition, reason, message: message.into() }
    }

    fn time(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn facts<'a>(problems: &'a [&'a Problem], programmed: Programmed) -> Facts<'a> {
        Facts { generation: Some(3), problems, programmed, extra: Map::new(), alarms: None }
    }

    fn conditions(status: &Value) -> Vec<Condition> {
        serde_json::from_value(status["conditions"].clone()).unwrap()
    }

    #[test]
    fn a_valid_served_object_is_accepted_resolved_and_programmed() {
        let status = desired(&facts(&[], Programmed::Served { instances: "default".into() }), &[], &time(100));
        assert_eq!(status["observedGeneration"], 3);
        let conditions = conditions(&status);
        assert_eq!(conditions.len(), 3);
        assert!(conditions.iter().all(|condition| condition.status == "True"), "{conditions:?}");
        assert!(conditions[2].message.contains("instance default"));
    }

    #[test]
    fn a_condition_message_stays_under_the_api_servers_limit() {
        let many: Vec<String> = (0..5_000).map(|index| format!("parameter p{index} has no type")).collect();
        let message = joined(many.iter().map(String::as_str));
        assert!(message.len() <= 32 * 1024, "{} bytes", message.len());
        assert!(message.starts_with("parameter p0 has no type; parameter p1"));
        let more: usize = message.rsplit("and ").next().and_then(|n| n.strip_suffix(" more")?.parse().ok()).unwrap();
        assert_eq!(message.matches("has no type").count() + more, 5_000, "every problem written or counted");

        let huge = "é".repeat(40_000);
        let message = joined([huge.as_str(), "second"].into_iter());
        assert!(message.len() <= 32 * 1024 && message.ends_with("…; and 1 more"), "{}", &message[message.len() - 20..]);
        assert_eq!(joined(["a", "b"].into_iter()), "a; b");
    }

    #[test]
    fn problems_set_their_condition_false_with_every_message() {
        let missing = problem(ConditionType::ResolvedRefs, "GroupNotFound", "ApiGroup shop/web not found");
        let plugin = problem(ConditionType::ResolvedRefs, "PluginNotFound", "Plugin jwt not found");
        let problems = [&missing, &plugin];
        let conditions = conditions(&desired(&facts(&problems, Programmed::Refused), &[], &time(100)));
        assert_eq!(conditions[0].status, "True");
        assert_eq!(conditions[1].status, "False");
        assert_eq!(conditions[1].reason, "GroupNotFound");
        assert_eq!(conditions[1].message, "ApiGroup shop/web not found; Plugin jwt not found");
        assert_eq!((conditions[2].status.as_str(), conditions[2].reason.as_str()), ("False", "Invalid"));
    }

    #[test]
    fn transition_times_move_only_when_a_condition_flips() {
        let pending = Programmed::Pending { instance: "default".into(), version: 2, loaded: 1, ready: 2 };
        let first = desired(&facts(&[], pending.clone()), &[], &time(100));
        let again = desired(&facts(&[], pending), &conditions(&first), &time(200));
        assert_eq!(first, again, "nothing changed: nothing to write");
        let served =
            desired(&facts(&[], Programmed::Served { instances: "default".into() }), &conditions(&again), &time(300));
        let served = conditions(&served);
        assert_eq!(served[0].last_transition_time, time(100), "Accepted did not flip");
        assert_eq!(served[2].last_transition_time, time(300), "Programmed did");
    }

    #[test]
    fn alarmed_objects_say_where_their_alarms_are_or_why_not() {
        let served = || Programmed::Served { instances: "default".into() };
        let without = Facts { alarms: Some(AlarmState::NoPrometheusOperator), ..facts(&[], served()) };
        let missing = conditions(&desired(&without, &[], &time(100)));
        let alarms = &missing[3];
        assert_eq!((alarms.type_.as_str(), alarms.status.as_str()), ("AlarmsReady", "False"));
        assert_eq!(alarms.reason, "NoPrometheusOperator");
        assert!(alarms.message.contains("install the prometheus-operator CRDs"), "{}", alarms.message);
        let rendered = Facts { alarms: Some(AlarmState::Rendered("apigw-alarms-shop".into())), ..facts(&[], served()) };
        let found = conditions(&desired(&rendered, &[], &time(100)));
        assert_eq!((found[3].status.as_str(), found[3].reason.as_str()), ("True", "Rendered"));
        assert_eq!(found[2].status, "True", "alarms never change whether the object is served");
    }
}
