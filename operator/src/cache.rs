//! The operator's view of the cluster: one reflector per watched kind, each reporting changes.
//!
//! Watched: the six apigw kinds, Secrets (without service-account tokens, Helm releases and the
//! operator's own), Services and EndpointSlices cluster-wide; in the config namespace, the
//! operator's ConfigMaps and the gateways' Leases. managedFields and the last-applied annotation
//! are dropped on arrival: they are the largest part of most objects and never read.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use apigw_core::bundle::{COMPONENT_LABEL, GATEWAY_COMPONENT, MANAGED_BY_LABEL, MANAGER};
use apigw_core::resources::{Api, ApiGroup, App, Plugin, RoutingPlugin, VpcAccess};
use apigw_core::translate::Snapshot;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher::watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// Stores of every watched kind.
#[derive(Clone)]
pub struct Cache {
    groups: Store<ApiGroup>,
    apis: Store<Api>,
    routing_plugins: Store<RoutingPlugin>,
    vpc_accesses: Store<VpcAccess>,
    apps: Store<App>,
    plugins: Store<Plugin>,
    secrets: Store<Secret>,
    services: Store<Service>,
    endpoint_slices: Store<EndpointSlice>,
    /// The operator's ConfigMaps in the config namespace.
    pub config_maps: Store<ConfigMap>,
    /// Gateway reports in the config namespace.
    pub gateway_leases: Store<Lease>,
}

/// What woke the reconciler.
#[derive(Default)]
pub struct Changes {
    /// A custom resource or something it references changed: translate again.
    pub inputs: Notify,
    /// Only a gateway report changed: statuses may change.
    pub reports: Notify,
    /// Input events since the last pass began.
    pending: AtomicUsize,
}

impl Changes {
    /// Input events since the last call.
    pub fn take_pending(&self) -> usize {
        self.pending.swap(0, Ordering::Relaxed)
    }

    /// Input events since the last [`Changes::take_pending`].
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

impl Cache {
    /// Starts every reflector (of inputs in `watch_namespace` only, when given); `changes` is
    /// notified of every event after the initial lists.
    pub fn start(
        client: &Client,
        watch_namespace: Option<&str>,
        config_namespace: &str,
        changes: Arc<Changes>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let all = watcher::Config::default();
        let not_ours = format!("{MANAGED_BY_LABEL}!={MANAGER}");
        let user_secrets =
            all.clone().fields("type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1").labels(&not_ours);
        let ours = all.clone().labels(&format!("{MANAGED_BY_LABEL}={MANAGER}"));
        let gateways = all.clone().labels(&format!("{COMPONENT_LABEL}={GATEWAY_COMPONENT}"));
        let watch = |kind, role| Watch { changes: changes.clone(), metrics: metrics.clone(), kind, role };
        let input = |kind| watch(kind, Role::Spec);
        let reference = |kind| watch(kind, Role::Reference);
        let report = |kind| watch(kind, Role::Report);
        let output = |kind| watch(kind, Role::Output);
        Self {
            groups: input("ApiGroup").start(inputs(client, watch_namespace), all.clone()),
            apis: input("Api").start(inputs(client, watch_namespace), all.clone()),
            routing_plugins: input("RoutingPlugin").start(inputs(client, watch_namespace), all.clone()),
            vpc_accesses: input("VpcAccess").start(inputs(client, watch_namespace), all.clone()),
            apps: input("App").start(inputs(client, watch_namespace), all.clone()),
            plugins: input("Plugin").start(inputs(client, watch_namespace), all.clone()),
            secrets: reference("Secret").start(inputs(client, watch_namespace), user_secrets),
            services: reference("Service").start(inputs(client, watch_namespace), all.clone()),
            endpoint_slices: reference("EndpointSlice").start(inputs(client, watch_namespace), all),
            config_maps: output("ConfigMap").start(kube::Api::namespaced(client.clone(), config_namespace), ours),
            gateway_leases: report("Lease").start(kube::Api::namespaced(client.clone(), config_namespace), gateways),
        }
    }

