//! The RoutingPlugin kind: Alibaba's backend routing plugin.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backend::Backend;
use super::common::{CommonStatus, ParameterSource};

/// Ordered routes over conditions; the first match wins, no match keeps the Api's own backend.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[kube(
    group = "apigw.io",
    version = "v1alpha1",
    kind = "RoutingPlugin",
    namespaced,
    status = "CommonStatus",
    shortname = "rp",
    category = "apigw",
    doc = "A backend routing plugin: ordered routes, first match wins, no match falls through to the Api's own backend (grey release, A/B tests).",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status",
        description = "Whether the routes are valid"
    ),
    printcolumn(
        name = "Routes",
        type_ = "string",
        json_path = ".spec.routes[*].name",
        description = "Route names in order"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct RoutingPluginSpec {
    /// Parameters the conditions use, name -> source (`Query:x`, `Header:x`, `Form:x`, `Path:x`,
    /// `Parameter:x`, `BodyJson:$.a.b`, `Token:claim`, `System:CaAppId`, `XFF:-1`, `Host:x`,
    /// `Method`, `Path`). System parameters (`$CaAppId`, ...) need no declaration.
    /// Names are letters, digits and `_`, not starting with a digit (checked by the operator).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub parameters: BTreeMap<String, ParameterSource>,
    /// Routes, evaluated in order; the first whose condition holds is taken.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub routes: Vec<Route>,
}

/// One route of a routing plugin.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Route name (letters, digits, `_` and `-`), unique in the plugin; sent to the backend as
    /// header `X-Ca-Routing-Name`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub name: String,
    /// The condition, such as `$CaAppId = 4534463 or $clientVersion < '2.0.5'` (docs/conditions.md).
    #[schemars(length(min = 1, max = 4096))]
    pub condition: String,
    /// The backend, laid over the Api's own backend.
    pub backend: Backend,
    /// Values added to the backend request when this route is taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub constant_parameters: Vec<RouteConstantParameter>,
}

/// A value a route adds to the backend request.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteConstantParameter {
    /// Header or query parameter name.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// `header` or `query`.
    pub location: RouteParameterLocation,
    /// The value.
    pub value: String,
}

/// Where a route's constant parameter goes (Alibaba's lower-case spelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteParameterLocation {
    /// A request header.
    Header,
    /// A query-string parameter.
    Query,
}
