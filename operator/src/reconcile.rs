//! The reconcile loop: after a burst of changes settles, one pass translates a snapshot of the
//! cache, publishes each instance's bundle and writes the statuses that changed. Gateway reports
//! alone (a gateway loaded a version, or stopped renewing) only recompute statuses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apigw_core::bundle::Bundle;
use apigw_core::config::{GatewayConfig, GroupConfig};
use apigw_core::resources::{Api, ApiGroup, App, Plugin, Protocol, RoutingPlugin, VpcAccess};
use apigw_core::translate::{ObjectRef, Problem, Snapshot, keep_last_good, members, referenced_secrets, translate};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::object::HasStatus;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::cache::{Cache, Changes};
use crate::gateways::loaded_versions;
use crate::metrics::{Metrics, ResultLabels};
use crate::publish::Publisher;
use crate::status::{self, Facts, Programmed, Update};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// A burst of changes is over once none arrived for this long...
const QUIET: Duration = Duration::from_millis(100);
/// ...or once it has lasted this long (a steady stream of changes still gets published).
const MAX_DELAY: Duration = Duration::from_secs(1);
/// Statuses are recomputed at least this often (gateway Leases expire without an event).
const RESYNC: Duration = Duration::from_secs(5);
/// Wait before retrying a pass that failed.
const RETRY: Duration = Duration::from_secs(1);

/// The result of the last translation pass.
struct Pass {
    /// The generation of every object translated.
    generations: HashMap<ObjectRef, Option<i64>>,
    problems: Vec<Problem>,
    /// What each instance serves (with last good Apis).
    configs: BTreeMap<String, GatewayConfig>,
    /// Objects each instance serves.
    members: BTreeMap<String, BTreeSet<ObjectRef>>,
    /// Refused Apis served at their last good version.
    kept: BTreeSet<ObjectRef>,
}

/// The operator's state between passes.
pub struct Reconciler {
    client: Client,
    cache: Cache,
    publisher: Publisher,
    metrics: Arc<Metrics>,
    /// The config version that first contained each object's generation, per instance.
    contained: HashMap<(ObjectRef, String), (Option<i64>, u64)>,
    last: Option<Pass>,
}

impl Reconciler {
    /// A reconciler writing into `config_namespace`; what it publishes names `owner`.
    pub fn new(
        client: Client,
        cache: Cache,
        config_namespace: &str,
        metrics: Arc<Metrics>,
        owner: Option<OwnerReference>,
    ) -> Self {
        let publisher = Publisher::new(client.clone(), config_namespace, cache.config_maps.clone(), owner);
        Self { client, cache, publisher, metrics, contained: HashMap::new(), last: None }
    }

    /// Reconciles until `leading` turns false.
    pub async fn run(mut self, changes: Arc<Changes>, mut leading: watch::Receiver<bool>) {
        let mut resync = tokio::time::interval(RESYNC);
        let mut inputs_changed = true;
        loop {
            if inputs_changed {
                settle(&changes).await;
            }
            if !*leading.borrow_and_update() {
                return;
            }
            changes.take_pending();
            self.metrics.queue_depth.set(0);
            let started = Instant::now();
            let result = self.pass(inputs_changed || self.last.is_none()).await;
            self.metrics.reconcile_seconds.observe(started.elapsed().as_secs_f64());
            let failed = match result {
                Ok(()) => false,
                Err(error) => {
                    tracing::warn!(%error, "reconcile failed; retrying");
                    true
                }
            };
            let result = if failed { "error" } else { "ok" };
            self.metrics.reconciles.get_or_create(&ResultLabels { result }).inc();
            if failed {
                tokio::time::sleep(RETRY).await;
                inputs_changed = true;
                continue;
            }
            inputs_changed = tokio::select! {
                _ = changes.inputs.notified() => true,
                _ = changes.reports.notified() => false,
                _ = resync.tick() => false,
                _ = leading.changed() => return,
            };
        }
    }

    /// One pass: translate and publish when `inputs_changed`, then statuses.
    async fn pass(&mut self, inputs_changed: bool) -> Result<(), kube::Error> {
        if inputs_changed {
            self.translate_and_publish().await?;
        }
        let Some(pass) = &self.last else { return Ok(()) };
        let served = loaded_versions(&self.cache.gateway_leases.state(), jiff::Timestamp::now());
        let failed = self.write_statuses(pass, &served).await;
        if failed > 0 {
            tracing::warn!(failed, "some status writes failed; the next pass retries them");
        }
        Ok(())
    }