    /// Waits until every reflector has listed once.
    pub async fn wait_until_ready(&self) {
        let _ = futures::join!(
            self.groups.wait_until_ready(),
            self.apis.wait_until_ready(),
            self.routing_plugins.wait_until_ready(),
            self.vpc_accesses.wait_until_ready(),
            self.apps.wait_until_ready(),
            self.plugins.wait_until_ready(),
            self.secrets.wait_until_ready(),
            self.services.wait_until_ready(),
            self.endpoint_slices.wait_until_ready(),
            self.config_maps.wait_until_ready(),
            self.gateway_leases.wait_until_ready(),
        );
    }

    /// A copy of every input object, for one translation pass.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            secrets: copy(&self.secrets),
            services: copy(&self.services),
            endpoint_slices: copy(&self.endpoint_slices),
            ..self.resources()
        }
    }

    /// A copy of the objects of the six apigw kinds only (what statuses are written to).
    pub fn resources(&self) -> Snapshot {
        Snapshot {
            groups: copy(&self.groups),
            apis: copy(&self.apis),
            routing_plugins: copy(&self.routing_plugins),
            vpc_accesses: copy(&self.vpc_accesses),
            apps: copy(&self.apps),
            plugins: copy(&self.plugins),
            ..Snapshot::default()
        }
    }
}

fn copy<K: Resource + Clone>(store: &Store<K>) -> Vec<Arc<K>>
where
    K::DynamicType: Eq + Hash + Clone,
{
    store.state()
}

/// The API of input kind `K`: in one namespace, or in all.
fn inputs<K>(client: &Client, namespace: Option<&str>) -> kube::Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(namespace) => kube::Api::namespaced(client.clone(), namespace),
        None => kube::Api::all(client.clone()),
    }
}

/// One reflector's wiring: which kind, and whom its events wake.
struct Watch {
    changes: Arc<Changes>,
    metrics: Arc<Metrics>,
    kind: &'static str,
    role: Role,
}

/// What a kind's events mean to the reconciler.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// An apigw kind: only a new generation (a spec change) or a deletion changes the config;
    /// the operator's own status writes do not wake a translation.
    Spec,
    /// A referenced kind (Secret, Service, EndpointSlice): every change counts.
    Reference,
    /// Gateway reports: statuses may change.
    Report,
    /// The operator's own output, watched for the publisher to read back: wakes nothing
    /// (statuses never depend on it; at 20,000 Apis each status pass it woke took 0.15 s).
    Output,
}

impl Watch {
    /// Records an event and wakes the reconciler.
    fn changed(&self, objects: usize) {
        self.metrics.set_objects(self.kind, objects);
        self.metrics.events.get_or_create(&crate::metrics::KindLabels { kind: self.kind }).inc();
        match self.role {
            Role::Spec | Role::Reference => {
                let pending = self.changes.pending.fetch_add(1, Ordering::Relaxed) + 1;
                self.metrics.queue_depth.set(pending as i64);
                self.changes.inputs.notify_one();
            }
            Role::Report => self.changes.reports.notify_one(),
            Role::Output => {}
        }
    }

    /// Spawns the reflector of `api` and returns its store.
    fn start<K>(self, api: kube::Api<K>, config: watcher::Config) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
    {
        let (reader, writer) = reflector::store();
        let stream = watcher(api, config)
            .default_backoff()
            .modify(|object: &mut K| {
                object.managed_fields_mut().clear();
                object.annotations_mut().remove("kubectl.kubernetes.io/last-applied-configuration");
            })
            .reflect(writer);
        let store = reader.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut generations: HashMap<String, Option<i64>> = HashMap::new();
            while let Some(event) = stream.next().await {
                let changed = match &event {
                    Ok(Event::Init) => false,
                    Ok(Event::InitApply(object)) => {
                        generations.insert(object.uid().unwrap_or_default(), object.meta().generation);
                        false
                    }
                    Ok(Event::Apply(object)) => {
                        let previous = generations.insert(object.uid().unwrap_or_default(), object.meta().generation);
                        self.role != Role::Spec || previous != Some(object.meta().generation)
                    }
                    Ok(Event::Delete(object)) => {
                        generations.remove(&object.uid().unwrap_or_default());
                        true
                    }
                    Ok(Event::InitDone) => true,
                    Err(error) => {
                        tracing::warn!(kind = self.kind, %error, "watch failed; retrying with backoff");
                        false
                    }
                };
                if changed {
                    self.changed(store.len());
                }
            }
        });
        reader
    }
}
