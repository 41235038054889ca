//! What an object's status is computed from: the last pass's problems and members, the versions
//! the gateways loaded, and each kind's own fields (an ApiGroup's `apiCount`, an Api's `url`, a
//! VpcAccess's `readyEndpoints`, a Plugin's `pluginType`). [`crate::status`] turns them into
//! conditions and writes them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
    pub configs: &'a ServedConfigs<'a>,
    /// The objects each instance serves.
    pub members: &'a BTreeMap<String, HashSet<ObjectRef>>,
    /// Refused Apis served at their last good version.
    pub kept: &'a BTreeSet<ObjectRef>,
    /// The config versions each instance's ready gateways loaded.
    pub served: &'a HashMap<String, Vec<u64>>,
    /// The config version that first contained each object's generation, per instance.
    pub contained: &'a Contained,
    /// Each instance's newest published version and when it was published.
    pub published: &'a HashMap<String, (u64, Instant)>,
    /// Each object's problems.
    pub problems: &'a HashMap<&'a ObjectRef, Vec<&'a Problem>>,
    /// Where the alarms of each alarmed object are.
    pub alarms: &'a HashMap<ObjectRef, AlarmState>,
    /// The time conditions that flip get.
    pub now: &'a Time,
    /// Whether to stop computing (an input changed: the next pass computes statuses anew).
    pub interrupted: &'a dyn Fn() -> bool,
}

/// Per instance, the config version that first contained each object's generation (and that
/// generation).
pub type Contained = HashMap<String, HashMap<ObjectRef, (Option<i64>, u64)>>;

/// The facts each object's status was last found to match, with the resourceVersion it was
/// found in: an object whose resourceVersion and facts are both unchanged needs no status, and
/// its status is not built again (at 20,000 Apis building every status took most of a pass).
#[derive(Default)]
pub struct StatusMemo {
    settled: HashMap<ObjectRef, Settled>,
    next: HashMap<ObjectRef, Settled>,
}

impl StatusMemo {
    /// Ends a pass: what it found settled is what the next one compares with.
    pub fn finish_pass(&mut self) {
        self.settled = std::mem::take(&mut self.next);
    }

    /// Ends an interrupted pass: what it found settled and what it did not reach are what the
    /// next one compares with.
    pub fn abandon_pass(&mut self) {
        let next = std::mem::take(&mut self.next);
        self.settled.extend(next);
    }
}

/// An object's facts, owned, as of a resourceVersion whose status matched them.
struct Settled {
    resource_version: Option<String>,
    generation: Option<i64>,
    problems: Vec<Problem>,
    programmed: Programmed,
    extra: Map<String, Value>,
    alarms: Option<AlarmState>,
}

impl Settled {
    fn new(resource_version: Option<String>, facts: Facts) -> Self {
        let problems = facts.problems.iter().map(|problem| (*problem).clone()).collect();
        let Facts { generation, programmed, extra, alarms, .. } = facts;
        Self { resource_version, generation, problems, programmed, extra, alarms }
    }

    fn matches(&self, resource_version: Option<&String>, facts: &Facts) -> bool {
        self.resource_version.as_ref() == resource_version
            && self.generation == facts.generation
            && self.programmed == facts.programmed
            && self.alarms == facts.alarms
            && self.problems.iter().eq(facts.problems.iter().copied())
            && self.extra == facts.extra
    }
}

