//! The App kind: a caller identity.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{CommonStatus, LocalObjectRef, StageName};

/// A caller of APIs, with credentials and the APIs it may call.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[kube(
    group = "apigw.io",
    version = "v1alpha1",
    kind = "App",
    namespaced,
    status = "CommonStatus",
    shortname = "gwapp",
    category = "apigw",
    doc = "An App: a caller identity (AppKey/AppSecret/AppCode in a Secret) and the APIs it is authorized to call.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Programmed\")].status",
        description = "Whether gateways know this App"
    ),
    printcolumn(
        name = "AppId",
        type_ = "integer",
        json_path = ".spec.appId",
        description = "The appId conditions see as $CaAppId"
    ),
    printcolumn(
        name = "Secret",
        type_ = "string",
        json_path = ".spec.credentialsSecretRef.name",
        description = "Credentials Secret"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct AppSpec {
    /// The App's number, seen by conditions as `$CaAppId`.
    #[schemars(range(min = 1))]
    pub app_id: i64,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A Secret (same namespace) with keys `appKey`, `appSecret` and optionally `appCode`.
    pub credentials_secret_ref: LocalObjectRef,
    /// The APIs this App may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub authorizations: Vec<Authorization>,
}

/// Permission to call one Api, or every Api of a group.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.apiRef) != has(self.groupRef)").message("set exactly one of apiRef or groupRef"))]
pub struct Authorization {
    /// An Api in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub api_ref: Option<String>,
    /// An ApiGroup in the same namespace: every Api of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub group_ref: Option<String>,
    /// Stages covered; empty covers every stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub stages: Vec<StageName>,
    /// When the permission ends (RFC 3339); absent means never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
}
