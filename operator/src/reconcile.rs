//! The reconcile loop: after a burst of changes settles, one pass translates a snapshot of the
//! cache, publishes each instance's bundle and writes the statuses that changed. Gateway reports
//! alone (a gateway loaded a version, or stopped renewing) only recompute statuses.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apigw_core::bundle::{Bundle, Digests};
use apigw_core::config::GatewayConfig;
use apigw_core::resources::{Api, ApiGroup, App, Plugin, RoutingPlugin, VpcAccess};
use apigw_core::translate::{
    ObjectRef, Problem, Reuse, Snapshot, Translation, keep_last_good, members, referenced_secrets, translate_reusing,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Client, Resource};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Status, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;
use tokio::sync::watch;

use crate::alarms::{AlarmState, AlarmWriter};
use crate::cache::{Cache, Changes};
use crate::facts::{
    Contained, ServedConfigs, StatusContext, StatusMemo, api_extra, group_extra, no_extra, plugin_extra,
    problems_by_object, vpc_access_extra,
};
use crate::gateways::loaded_versions;
use crate::metrics::{Metrics, ResultLabels};
use crate::publish::Publisher;
use crate::status;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// A lone change is published once no other arrived for this long...
const LONE_QUIET: Duration = Duration::from_millis(20);
/// ...a burst of changes once none arrived for this long (fewer passes, fewer writes)...
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
    members: BTreeMap<String, HashSet<ObjectRef>>,
    /// Refused Apis served at their last good version.
    kept: BTreeSet<ObjectRef>,
    /// The digests of each instance's encoded config (the next pass serializes only what
    /// differs from it).
    digests: BTreeMap<String, Digests>,
}

/// Where the alarms of each alarmed object are, as of the last sync.
type Alarms = HashMap<ObjectRef, AlarmState>;

/// The operator's state between passes.
pub struct Reconciler {
    client: Client,
    cache: Cache,
    publisher: Publisher,
    /// Each instance's newest published version and when it was published.
    published: HashMap<String, (u64, Instant)>,
    alarm_writer: AlarmWriter,
    alarms: Alarms,
    /// A span per pass, when tracing is on.
    tracer: Option<SdkTracer>,
    metrics: Arc<Metrics>,
    /// The config version that first contained each object's generation, per instance.
    contained: Contained,
    /// The statuses found settled by the last pass.
    memo: StatusMemo,
    /// When statuses were last computed and written to the end.
    statuses_done: Instant,
    /// The last pass's Api translations, which the next reuses while their inputs stay.
    translations: Reuse,
    last: Option<Pass>,
}

impl Reconciler {
    /// A reconciler writing into `config_namespace`; what it publishes names `owner`; alarms
    /// become PrometheusRules through `alarm_writer`.
    pub fn new(
        client: Client,
        cache: Cache,
        config_namespace: &str,
        metrics: Arc<Metrics>,
        owner: Option<OwnerReference>,
        alarm_writer: AlarmWriter,
    ) -> Self {
        let publisher = Publisher::new(client.clone(), config_namespace, cache.config_maps.clone(), owner);
        let (contained, alarms, published) = (HashMap::new(), HashMap::new(), HashMap::new());
        let (memo, tracer, last) = (StatusMemo::default(), None, None);
        let statuses_done = Instant::now();
        let translations = Reuse::default();
        Self {
            client,
            cache,
            publisher,
            published,
            alarm_writer,
            alarms,
            tracer,
            metrics,
            contained,
            memo,
            statuses_done,
            translations,
            last,
        }
    }

