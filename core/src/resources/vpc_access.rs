//! The VpcAccess kind: what HTTP-VPC backends may reach.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::CommonStatus;

/// An authorization for the gateway to reach a Service or an address.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[kube(
    group = "apigw.io",
    version = "v1alpha1",
    kind = "VpcAccess",
    namespaced,
    status = "VpcAccessStatus",
    shortname = "vpca",
    category = "apigw",
    doc = "An authorization for HTTP-VPC backends to reach a Service (an Ingress controller's, a LoadBalancer's, any) or an address inside a private network.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"ResolvedRefs\")].status",
        description = "Whether the target was found and allowed"
    ),
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.service.name", description = "Target Service"),
    printcolumn(name = "Address", type_ = "string", json_path = ".spec.address", description = "Target address"),
    printcolumn(name = "Port", type_ = "integer", json_path = ".spec.port", description = "Target port (address)"),
    printcolumn(
        name = "Endpoints",
        type_ = "integer",
        json_path = ".status.readyEndpoints",
        description = "Ready endpoints"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.service) != has(self.address)")
        .message("set exactly one of service or address"),
    validation = Rule::new("has(self.address) == has(self.port)")
        .message("address and port go together (a service names its own port)").field_path(".port"),
)]
pub struct VpcAccessSpec {
    /// Identifier of the network, for people (the VPC id of the reference document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// A Service whose ready endpoints the gateway balances over. A Service in another namespace
    /// must consent with the annotation `apigw.io/allow-vpc-access-from` (see docs/vpc-access.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceTarget>,
    /// An IP address or host name (for example an internal load balancer's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isIP(self) || self.matches('^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')").message("address must be an IP address or a DNS name"))]
    #[schemars(length(min = 1, max = 253))]
    pub address: Option<String>,
    /// The port of `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// When the gateway stops sending requests to an endpoint that keeps failing (passive
    /// health; on by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// Requests the gateway sends to each endpoint itself to find out whether it serves (active
    /// health; off unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// Active health: every `intervalSeconds` each gateway pod sends `GET path` to each endpoint;
/// an endpoint whose answer is not 2xx or 3xx within `timeoutSeconds`, `unhealthyThreshold`
/// times in a row, gets no requests until it passes `healthyThreshold` checks in a row.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.timeoutSeconds) ? self.timeoutSeconds : 2) < (has(self.intervalSeconds) ? self.intervalSeconds : 10)")
    .message("timeoutSeconds must be less than intervalSeconds").field_path(".timeoutSeconds"))]
pub struct HealthCheck {
    /// The path checked, such as `/healthz`.
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("path must start with /"))]
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    /// Seconds between two checks of an endpoint (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 300))]
    pub interval_seconds: Option<u32>,
    /// Seconds a check may take (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: Option<u32>,
    /// Checks in a row an unhealthy endpoint must pass to be served again (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub healthy_threshold: Option<u32>,
    /// Checks in a row a healthy endpoint must fail to get no more requests (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub unhealthy_threshold: Option<u32>,
}

/// Passive health: an endpoint whose requests fail `consecutiveFailures` times in a row
/// (connection errors, timeouts, 5xx answers) is ejected for `baseEjectionSeconds`, longer each
/// time it is ejected again; never more than `maxEjectionPercent` of the endpoints at once.
/// Each gateway pod judges by the requests it sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetection {
    /// Failures in a row that eject an endpoint (default 5; 0 turns ejection off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub consecutive_failures: Option<u32>,
    /// Seconds of the first ejection; the n-th in a row lasts n times as long, at most ten
    /// times (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub base_ejection_seconds: Option<u32>,
    /// The largest share of the endpoints ejected at once, in percent (default 50; at least
    /// one endpoint is always served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub max_ejection_percent: Option<u8>,
}

/// A Service the gateway may reach.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceTarget {
    /// Service name.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// Service namespace (defaults to the VpcAccess's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    /// Service port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
}

/// What the operator reports about a VpcAccess.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpcAccessStatus {
    /// Ready endpoints of the Service (1 for an address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_endpoints: Option<u32>,
    /// Generation and conditions (Accepted, ResolvedRefs, Programmed).
    #[serde(flatten)]
    pub common: CommonStatus,
}