    async fn translate_and_publish(&mut self) -> Result<(), kube::Error> {
        let snapshot = self.cache.snapshot();
        let translation = translate(&snapshot);
        self.metrics.problems.set(translation.problems.len() as i64);
        let refused: BTreeSet<&ObjectRef> = translation.problems.iter().map(|problem| &problem.object).collect();
        let generations = generations(&snapshot);
        let (mut configs, mut instance_members, mut kept) = (BTreeMap::new(), BTreeMap::new(), BTreeSet::new());
        for (instance, config) in &translation.configs {
            let mut config = config.clone();
            let previous = self.last.as_ref().and_then(|last| last.configs.get(instance).cloned());
            if let Some(previous) = previous.or_else(|| self.publisher.published_config(instance)) {
                kept.extend(keep_last_good(&previous, &mut config, &refused, &snapshot));
            }
            let bundle = Bundle { secrets: referenced_secrets(&config, &snapshot), config };
            let version = self.publisher.publish(instance, &bundle, &self.metrics).await?;
            let served = members(&bundle.config);
            for object in &served {
                let generation = generations.get(object).copied().flatten();
                let entry = self.contained.entry((object.clone(), instance.clone())).or_insert((generation, version));
                if entry.0 != generation && !kept.contains(object) {
                    *entry = (generation, version);
                }
            }
            instance_members.insert(instance.clone(), served);
            configs.insert(instance.clone(), bundle.config);
        }
        for instance in self.publisher.instances() {
            if !translation.configs.contains_key(&instance) {
                self.publisher.remove(&instance, &self.metrics).await?;
            }
        }
        self.contained.retain(|(object, instance), _| {
            instance_members.get(instance).is_some_and(|members| members.contains(object))
        });
        self.last =
            Some(Pass { generations, problems: translation.problems, configs, members: instance_members, kept });
        Ok(())
    }

    /// Writes every status that differs from what it should be; returns how many writes failed.
    async fn write_statuses(&self, pass: &Pass, served: &HashMap<String, Vec<u64>>) -> usize {
        let now = Time(jiff::Timestamp::now());
        let problems = problems_by_object(&pass.problems);
        let context = StatusContext { pass, served, contained: &self.contained, problems: &problems, now: &now };
        // Statuses compare with the objects as they are now (the pass's snapshot predates the
        // last status writes); objects changed since the pass wait for the next one.
        let snapshot = &self.cache.resources();
        let client = &self.client;
        let metrics = &self.metrics;
        let results = futures::join!(
            status::write::<ApiGroup>(client, context.updates(&snapshot.groups, group_extra), metrics),
            status::write::<Api>(client, context.updates(&snapshot.apis, api_extra), metrics),
            status::write::<RoutingPlugin>(client, context.updates(&snapshot.routing_plugins, no_extra), metrics),
            status::write::<Plugin>(client, context.updates(&snapshot.plugins, plugin_extra), metrics),
            status::write::<VpcAccess>(client, context.updates(&snapshot.vpc_accesses, vpc_access_extra), metrics),
            status::write::<App>(client, context.updates(&snapshot.apps, no_extra), metrics),
        );
        results.0 + results.1 + results.2 + results.3 + results.4 + results.5
    }
}

/// Waits until a burst of input changes settles.
async fn settle(changes: &Changes) {
    let started = Instant::now();
    while started.elapsed() < MAX_DELAY {
        if tokio::time::timeout(QUIET, changes.inputs.notified()).await.is_err() {
            return;
        }
    }
}

/// What statuses are computed from.
struct StatusContext<'a> {
    pass: &'a Pass,
    served: &'a HashMap<String, Vec<u64>>,
    contained: &'a HashMap<(ObjectRef, String), (Option<i64>, u64)>,
    problems: &'a HashMap<&'a ObjectRef, Vec<&'a Problem>>,
    now: &'a Time,
}