impl StatusContext<'_> {
    /// The status updates `objects` need (`None` once interrupted); `extra` adds kind-specific
    /// fields. Objects found settled are remembered in `memo` and skipped while they and their
    /// facts stay as they are.
    pub fn updates<K>(
        &self,
        objects: &[Arc<K>],
        extra: fn(&K, &ServedConfigs) -> Map<String, Value>,
        memo: &mut StatusMemo,
    ) -> Option<Vec<Update>>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + HasStatus + Clone + DeserializeOwned,
        K::Status: Serialize,
    {
        let updates = objects
            .iter()
            .take_while(|_| !(self.interrupted)())
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
                let resource_version = object.meta().resource_version.as_ref();
                if let Some(settled) = memo.settled.remove(&object_ref)
                    && settled.matches(resource_version, &facts)
                {
                    memo.next.insert(object_ref, settled);
                    return None;
                }
                let current = status::current_status(&**object);
                let desired = status::desired(&facts, &status::conditions_of(&current), self.now);
                if current == desired {
                    memo.next.insert(object_ref, Settled::new(resource_version.cloned(), facts));
                    return None;
                }
                Some(Update { object: object_ref, status: desired })
            })
            .collect();
        (!(self.interrupted)()).then_some(updates)
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
            let contained = self.contained.get(*instance).and_then(|objects| objects.get(object));
            let version = contained.map_or(0, |entry| entry.1);
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

/// What each instance serves, with its groups found by namespace and name.
pub struct ServedConfigs<'a> {
    /// Each instance's config.
    pub configs: &'a Configs,
    /// The first served group of each namespace and name.
    groups: HashMap<(&'a str, &'a str), &'a GroupConfig>,
}

impl<'a> ServedConfigs<'a> {
    /// Indexes the groups of `configs`.
    pub fn new(configs: &'a Configs) -> Self {
        let mut groups = HashMap::new();
        for group in configs.values().flat_map(|config| &config.groups) {
            groups.entry((group.namespace.as_str(), group.name.as_str())).or_insert(group);
        }
        Self { configs, groups }
    }

    /// The served group config of `namespace/name`.
    fn group(&self, namespace: &str, name: &str) -> Option<&'a GroupConfig> {
        self.groups.get(&(namespace, name)).copied()
    }
}

/// No kind-specific status fields.
pub fn no_extra<K>(_: &K, _: &ServedConfigs) -> Map<String, Value> {
    Map::new()
}

/// ApiGroup: `apiCount` (Apis served) and `internalDomain`.
pub fn group_extra(group: &ApiGroup, configs: &ServedConfigs) -> Map<String, Value> {
    let meta = group.meta();
    let served = configs.group(meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default());
    let mut extra = Map::new();
    extra.insert("apiCount".to_owned(), json!(served.map_or(0, |group| group.apis.len())));
    if let Some(domain) = served.and_then(|group| group.internal_host.as_ref()) {
        extra.insert("internalDomain".to_owned(), json!(domain));
    }
    extra
}

