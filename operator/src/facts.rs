//! What an object's status is computed from: the last pass's problems and members, the versions
//! the gateways loaded, and each kind's own fields (an ApiGroup's `apiCount`, an Api's `url`, a
//! VpcAccess's `readyEndpoints`, a Plugin's `pluginType`). [`crate::status`] turns them into
//! conditions and writes them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apigw_core::config::{GatewayConfig, GroupConfig};
use apigw_core::resources::{Api, ApiGroup, Plugin, Protocol, VpcAccess};
use apigw_core::translate::{ObjectRef, Problem};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::object::HasStatus;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::alarms::AlarmState;
use crate::status::{self, Facts, Programmed, Update};

/// How long an object waiting for gateways to load a version just published goes without a
/// status write: gateways usually load it sooner, so a new or changed object gets one write
/// (Programmed) instead of two (Pending, then Programmed) — at 100 new Apis a second, status
/// writes are what the API server spends most on.
pub const PENDING_GRACE: Duration = Duration::from_secs(2);

/// What statuses are computed from.
pub struct StatusContext<'a> {
    /// The generation of every object the pass translated.
    pub generations: &'a HashMap<ObjectRef, Option<i64>>,
    /// What each instance serves.
    pub configs: &'a Configs,
    /// The objects each instance serves.
    pub members: &'a BTreeMap<String, BTreeSet<ObjectRef>>,
    /// Refused Apis served at their last good version.
    pub kept: &'a BTreeSet<ObjectRef>,
    /// The config versions each instance's ready gateways loaded.
    pub served: &'a HashMap<String, Vec<u64>>,
    /// The config version that first contained each object's generation, per instance.
    pub contained: &'a HashMap<(ObjectRef, String), (Option<i64>, u64)>,
    /// Each instance's newest published version and when it was published.
    pub published: &'a HashMap<String, (u64, Instant)>,
    /// Each object's problems.
    pub problems: &'a HashMap<&'a ObjectRef, Vec<&'a Problem>>,
    /// Where the alarms of each alarmed object are.
    pub alarms: &'a HashMap<ObjectRef, AlarmState>,
    /// The time conditions that flip get.
    pub now: &'a Time,
}

impl StatusContext<'_> {
    /// The status updates `objects` need; `extra` adds kind-specific fields.
    pub fn updates<K>(&self, objects: &[Arc<K>], extra: fn(&K, &Configs) -> Map<String, Value>) -> Vec<Update>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + HasStatus + Clone + DeserializeOwned,
        K::Status: Serialize,
    {
        objects
            .iter()
            .filter_map(|object| {
                let object_ref = apigw_core::translate::object_ref(&**object);
                if self.generations.get(&object_ref) != Some(&object.meta().generation) {
                    return None;
                }
                let problems = self.problems.get(&object_ref).map(Vec::as_slice).unwrap_or_default();
                let programmed = self.programmed(&object_ref, !problems.is_empty());
                if self.waits_briefly(&programmed) {
                    return None;
                }
                let facts = Facts {
                    generation: object.meta().generation,
                    problems,
                    programmed,
                    extra: extra(object, self.configs),
                    alarms: self.alarms.get(&object_ref).cloned(),
                };
                let current = status::current_status(&**object);
                let desired = status::desired(&facts, &status::conditions_of(&current), self.now);
                (current != desired).then_some(Update { object: object_ref, status: desired })
            })
            .collect()
    }

    /// Whether `programmed` waits for the version its instance published less than
    /// [`PENDING_GRACE`] ago.
    fn waits_briefly(&self, programmed: &Programmed) -> bool {
        let Programmed::Pending { instance, version, .. } = programmed else { return false };
        self.published.get(instance).is_some_and(|(newest, at)| newest == version && at.elapsed() < PENDING_GRACE)
    }

    fn programmed(&self, object: &ObjectRef, refused: bool) -> Programmed {
        if refused {
            return match self.kept.contains(object) {
                true => Programmed::LastGood,
                false => Programmed::Refused,
            };
        }
        let instances: Vec<&String> =
            self.members.iter().filter(|(_, members)| members.contains(object)).map(|(instance, _)| instance).collect();
        if instances.is_empty() {
            return Programmed::Unused(unused_message(object.kind));
        }
        let mut served = Vec::with_capacity(instances.len());
        for instance in &instances {
            let version = self.contained.get(&(object.clone(), (*instance).clone())).map_or(0, |entry| entry.1);
            let gateways = self.served.get(*instance).map_or(&[][..], Vec::as_slice);
            let loaded = gateways.iter().filter(|loaded| **loaded >= version).count();
            if gateways.is_empty() || loaded < gateways.len() {
                return Programmed::Pending { instance: (*instance).clone(), version, loaded, ready: gateways.len() };
            }
            served.push(format!("{instance} ({loaded}/{loaded})"));
        }
        Programmed::Served { instances: served.join(", ") }
    }
}