impl StatusContext<'_> {
    /// The status updates `objects` need; `extra` adds kind-specific fields.
    fn updates<K>(&self, objects: &[K], extra: fn(&K, &Configs) -> Map<String, Value>) -> Vec<Update>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + HasStatus + Clone + DeserializeOwned,
        K::Status: Serialize,
    {
        objects
            .iter()
            .filter_map(|object| {
                let object_ref = apigw_core::translate::object_ref(object);
                if self.pass.generations.get(&object_ref) != Some(&object.meta().generation) {
                    return None;
                }
                let problems = self.problems.get(&object_ref).map(Vec::as_slice).unwrap_or_default();
                let facts = Facts {
                    generation: object.meta().generation,
                    problems,
                    programmed: self.programmed(&object_ref, !problems.is_empty()),
                    extra: extra(object, &self.pass.configs),
                };
                let current = status::current_status(object);
                let desired = status::desired(&facts, &status::conditions_of(&current), self.now);
                (current != desired).then_some(Update { object: object_ref, status: desired })
            })
            .collect()
    }

    fn programmed(&self, object: &ObjectRef, refused: bool) -> Programmed {
        if refused {
            return match self.pass.kept.contains(object) {
                true => Programmed::LastGood,
                false => Programmed::Refused,
            };
        }
        let instances: Vec<&String> = self
            .pass
            .members
            .iter()
            .filter(|(_, members)| members.contains(object))
            .map(|(instance, _)| instance)
            .collect();
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

fn problems_by_object(problems: &[Problem]) -> HashMap<&ObjectRef, Vec<&Problem>> {
    let mut by_object: HashMap<&ObjectRef, Vec<&Problem>> = HashMap::new();
    for problem in problems {
        by_object.entry(&problem.object).or_default().push(problem);
    }
    by_object
}

/// `metadata.generation` of every input object.
fn generations(snapshot: &Snapshot) -> HashMap<ObjectRef, Option<i64>> {
    fn of<K: Resource<DynamicType = ()>>(objects: &[K]) -> impl Iterator<Item = (ObjectRef, Option<i64>)> + '_ {
        objects.iter().map(|object| (apigw_core::translate::object_ref(object), object.meta().generation))
    }
    of(&snapshot.groups)
        .chain(of(&snapshot.apis))
        .chain(of(&snapshot.routing_plugins))
        .chain(of(&snapshot.plugins))
        .chain(of(&snapshot.vpc_accesses))
        .chain(of(&snapshot.apps))
        .collect()
}

/// What each instance serves.
type Configs = BTreeMap<String, GatewayConfig>;

/// The served group config of `namespace/name`.
fn served_group<'a>(configs: &'a Configs, namespace: &str, name: &str) -> Option<&'a GroupConfig> {
    configs.values().flat_map(|config| &config.groups).find(|group| group.namespace == namespace && group.name == name)
}

fn no_extra<K>(_: &K, _: &Configs) -> Map<String, Value> {
    Map::new()
}

/// ApiGroup: `apiCount` (Apis served) and `internalDomain`.
fn group_extra(group: &ApiGroup, configs: &Configs) -> Map<String, Value> {
    let served = served_group(configs, &group.namespace().unwrap_or_default(), &group.name_any());
    let mut extra = Map::new();
    extra.insert("apiCount".to_owned(), json!(served.map_or(0, |group| group.apis.len())));
    if let Some(domain) = served.and_then(|group| group.internal_host.as_ref()) {
        extra.insert("internalDomain".to_owned(), json!(domain));
    }
    extra
}

/// Api: the `url` clients call.
fn api_extra(api: &Api, configs: &Configs) -> Map<String, Value> {
    let mut extra = Map::new();
    let namespace = api.namespace().unwrap_or_default();
    let Some(group) = served_group(configs, &namespace, &api.spec.group_ref) else { return extra };
    let Some(served) = group.apis.iter().find(|served| served.name == api.name_any()) else { return extra };
    let host = group.hosts.first().or(group.internal_host.as_ref());
    if let Some(host) = host {
        let scheme = if served.protocols.contains(&Protocol::Http) { "http" } else { "https" };
        extra.insert("url".to_owned(), json!(format!("{scheme}://{host}{}", served.path)));
    }
    extra
}

/// VpcAccess: `readyEndpoints`, the endpoints the gateways send to (1 for an address), where an
/// Api serves it.
fn vpc_access_extra(access: &VpcAccess, configs: &Configs) -> Map<String, Value> {
    let key = format!("{}/{}", access.namespace().unwrap_or_default(), access.name_any());
    let mut extra = Map::new();
    if let Some(upstream) = configs.values().find_map(|config| config.upstreams.get(&key)) {
        extra.insert("readyEndpoints".to_owned(), json!(upstream.endpoints.len()));
    }
    extra
}

/// Plugin: `pluginType`.
fn plugin_extra(plugin: &Plugin, _: &Configs) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(kind) = plugin.spec.type_name() {
        extra.insert("pluginType".to_owned(), json!(kind));
    }
    extra
}
