//! The data-plane document: what one gateway instance serves, as translated from the custom
//! resources. It is what ConfigMaps hold and what `--manifests` mode builds in-process.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::resources::{
    AccessRule, ApiAuth, BackendProtocol, BackendSignatureType, BackendType, Caching, ConstantParameter, Cors,
    ErrorMapping, HttpMethod, IpControl, JwtAuth, Parameter, ParameterMode, Protocol, RemoteAuth,
    RouteConstantParameter, SignatureMethod, SystemParameter, TrafficControl,
};

/// The format version of [`GatewayConfig`]; a gateway refuses documents of another version.
pub const CONFIG_FORMAT: &str = "apigw.io/config-v1";

/// Everything one gateway instance serves.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayConfig {
    /// Always [`CONFIG_FORMAT`].
    pub format: String,
    /// The instance name (`--instance`).
    pub instance: String,
    /// The groups of the instance, ordered by namespace and name.
    pub groups: Vec<GroupConfig>,
    /// Resolved VpcAccesses, by `namespace/name`.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// The Apps of the namespaces the instance serves (credentials stay in their Secrets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppConfig>,
}

/// An App: who it is, where its credentials are, and what it may call.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppConfig {
    /// The App's namespace (its authorizations name objects there).
    pub namespace: String,
    /// The App's name.
    pub name: String,
    /// `$CaAppId`.
    pub app_id: i64,
    /// The credentials Secret's `namespace/name` (keys `appKey`, `appSecret`, optional `appCode`).
    pub secret: String,
    /// What it may call.
    pub authorizations: Vec<AppGrant>,
}

/// Permission to call one Api, or every Api of a group.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppGrant {
    /// An Api's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// An ApiGroup's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Stages covered; empty covers all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// When the permission ends (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl GatewayConfig {
    /// An empty document for `instance`.
    pub fn empty(instance: &str) -> Self {
        Self {
            format: CONFIG_FORMAT.to_owned(),
            instance: instance.to_owned(),
            groups: Vec::new(),
            upstreams: BTreeMap::new(),
            apps: Vec::new(),
        }
    }

    /// A hex SHA-256 of the document's canonical JSON: equal documents, equal hashes.
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("a GatewayConfig always serializes");
        Sha256::digest(json).iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// How many APIs the document serves.
    pub fn api_count(&self) -> usize {
        self.groups.iter().map(|group| group.apis.len()).sum()
    }
}

/// An ApiGroup as served.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupConfig {
    /// The group's namespace.
    pub namespace: String,
    /// The group's name.
    pub name: String,
    /// Public host names (exact or `*.suffix`), served on the public listeners.
    pub hosts: Vec<String>,
    /// The self-invocation host, served on the internal listener only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_host: Option<String>,
    /// Stage name -> variables.
    pub stages: BTreeMap<String, BTreeMap<String, String>>,
    /// Hosts served over TLS, each with the `namespace/name` of its `kubernetes.io/tls` Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsBinding>,
    /// The APIs, ordered by name; each shared, so that a translation reuses the ones whose
    /// inputs did not change (and an encoding sees them unchanged without comparing them).
    #[serde(with = "shared")]
    pub apis: Vec<Arc<ApiConfig>>,
}

/// Serde for shared values, as the values themselves (serde's `rc` feature would rebuild every
/// crate that uses serde for one field).
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(values: &[Arc<T>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(values.iter().map(|value| &**value))
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Arc<T>>, D::Error> {
        Ok(Vec::<T>::deserialize(deserializer)?.into_iter().map(Arc::new).collect())
    }
}

/// A host's certificate: a reference to a Secret, never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsBinding {
    /// The host (exact or `*.suffix`).
    pub host: String,
    /// The Secret's `namespace/name`; keys `tls.crt` and `tls.key`.
    pub secret: String,
}

/// An Api as served.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiConfig {
    /// The Api's name (`$CaApiName`).
    pub name: String,
    /// Stages it is published to.
    pub stages: Vec<String>,
    /// Protocols it is served on.
    pub protocols: Vec<Protocol>,
    /// Request method, or ANY.
    pub method: HttpMethod,
    /// The full request path template, group base path included, in `[name]` syntax.
    pub path: String,
    /// MAPPING or PASSTHROUGH.
    pub mode: ParameterMode,
    /// Declared parameters.
    pub parameters: Vec<Parameter>,
    /// Constant parameters.
    pub constant_parameters: Vec<ConstantParameter>,
    /// System parameters.
    pub system_parameters: Vec<SystemParameter>,
    /// Authentication.
    pub auth: ApiAuth,
    /// The backend.
    pub backend: BackendConfig,
    /// The bound routing plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Box<RoutingConfig>>,
    /// The bound access-control plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_control: Option<Box<AccessControlConfig>>,
    /// The bound error-mapping plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_mapping: Option<Box<ErrorMappingConfig>>,
    /// The bound IP-control plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_control: Option<Box<NamedPlugin<IpControl>>>,
    /// The bound CORS plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Box<NamedPlugin<Cors>>>,
    /// The bound traffic-control plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_control: Option<Box<NamedPlugin<TrafficControl>>>,
    /// The bound jwtAuth plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_auth: Option<Box<JwtAuthConfig>>,
    /// The bound backend-signature plugin, if any; its credentials Secret as `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_signature: Option<Box<BackendSignatureConfig>>,
    /// The bound caching plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching: Option<Box<NamedPlugin<Caching>>>,
    /// The bound basicAuth plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<Box<BasicAuthConfig>>,
    /// The bound circuit-breaker plugin, if any (without one the Api has the default breaker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<Box<CircuitBreakerConfig>>,
    /// The bound remoteAuth plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_auth: Option<Box<RemoteAuthConfig>>,
}

