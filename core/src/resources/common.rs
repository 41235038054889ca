//! Types shared by several kinds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to an object of a known kind in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, KubeSchema)]
pub struct LocalObjectRef {
    /// Name of the referenced object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A stage name such as RELEASE, PRE or TEST; clients choose one with `X-Ca-Stage`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct StageName(#[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]{0,31}$"))] pub String);

/// Where a plugin parameter comes from: `Method`, `Path`, `StatusCode`, `ErrorCode`, or
/// `Location:name` with Location one of Query, Header, Form, Path, Parameter, BodyJson,
/// BodyJsonField, Token, System, XFF, Host (case-insensitive, as Alibaba accepts `path:userId`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct ParameterSource(
    #[schemars(regex(
        pattern = r"^(?i)(method|path|statuscode|errorcode|(query|header|form|path|parameter|bodyjson|bodyjsonfield|token|system|xff|host):.{1,256})$"
    ))]
    pub String,
);

/// The status every kind reports: which generation was observed, and the standard conditions.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The `metadata.generation` the conditions were computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Accepted (the spec is valid), ResolvedRefs (every reference was found and allowed),
    /// Programmed (every ready gateway of its instance has loaded it; the message counts them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