    /// Records a span of every pass with `tracer`.
    pub fn with_tracer(mut self, tracer: Option<SdkTracer>) -> Self {
        self.tracer = tracer;
        self
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
            let span = self.tracer.as_ref().map(|tracer| tracer.start("reconcile"));
            let translated = inputs_changed || self.last.is_none();
            let result = self.pass(translated, &changes).await;
            let seconds = started.elapsed().as_secs_f64();
            self.metrics.reconcile_seconds.observe(seconds);
            tracing::debug!(seconds, translated, "reconcile pass");
            if let Some(span) = span {
                self.end_span(span, translated, &result);
            }
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

    /// Ends a pass's span with what it did.
    fn end_span(&self, mut span: opentelemetry_sdk::trace::Span, translated: bool, result: &Result<(), kube::Error>) {
        span.set_attribute(KeyValue::new("apigw.translated", translated));
        if let Some(last) = &self.last {
            span.set_attribute(KeyValue::new("apigw.problems", last.problems.len() as i64));
            span.set_attribute(KeyValue::new("apigw.instances", last.configs.len() as i64));
        }
        if let Err(error) = result {
            span.set_status(Status::error(error.to_string()));
        }
        span.end();
    }

    /// One pass: translate and publish when `inputs_changed`, then statuses (left for the next
    /// pass when an input changes meanwhile, unless statuses were last done [`MAX_DELAY`] ago:
    /// at 20,000 Apis computing them takes 0.1 s, which a change would otherwise wait for).
    async fn pass(&mut self, inputs_changed: bool, changes: &Changes) -> Result<(), kube::Error> {
        if inputs_changed {
            self.translate_and_publish().await?;
        }
        // The CRDs may arrive after the alarms, and a write may fail: try again every pass.
        if !inputs_changed && self.alarms.values().any(|state| !matches!(state, AlarmState::Rendered(_))) {
            let resources = self.cache.resources();
            self.alarms = self.alarm_writer.sync(&resources.groups, &resources.apis).await;
        }
        let Some(pass) = &self.last else { return Ok(()) };
        let served = loaded_versions(&self.cache.gateway_leases.state(), jiff::Timestamp::now());
        let mut memo = std::mem::take(&mut self.memo);
        let started = Instant::now();
        let may_yield = self.statuses_done.elapsed() < MAX_DELAY;
        let interrupted = || may_yield && changes.pending() > 0;
        match self.write_statuses(pass, &served, &mut memo, &interrupted).await {
            Some(failed) => {
                phase_done("statuses", started);
                memo.finish_pass();
                self.statuses_done = Instant::now();
                if failed > 0 {
                    tracing::warn!(failed, "some status writes failed; the next pass retries them");
                }
            }
            None => {
                phase_done("statuses interrupted", started);
                memo.abandon_pass();
            }
        }
        self.memo = memo;
        Ok(())
    }

    async fn translate_and_publish(&mut self) -> Result<(), kube::Error> {
        let started = Instant::now();
        let snapshot = self.cache.snapshot();
        let Translation { configs: translated, problems } = translate_reusing(&snapshot, &mut self.translations);
        phase_done("translate", started);
        self.metrics.problems.set(problems.len() as i64);
        let refused: BTreeSet<&ObjectRef> = problems.iter().map(|problem| &problem.object).collect();
        let generations = generations(&snapshot);
        let instances: BTreeSet<String> = translated.keys().cloned().collect();
        let (mut configs, mut instance_members, mut kept) = (BTreeMap::new(), BTreeMap::new(), BTreeSet::new());
        let mut digests = BTreeMap::new();
        // Each config is moved, not copied: at 20,000 Apis a copy took 0.1 s of a pass.
        for (instance, mut config) in translated {
            // The last pass's config (borrowed, not copied), else the one published before.
            let decoded;
            let previous = match self.last.as_ref().and_then(|last| last.configs.get(&instance)) {
                Some(previous) => Some(previous),
                None => {
                    decoded = self.publisher.published_config(&instance);
                    decoded.as_ref()
                }
            };
            if let Some(previous) = previous {
                kept.extend(keep_last_good(previous, &mut config, &refused, &snapshot));
            }
            let bundle = Bundle { secrets: referenced_secrets(&config, &snapshot), config };
            let encoded_before = self.last.as_ref().and_then(|last| {
                let config = last.configs.get(&instance)?;
                Some((config, last.digests.get(&instance)?))
            });
            let (version, encoded) = self.publisher.publish(&instance, &bundle, encoded_before, &self.metrics).await?;
            digests.insert(instance.clone(), encoded);
            if self.published.get(&instance).is_none_or(|(newest, _)| *newest != version) {
                self.published.insert(instance.clone(), (version, Instant::now()));
            }
            let served = members(&bundle.config);
            let contained = self.contained.entry(instance.clone()).or_default();
            contained.retain(|object, _| served.contains(object));
            for object in &served {
                let generation = generations.get(object).copied().flatten();
                if let Some(entry) = contained.get_mut(object) {
                    if entry.0 != generation && !kept.contains(object) {
                        *entry = (generation, version);
                    }
                } else {
                    contained.insert(object.clone(), (generation, version));
                }
            }
            instance_members.insert(instance.clone(), served);
            configs.insert(instance.clone(), bundle.config);
        }
        for instance in self.publisher.instances() {
            if !instances.contains(&instance) {
                self.publisher.remove(&instance, &self.metrics).await?;
            }
        }
        phase_done("publish", started);
        self.alarms = self.alarm_writer.sync(&snapshot.groups, &snapshot.apis).await;
        phase_done("alarms", started);
        self.contained.retain(|instance, _| instance_members.contains_key(instance));
        self.last = Some(Pass { generations, problems, configs, members: instance_members, kept, digests });
        Ok(())
    }

    /// Writes every status that differs from what it should be (`memo`: the statuses found
    /// settled); returns how many writes failed, or `None` when `interrupted` before writing.
    async fn write_statuses(
        &self,
        pass: &Pass,
        served: &HashMap<String, Vec<u64>>,
        memo: &mut StatusMemo,
        interrupted: &dyn Fn() -> bool,
    ) -> Option<usize> {
        let now = Time(jiff::Timestamp::now());
        let problems = problems_by_object(&pass.problems);
        let configs = ServedConfigs::new(&pass.configs);
        let context = StatusContext {
            generations: &pass.generations,
            configs: &configs,
            members: &pass.members,
            kept: &pass.kept,
            served,
            contained: &self.contained,
            published: &self.published,
            problems: &problems,
            alarms: &self.alarms,
            now: &now,
            interrupted,
        };
        let started = Instant::now();
        // Statuses compare with the objects as they are now (the pass's snapshot predates the
        // last status writes); objects changed since the pass wait for the next one.
        let snapshot = &self.cache.resources();
        let groups = context.updates(&snapshot.groups, group_extra, memo)?;
        let apis = context.updates(&snapshot.apis, api_extra, memo)?;
        let routing_plugins = context.updates(&snapshot.routing_plugins, no_extra, memo)?;
        let plugins = context.updates(&snapshot.plugins, plugin_extra, memo)?;
        let vpc_accesses = context.updates(&snapshot.vpc_accesses, vpc_access_extra, memo)?;
        let apps = context.updates(&snapshot.apps, no_extra, memo)?;
        phase_done("statuses computed", started);
        let (client, metrics) = (&self.client, &self.metrics);
        let results = futures::join!(
            status::write::<ApiGroup>(client, groups, metrics),
            status::write::<Api>(client, apis, metrics),
            status::write::<RoutingPlugin>(client, routing_plugins, metrics),
            status::write::<Plugin>(client, plugins, metrics),
            status::write::<VpcAccess>(client, vpc_accesses, metrics),
            status::write::<App>(client, apps, metrics),
        );
        Some(results.0 + results.1 + results.2 + results.3 + results.4 + results.5)
    }
}

/// Logs (at debug) that a phase of a pass ended, with the milliseconds since `started` (the
/// pass's or its status step's start: the phases of a pass add up).
fn phase_done(phase: &'static str, started: Instant) {
    tracing::debug!(phase, ms = started.elapsed().as_secs_f64() * 1e3, "reconcile phase done");
}

/// Waits until input changes settle: [`LONE_QUIET`] after a lone change, [`QUIET`] once a
/// second one shows it is a burst.
async fn settle(changes: &Changes) {
    let started = Instant::now();
    let mut quiet = LONE_QUIET;
    while started.elapsed() < MAX_DELAY {
        if tokio::time::timeout(quiet, changes.inputs.notified()).await.is_err() {
            return;
        }
        quiet = QUIET;
    }
}

/// `metadata.generation` of every input object.
fn generations(snapshot: &Snapshot) -> HashMap<ObjectRef, Option<i64>> {
    fn of<K: Resource<DynamicType = ()>>(objects: &[Arc<K>]) -> impl Iterator<Item = (ObjectRef, Option<i64>)> + '_ {
        objects.iter().map(|object| (apigw_core::translate::object_ref(&**object), object.meta().generation))
    }
    of(&snapshot.groups)
        .chain(of(&snapshot.apis))
        .chain(of(&snapshot.routing_plugins))
        .chain(of(&snapshot.plugins))
        .chain(of(&snapshot.vpc_accesses))
        .chain(of(&snapshot.apps))
        .collect()
}
