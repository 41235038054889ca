//! Alibaba's third-party authentication plugin (`remoteAuth`): before the backend, the gateway
//! asks the user's own authentication service, and calls the backend only when its answer meets
//! `successCondition`.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backend::HttpMethod;
use super::common::ParameterSource;

/// The third-party authentication plugin. The field names are Alibaba's
/// (`authUriType`, `authUri`, `authParameters`, `passThroughBody`, `passThroughPath`,
/// `cachedTimeBySecond`, `trimAuthorizationHeaderPrefix`, `parameters`); the success condition,
/// the answer headers sent on to the backend and the failure answer are apigw's
/// (docs/authentication.md).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.authUriType != 'HTTP' || has(self.authUri.address)")
        .message("authUriType HTTP needs authUri.address").field_path(".authUri.address"),
    validation = Rule::new("self.authUriType != 'HTTP-VPC' || has(self.authUri.vpcAccessName)")
        .message("authUriType HTTP-VPC needs authUri.vpcAccessName").field_path(".authUri.vpcAccessName"),
)]
pub struct RemoteAuth {
    /// Parameters of `successCondition`, name -> source in the authentication service's answer
    /// (`StatusCode`, `Header:x`, `BodyJsonField:$.a`), such as `statusCode: StatusCode`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub parameters: BTreeMap<String, ParameterSource>,
    /// HTTP (an address) or HTTP-VPC (a VpcAccess).
    pub auth_uri_type: AuthUriType,
    /// The authentication service.
    pub auth_uri: AuthUri,
    /// Send the request's body to the authentication service.
    #[serde(default)]
    pub pass_through_body: bool,
    /// Send the request's path in `X-Ca-Remote-Auth-Raw-Path`.
    #[serde(default)]
    pub pass_through_path: bool,
    /// Seconds an answer is reused for the same Api and authentication parameters (0: never;
    /// at most 600).
    #[serde(default)]
    #[schemars(range(min = 0, max = 600))]
    pub cached_time_by_second: u32,
    /// A parameter read from `Authorization` loses its scheme (`Bearer abc` gives `abc`).
    #[serde(default)]
    pub trim_authorization_header_prefix: bool,
    /// The request's values sent to the authentication service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub auth_parameters: Vec<AuthParameter>,
    /// When the answer means "authenticated", over `parameters`, such as `$statusCode = 200`
    /// (docs/conditions.md). Default: any 2xx answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub success_condition: Option<String>,
    /// Headers of a successful answer sent on to the backend (and readable by later plugins as
    /// `Header:x`); a client's own values of these headers are always dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 64)))]
    pub auth_response_headers: Vec<String>,
    /// The status answered when authentication fails (default 401).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in [400, 401, 403, 404, 429]")
        .message("errorStatusCode must be 400, 401, 403, 404 or 429"))]
    pub error_status_code: Option<u16>,
    /// `X-Ca-Error-Message` when authentication fails (default `Remote Authentication Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub error_message: Option<String>,
}

/// Where the authentication service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum AuthUriType {
    /// A URL (`authUri.address`).
    #[serde(rename = "HTTP")]
    Http,
    /// The endpoints of a VpcAccess (`authUri.vpcAccessName`).
    #[serde(rename = "HTTP-VPC")]
    HttpVpc,
}

/// The authentication service's address and request.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthUri {
    /// HTTP: the base URL, port included, such as `http://auth.default.svc:8080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub address: Option<String>,
    /// HTTP-VPC: the name of a VpcAccess in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub vpc_access_name: Option<String>,
    /// The path asked, starting with `/` (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("path must start with /"))]
    #[schemars(length(max = 2048))]
    pub path: Option<String>,
    /// Milliseconds the service may take (default 3000, at most 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000))]
    pub timeout: Option<u32>,
    /// The method asked (default GET, or POST with `passThroughBody`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self != 'ANY'").message("method must be a single method, not ANY"))]
    pub method: Option<HttpMethod>,
}

/// One value sent to the authentication service.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthParameter {
    /// Its name in the request to the authentication service.
    #[schemars(length(min = 1, max = 128))]
    pub target_parameter_name: String,
    /// Its name in the client's request.
    #[schemars(length(min = 1, max = 128))]
    pub source_parameter_name: String,
    /// Where it goes: `header` or `query`.
    pub target_location: AuthParameterLocation,
    /// Where it is read: `header` or `query`.
    pub source_location: AuthParameterLocation,
}

/// Where an authentication parameter is read or sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthParameterLocation {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
}
