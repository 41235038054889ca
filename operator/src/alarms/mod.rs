//! Alarms as code: the alarms of ApiGroups and Apis rendered as prometheus-operator
//! PrometheusRules ([`rules`]), applied when the cluster serves that kind, and what each alarmed
//! object's `AlarmsReady` condition says.

mod rules;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use apigw_core::bundle::MANAGER;
use apigw_core::resources::{Api, ApiGroup};
use apigw_core::translate::ObjectRef;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, pinned_kind};
use kube::{Client, ResourceExt};
use serde_json::Value;

pub use rules::{GROUP_LABEL, GroupRules, group_rules};

/// What an alarmed object's `AlarmsReady` condition says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmState {
    /// Its alarms are in the PrometheusRule of this name (its group's).
    Rendered(String),
    /// The cluster serves no `monitoring.coreos.com/v1` PrometheusRule.
    NoPrometheusOperator,
    /// Writing the PrometheusRule failed (the API server's message).
    Failed(String),
}

/// Writes the PrometheusRules the alarms call for and deletes those no longer called for.
pub struct AlarmWriter {
    client: Client,
    /// The namespace watched (`None`: all).
    namespace: Option<String>,
    /// Labels every PrometheusRule gets (for a Prometheus's `ruleSelector`).
    labels: BTreeMap<String, String>,
    /// What was applied, by (namespace, name); `None` until the existing ones were listed.
    applied: Option<HashMap<(String, String), Value>>,
    /// The PrometheusRule kind, once discovered (looked up again while it is not served).
    resource: Option<ApiResource>,
}

impl AlarmWriter {
    /// A writer in `namespace` (all when `None`) labelling its objects with `labels`.
    pub fn new(client: Client, namespace: Option<String>, labels: BTreeMap<String, String>) -> Self {
        Self { client, namespace, labels, applied: None, resource: None }
    }

    /// Applies the PrometheusRules of `groups` and `apis`; returns each alarmed object's state.
    /// Without the prometheus-operator CRDs nothing is written and every alarmed object says so.
    pub async fn sync(&mut self, groups: &[Arc<ApiGroup>], apis: &[Arc<Api>]) -> HashMap<ObjectRef, AlarmState> {
        let wanted = group_rules(groups, apis, &self.labels);
        if wanted.is_empty() && self.applied.as_ref().is_some_and(HashMap::is_empty) {
            return HashMap::new();
        }
        if self.resource.is_none() {
            let kind = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PrometheusRule");
            self.resource = pinned_kind(&self.client, &kind).await.ok().map(|(resource, _)| resource);
        }
        let Some(resource) = self.resource.clone() else {
            self.applied = None;
            return states(&wanted, |_| AlarmState::NoPrometheusOperator);
        };
        let mut applied = match self.applied.take() {
            Some(applied) => applied,
            None => self.existing(&resource).await,
        };
        let mut results = HashMap::new();
        for rule in &wanted {
            let key = (rule.namespace.clone(), rule.name.clone());
            if applied.get(&key) == Some(&rule.manifest) {
                results.insert(key, AlarmState::Rendered(rule.name.clone()));
                continue;
            }
            let api: kube::Api<DynamicObject> =
                kube::Api::namespaced_with(self.client.clone(), &rule.namespace, &resource);
            let state = match api
                .patch(&rule.name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&rule.manifest))
                .await
            {
                Ok(_) => {
                    applied.insert(key.clone(), rule.manifest.clone());
                    AlarmState::Rendered(rule.name.clone())
                }
                Err(error) => {
                    if matches!(&error, kube::Error::Api(status) if status.code == 404) {
                        self.resource = None;
                    }
                    tracing::warn!(%error, namespace = rule.namespace, name = rule.name, "writing a PrometheusRule");
                    AlarmState::Failed(error.to_string())
                }
            };
            results.insert(key, state);
        }
        let stale: Vec<(String, String)> = applied.keys().filter(|key| !results.contains_key(*key)).cloned().collect();
        for (namespace, name) in stale {
            let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(self.client.clone(), &namespace, &resource);
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    applied.remove(&(namespace, name));
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    applied.remove(&(namespace, name));
                }
                Err(error) => tracing::warn!(%error, namespace, name, "deleting a PrometheusRule no alarm calls for"),
            }
        }
        self.applied = Some(applied);
        states(&wanted, |rule| results[&(rule.namespace.clone(), rule.name.clone())].clone())
    }

    /// The PrometheusRules a previous run wrote (so that those no longer called for are deleted).
    async fn existing(&self, resource: &ApiResource) -> HashMap<(String, String), Value> {
        let api: kube::Api<DynamicObject> = match &self.namespace {
            Some(namespace) => kube::Api::namespaced_with(self.client.clone(), namespace, resource),
            None => kube::Api::all_with(self.client.clone(), resource),
        };
        let selector = format!("app.kubernetes.io/managed-by={MANAGER},{GROUP_LABEL}");
        match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list
                .items
                .iter()
                .map(|object| ((object.namespace().unwrap_or_default(), object.name_any()), Value::Null))
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "listing the PrometheusRules written before");
                HashMap::new()
            }
        }
    }
}

/// The state of every object `wanted` alarms on, `state` giving each rule object's.
fn states(wanted: &[GroupRules], state: impl Fn(&GroupRules) -> AlarmState) -> HashMap<ObjectRef, AlarmState> {
    wanted
        .iter()
        .flat_map(|rule| {
            let state = state(rule);
            rule.alarmed.iter().map(move |object| (object.clone(), state.clone()))
        })
        .collect()
}