/// A remoteAuth plugin as served: its spec, and its authentication service as a backend.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAuthConfig {
    /// The Plugin's name.
    pub plugin: String,
    /// Its spec.
    pub spec: RemoteAuth,
    /// The authentication service (HTTP or HTTP-VPC), `authUri.path` left to the plugin.
    pub service: BackendConfig,
}

/// A basicAuth plugin as served.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthConfig {
    /// The Plugin's name.
    pub plugin: String,
    /// The Secret holding the users, as `namespace/name`.
    pub secret: String,
    /// Its key.
    pub key: String,
    /// The realm named in `WWW-Authenticate`.
    pub realm: String,
}

/// A circuit-breaker plugin as served.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerConfig {
    /// The Plugin's name.
    pub plugin: String,
    /// What opens the breaker.
    pub trip: BreakerTrip,
    /// The window trips are counted in, in seconds.
    pub window_seconds: u32,
    /// How long the breaker stays open, in seconds.
    pub open_seconds: u32,
    /// The backend that answers while it is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<BackendConfig>,
}

/// What opens a circuit breaker.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BreakerTrip {
    /// This many backend timeouts within the window.
    Timeouts(u32),
    /// This many answers within the window for which the condition (over `$StatusCode`) holds.
    Errors {
        /// The condition.
        condition: String,
        /// The count.
        threshold: u32,
    },
}

impl ApiConfig {
    /// The `namespace/name` of every Secret the Api reads (backend signature keys, JWKS).
    pub fn secret_refs(&self) -> impl Iterator<Item = &String> {
        let signature = self.backend_signature.as_ref().map(|signature| &signature.secret);
        let users = self.basic_auth.as_ref().map(|basic| &basic.secret);
        signature.into_iter().chain(self.jwt_auth.as_ref().and_then(|jwt| jwt.key_secret.as_ref())).chain(users)
    }

    /// The upstream keys of its backend, its routes' and downgrade backends and its
    /// authentication service.
    pub fn upstream_refs(&self) -> impl Iterator<Item = &String> {
        let routes =
            self.routing.iter().flat_map(|routing| routing.routes.iter().filter_map(|route| route.backend.as_ref()));
        let downgrade = self.circuit_breaker.iter().filter_map(|breaker| breaker.downgrade.as_ref());
        let auth_service = self.remote_auth.iter().map(|remote| &remote.service);
        std::iter::once(&self.backend)
            .chain(routes)
            .chain(downgrade)
            .chain(auth_service)
            .filter_map(|backend| backend.upstream.as_ref())
    }
}

/// A backend-signature plugin as served: how to sign, and the Secret holding the credentials.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendSignatureConfig {
    /// The Plugin's name.
    pub plugin: String,
    /// APIGW_BACKEND or APIGW_FRONTEND.
    #[serde(rename = "type")]
    pub kind: BackendSignatureType,
    /// The credentials Secret's `namespace/name` (keys `appKey`, `appSecret`).
    pub secret: String,
    /// HMAC method.
    pub signature_method: SignatureMethod,
}

/// A jwtAuth plugin as served: its spec and, for `keySecretRef`, the Secret's `namespace/name`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuthConfig {
    /// The Plugin's name.
    pub plugin: String,
    /// Its spec.
    pub spec: JwtAuth,
    /// The Secret holding a JWKS (`keySecretRef`), as `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_secret: Option<String>,
}

/// A bound Plugin's spec and name.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedPlugin<T> {
    /// The Plugin's name.
    pub plugin: String,
    /// Its spec.
    pub spec: T,
}

/// An error-mapping plugin as served for one API.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMappingConfig {
    /// The Plugin's name.
    pub plugin: String,
    /// The plugin's spec.
    pub mapping: ErrorMapping,
}

/// An access-control plugin as served for one API.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessControlConfig {
    /// The Plugin's name.
    pub plugin: String,
    /// Parameter name -> source.
    pub parameters: BTreeMap<String, String>,
    /// The rules, in order.
    pub rules: Vec<AccessRule>,
}

/// A routing plugin as served for one API: routes in order, each backend already laid over the
/// API's own.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingConfig {
    /// The RoutingPlugin's name.
    pub plugin: String,
    /// Parameter name -> source (`Query:x`, `Header:x`, `XFF:-1`, ...).
    pub parameters: BTreeMap<String, String>,
    /// The routes, in order.
    pub routes: Vec<RouteConfig>,
}

