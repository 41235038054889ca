//! Where a request goes: the backend of an Api, or of a routing plugin's route.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kind of backend service, with Alibaba's spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
pub enum BackendType {
    /// A URL reachable from the gateway (`address`).
    #[serde(rename = "HTTP")]
    Http,
    /// An address inside the cluster or a private network, reached through a VpcAccess.
    #[serde(rename = "HTTP-VPC")]
    HttpVpc,
    /// An answer made up by the gateway (`statusCode`, `headers`, `body`).
    #[serde(rename = "MOCK")]
    Mock,
    /// A function endpoint (`address`) that takes the function event JSON.
    #[serde(rename = "FC")]
    Fc,
}

/// A backend service. On an Api it must be complete; on a routing plugin's route it is laid over
/// the Api's own backend, so that a route may only change what differs (for example the path).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type != 'HTTP-VPC' || has(self.vpcAccessName)")
        .message("an HTTP-VPC backend needs vpcAccessName").field_path(".vpcAccessName"),
    validation = Rule::new("self.type != 'MOCK' || has(self.statusCode)")
        .message("a MOCK backend needs statusCode").field_path(".statusCode"),
    validation = Rule::new("!has(self.vpcAccessName) || self.type == 'HTTP-VPC'")
        .message("vpcAccessName is only for HTTP-VPC backends").field_path(".vpcAccessName"),
    validation = Rule::new("!has(self.retries) || !has(self.retries.perTryTimeout) || self.retries.perTryTimeout <= (has(self.timeout) ? self.timeout : 10000)")
        .message("retries.perTryTimeout must not exceed the backend's timeout").field_path(".retries.perTryTimeout"),
)]
pub struct Backend {
    /// Backend type: HTTP (a URL), HTTP-VPC (through a VpcAccess), MOCK (a made-up answer) or FC
    /// (a function endpoint).
    #[serde(rename = "type")]
    pub kind: BackendType,
    /// HTTP and FC: the base URL, such as `http://shop.prod:8080`; may hold stage variables
    /// written `#name#`, replaced by the ApiGroup's stage variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub address: Option<String>,
    /// HTTP-VPC: the name of a VpcAccess in the same namespace that authorizes the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub vpc_access_name: Option<String>,
    /// Backend path, starting with `/`; `[name]` inserts a parameter. Defaults to the request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("path must start with /"))]
    #[schemars(length(max = 2048))]
    pub path: Option<String>,
    /// Backend HTTP method. Defaults to the request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self != 'ANY'").message("a backend method must be a single method, not ANY"))]
    pub method: Option<HttpMethod>,
    /// HTTP version to the backend: HTTP1 (the default; an https address may still negotiate
    /// HTTP/2 by ALPN) or HTTP2 (HTTP/2 only: prior knowledge on http, ALPN on https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<BackendProtocol>,
    /// Time allowed for the backend to answer, in milliseconds (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600_000))]
    pub timeout: Option<u32>,
    /// MOCK: the HTTP status code answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 599))]
    pub status_code: Option<u16>,
    /// MOCK: the response body answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1_048_576))]
    pub body: Option<String>,
    /// MOCK: response headers answered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// HTTP, HTTP-VPC: when a failed request is tried again (default: a connection that could
    /// not be made is tried once more, on another endpoint where there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
}

/// When a backend request is tried again. A request whose connection could not be made was
/// never sent, so it is retried whatever its method; one that was sent is retried only when it
/// is idempotent (GET, HEAD, OPTIONS, PUT, DELETE) and its body is known whole. Retries stay
/// within the backend's `timeout` and the gateway's retry budget.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retries {
    /// Tries after the first (default 1; 0 never retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 5))]
    pub attempts: Option<u8>,
    /// Answers an idempotent request is retried on, such as `[502, 503, 504]` (5xx only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(range(min = 500, max = 599)))]
    pub on_status: Vec<u16>,
    /// Milliseconds each try of an idempotent request may take before it is given up and
    /// retried (default: the backend's whole timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600_000))]
    pub per_try_timeout: Option<u32>,
}

/// The HTTP version spoken to a backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum BackendProtocol {
    /// HTTP/1.1 (or HTTP/2 where TLS negotiates it).
    #[default]
    Http1,
    /// HTTP/2 only.
    Http2,
}

/// An HTTP method, or ANY for an API that takes every method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
    /// Any method (only in an Api's request).
    Any,
}
