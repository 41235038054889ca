//! The ApiGroup kind: a set of APIs served under the same domains.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::api::PluginRef;
use super::common::{CommonStatus, LocalObjectRef};

/// A set of APIs served under the same domains.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[kube(
    group = "apigw.io",
    version = "v1alpha1",
    kind = "ApiGroup",
    namespaced,
    status = "ApiGroupStatus",
    shortname = "apig",
    category = "apigw",
    doc = "An API group: APIs served under the same domains by one gateway instance, with stages and their variables.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Programmed\")].status",
        description = "Whether a gateway serves this group"
    ),
    printcolumn(name = "Instance", type_ = "string", json_path = ".spec.instance", description = "Gateway instance"),
    printcolumn(
        name = "Domains",
        type_ = "string",
        json_path = ".spec.domains[*].host",
        description = "Public host names"
    ),
    printcolumn(name = "APIs", type_ = "integer", json_path = ".status.apiCount", description = "Number of APIs"),
    printcolumn(
        name = "Internal",
        type_ = "string",
        json_path = ".status.internalDomain",
        description = "Self-invocation domain",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroupSpec {
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The gateway instance serving this group (gateway pods run with `--instance NAME`).
    #[serde(default = "default_instance")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"))]
    pub instance: String,
    /// Public host names: exact (`shop.example.com`) or one leading wildcard (`*.example.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["host"]))]
    pub domains: Vec<Domain>,
    /// Serve the group on its self-invocation domain `<name>.<namespace>.apigw.internal` on the
    /// gateway's internal listener (published in `status.internalDomain`).
    #[serde(default)]
    pub internal_domain: bool,
    /// A path prefix for every API of the group, starting with `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("basePath must start with /"))]
    #[schemars(length(max = 1024))]
    pub base_path: Option<String>,
    /// Stages and their variables, used in backend addresses as `#name#`.
    /// Stage names are upper-case (RELEASE, PRE, TEST); the operator reports other names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub stages: BTreeMap<String, Stage>,
    /// Plugins bound to every API of the group (an Api's own binding of the same kind wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub plugins: Vec<PluginRef>,
    /// Alarms on every API of the group, each Api on its own (rendered as PrometheusRules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub alarms: Vec<super::alarm::Alarm>,
}

fn default_instance() -> String {
    "default".to_owned()
}

/// A public host name of a group.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    /// Host name, exact or with one leading wildcard label (`*.example.com`).
    #[schemars(regex(
        pattern = r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    ))]
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// A `kubernetes.io/tls` Secret (same namespace) served for this host by SNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_ref: Option<LocalObjectRef>,
}

/// A stage of a group.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Variables of this stage, replacing `#name#` in backend addresses.
    /// Names are letters, digits and `_`; the operator reports other names.
    #[serde(default)]
    #[schemars(extend("maxProperties" = 128))]
    pub variables: BTreeMap<String, String>,
}

/// What the operator reports about an ApiGroup.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroupStatus {
    /// The self-invocation domain, when `spec.internalDomain` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_domain: Option<String>,
    /// How many Apis belong to the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_count: Option<u32>,
    /// Generation and conditions (Accepted, Programmed).
    #[serde(flatten)]
    pub common: CommonStatus,
}