/// Api: the `url` clients call.
pub fn api_extra(api: &Api, configs: &ServedConfigs) -> Map<String, Value> {
    let mut extra = Map::new();
    let meta = api.meta();
    let Some(group) = configs.group(meta.namespace.as_deref().unwrap_or_default(), &api.spec.group_ref) else {
        return extra;
    };
    // A group's Apis are sorted by name (the translation's order).
    let name = meta.name.as_deref().unwrap_or_default();
    let Ok(index) = group.apis.binary_search_by(|served| served.name.as_str().cmp(name)) else { return extra };
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
pub fn vpc_access_extra(access: &VpcAccess, configs: &ServedConfigs) -> Map<String, Value> {
    let key = format!("{}/{}", access.namespace().unwrap_or_default(), access.name_any());
    let mut extra = Map::new();
    if let Some(upstream) = configs.configs.values().find_map(|config| config.upstreams.get(&key)) {
        extra.insert("readyEndpoints".to_owned(), json!(upstream.endpoints.len()));
    }
    extra
}

/// Plugin: `pluginType`.
pub fn plugin_extra(plugin: &Plugin, _: &ServedConfigs) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(kind) = plugin.spec.type_name() {
        extra.insert("pluginType".to_owned(), json!(kind));
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_core::translate::ConditionType;

    fn api(resource_version: &str, status: Option<&Value>) -> Arc<Api> {
        let mut object = json!({
            "apiVersion": "apigw.io/v1alpha1", "kind": "Api",
            "metadata": {"name": "orders", "namespace": "shop", "generation": 1, "resourceVersion": resource_version},
            "spec": {"groupRef": "shop", "auth": {"type": "ANONYMOUS"}, "request": {"method": "GET", "path": "/orders"},
                     "backend": {"type": "MOCK", "statusCode": 200}},
        });
        if let Some(status) = status {
            object["status"] = status.clone();
        }
        Arc::new(serde_json::from_value(object).expect("a valid Api"))
    }

    /// The updates `objects` need when the Api has `problems`.
    fn updates(objects: &[Arc<Api>], problems: &[Problem], memo: &mut StatusMemo) -> Vec<Update> {
        updates_until(objects, problems, memo, &|| false).expect("never interrupted")
    }

    /// [`updates`], `None` when `interrupted` says so.
    fn updates_until(
        objects: &[Arc<Api>],
        problems: &[Problem],
        memo: &mut StatusMemo,
        interrupted: &dyn Fn() -> bool,
    ) -> Option<Vec<Update>> {
        let orders = ObjectRef { kind: "Api", namespace: "shop".into(), name: "orders".into() };
        let (configs, members, kept) = (Configs::new(), BTreeMap::new(), BTreeSet::new());
        let (served, contained, published, alarms) = (HashMap::new(), HashMap::new(), HashMap::new(), HashMap::new());
        let problems = problems_by_object(problems);
        let context = StatusContext {
            generations: &HashMap::from([(orders, Some(1))]),
            configs: &ServedConfigs::new(&configs),
            members: &members,
            kept: &kept,
            served: &served,
            contained: &contained,
            published: &published,
            problems: &problems,
            alarms: &alarms,
            now: &Time(jiff::Timestamp::from_second(100).expect("a time")),
            interrupted,
        };
        let updates = context.updates(objects, api_extra, memo);
        match updates {
            Some(_) => memo.finish_pass(),
            None => memo.abandon_pass(),
        }
        updates
    }

    #[test]
    fn an_interrupted_pass_gives_no_updates_and_keeps_what_was_settled() {
        let mut memo = StatusMemo::default();
        let written = updates(&[api("1", None)], &[], &mut memo).pop().expect("a new object gets a status").status;
        let settled = [api("2", Some(&written))];
        assert!(updates(&settled, &[], &mut memo).is_empty());
        assert!(updates_until(&settled, &[], &mut memo, &|| true).is_none(), "interrupted");
        assert_eq!(memo.settled.len(), 1, "what was settled stays settled");
        assert!(updates(&settled, &[], &mut memo).is_empty());
    }

    #[test]
    fn a_settled_status_is_written_again_when_its_facts_or_its_object_change() {
        let mut memo = StatusMemo::default();
        let written = updates(&[api("1", None)], &[], &mut memo).pop().expect("a new object gets a status").status;
        let settled = [api("2", Some(&written))];
        assert!(updates(&settled, &[], &mut memo).is_empty(), "its status as written needs nothing");
        assert!(updates(&settled, &[], &mut memo).is_empty(), "nor while nothing changes");

        let object = ObjectRef { kind: "Api", namespace: "shop".into(), name: "orders".into() };
        let refused = Problem { object, condition: ConditionType::Accepted, reason: "Invalid", message: "bad".into() };
        let update = updates(&settled, std::slice::from_ref(&refused), &mut memo);
        assert_eq!(update.len(), 1, "new facts of the same resourceVersion are written");
        assert_eq!(update[0].status["conditions"][0]["status"], "False");

        assert!(updates(&settled, &[], &mut memo).is_empty(), "back to the facts its status shows");
        let cleared = [api("3", Some(&json!({})))];
        assert_eq!(updates(&cleared, &[], &mut memo).len(), 1, "a status someone else changed is written again");
    }
}