fn unused_message(kind: &str) -> &'static str {
    match kind {
        "ApiGroup" => "the group is not served",
        "Api" => "the Api is not served",
        "App" => "no ApiGroup of this namespace is served",
        "VpcAccess" => "no served Api uses this VpcAccess",
        _ => "no served Api binds this plugin",
    }
}

/// The problems of a pass, by object.
pub fn problems_by_object(problems: &[Problem]) -> HashMap<&ObjectRef, Vec<&Problem>> {
    let mut by_object: HashMap<&ObjectRef, Vec<&Problem>> = HashMap::new();
    for problem in problems {
        by_object.entry(&problem.object).or_default().push(problem);
    }
    by_object
}

/// What each instance serves.
pub type Configs = BTreeMap<String, GatewayConfig>;

/// The served group config of `namespace/name`.
fn served_group<'a>(configs: &'a Configs, namespace: &str, name: &str) -> Option<&'a GroupConfig> {
    configs.values().flat_map(|config| &config.groups).find(|group| group.namespace == namespace && group.name == name)
}

/// No kind-specific status fields.
pub fn no_extra<K>(_: &K, _: &Configs) -> Map<String, Value> {
    Map::new()
}

/// ApiGroup: `apiCount` (Apis served) and `internalDomain`.
pub fn group_extra(group: &ApiGroup, configs: &Configs) -> Map<String, Value> {
    let served = served_group(configs, &group.namespace().unwrap_or_default(), &group.name_any());
    let mut extra = Map::new();
    extra.insert("apiCount".to_owned(), json!(served.map_or(0, |group| group.apis.len())));
    if let Some(domain) = served.and_then(|group| group.internal_host.as_ref()) {
        extra.insert("internalDomain".to_owned(), json!(domain));
    }
    extra
}

/// Api: the `url` clients call.
pub fn api_extra(api: &Api, configs: &Configs) -> Map<String, Value> {
    let mut extra = Map::new();
    let namespace = api.namespace().unwrap_or_default();
    let Some(group) = served_group(configs, &namespace, &api.spec.group_ref) else { return extra };
    // A group's Apis are sorted by name (the translation's order).
    let name = api.name_any();
    let Ok(index) = group.apis.binary_search_by(|served| served.name.cmp(&name)) else { return extra };
    let served = &group.apis[index];
    let host = group.hosts.first().or(group.internal_host.as_ref());
    if let Some(host) = host {
        let scheme = if served.protocols.contains(&Protocol::Http) { "http" } else { "https" };
        extra.insert("url".to_owned(), json!(format!("{scheme}://{host}{}", served.path)));
    }
    extra
}

/// VpcAccess: `readyEndpoints`, the endpoints the gateways send to (1 for an address), where an
/// Api serves it.
pub fn vpc_access_extra(access: &VpcAccess, configs: &Configs) -> Map<String, Value> {
    let key = format!("{}/{}", access.namespace().unwrap_or_default(), access.name_any());
    let mut extra = Map::new();
    if let Some(upstream) = configs.values().find_map(|config| config.upstreams.get(&key)) {
        extra.insert("readyEndpoints".to_owned(), json!(upstream.endpoints.len()));
    }
    extra
}

/// Plugin: `pluginType`.
pub fn plugin_extra(plugin: &Plugin, _: &Configs) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(kind) = plugin.spec.type_name() {
        extra.insert("pluginType".to_owned(), json!(kind));
    }
    extra
}