/// One route.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteConfig {
    /// The route's name (sent as `X-Ca-Routing-Name`).
    pub name: String,
    /// The condition's source text.
    pub condition: String,
    /// The merged backend; absent when the overlay leaves it incomplete (answered `I504RB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendConfig>,
    /// Values added to the backend request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constant_parameters: Vec<RouteConstantParameter>,
}

/// A complete backend.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendConfig {
    /// HTTP, HTTP-VPC, MOCK or FC.
    #[serde(rename = "type")]
    pub kind: BackendType,
    /// HTTP and FC: the base URL, possibly with `#variable#`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// HTTP-VPC: the `namespace/name` key of an upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Backend path template; absent keeps the request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Backend method; absent keeps the request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// Timeout in milliseconds.
    pub timeout_ms: u32,
    /// HTTP version to the backend.
    #[serde(default)]
    pub protocol: BackendProtocol,
    /// MOCK: the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<MockConfig>,
    /// HTTP, HTTP-VPC: when a failed request is tried again.
    #[serde(default)]
    pub retries: RetryConfig,
}

/// When a backend request is tried again ([`crate::resources::Retries`], defaults filled in).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryConfig {
    /// Tries after the first.
    pub attempts: u8,
    /// Answers an idempotent request is retried on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_status: Vec<u16>,
    /// Milliseconds each try of an idempotent request may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout_ms: Option<u32>,
}

impl Default for RetryConfig {
    /// A connection that could not be made is tried once more.
    fn default() -> Self {
        Self { attempts: 1, on_status: Vec::new(), per_try_timeout_ms: None }
    }
}

impl From<&crate::resources::Retries> for RetryConfig {
    fn from(retries: &crate::resources::Retries) -> Self {
        Self {
            attempts: retries.attempts.unwrap_or(Self::default().attempts),
            on_status: retries.on_status.clone(),
            per_try_timeout_ms: retries.per_try_timeout,
        }
    }
}

/// A MOCK backend's answer.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MockConfig {
    /// Status code.
    pub status_code: u16,
    /// Headers.
    pub headers: BTreeMap<String, String>,
    /// Body.
    pub body: String,
}

/// A resolved VpcAccess: where HTTP-VPC requests may go.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamConfig {
    /// Ready endpoints as `host:port` (IPv6 hosts in brackets).
    pub endpoints: Vec<String>,
    /// Passive health.
    #[serde(default)]
    pub outlier: OutlierConfig,
    /// Active health, when the VpcAccess asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
}

/// Active health checks of an upstream's endpoints ([`crate::resources::HealthCheck`], defaults
/// filled in).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckConfig {
    /// The path checked.
    pub path: String,
    /// Seconds between two checks.
    pub interval_seconds: u32,
    /// Seconds a check may take.
    pub timeout_seconds: u32,
    /// Passed checks in a row that make an endpoint healthy again.
    pub healthy_threshold: u32,
    /// Failed checks in a row that make it unhealthy.
    pub unhealthy_threshold: u32,
}

impl From<&crate::resources::HealthCheck> for HealthCheckConfig {
    fn from(check: &crate::resources::HealthCheck) -> Self {
        Self {
            path: check.path.clone(),
            interval_seconds: check.interval_seconds.unwrap_or(10),
            timeout_seconds: check.timeout_seconds.unwrap_or(2),
            healthy_threshold: check.healthy_threshold.unwrap_or(2),
            unhealthy_threshold: check.unhealthy_threshold.unwrap_or(3),
        }
    }
}

/// Passive health of an upstream's endpoints ([`crate::resources::OutlierDetection`], defaults
/// filled in).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierConfig {
    /// Failures in a row that eject an endpoint (0: never).
    pub consecutive_failures: u32,
    /// Seconds of the first ejection.
    pub base_ejection_seconds: u32,
    /// The largest share of endpoints ejected at once, in percent.
    pub max_ejection_percent: u8,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self { consecutive_failures: 5, base_ejection_seconds: 10, max_ejection_percent: 50 }
    }
}

impl From<Option<&crate::resources::OutlierDetection>> for OutlierConfig {
    fn from(detection: Option<&crate::resources::OutlierDetection>) -> Self {
        let default = Self::default();
        let Some(detection) = detection else { return default };
        Self {
            consecutive_failures: detection.consecutive_failures.unwrap_or(default.consecutive_failures),
            base_ejection_seconds: detection.base_ejection_seconds.unwrap_or(default.base_ejection_seconds),
            max_ejection_percent: detection.max_ejection_percent.unwrap_or(default.max_ejection_percent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ApiConfig;

    #[test]
    fn an_api_config_stays_small_to_move() {
        // Translation, conflict settling and decoding move every ApiConfig several times; with
        // its plugins inline it was 2,304 bytes, and those moves were most of a 20,000-Api pass.
        let size = std::mem::size_of::<ApiConfig>();
        assert!(size <= 512, "ApiConfig is {size} bytes: box what is rarely set");
    }
}
