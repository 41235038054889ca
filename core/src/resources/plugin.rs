//! The Plugin kind: every plugin type of the reference document except routing, one field each.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::api::SignatureMethod;
use super::common::{CommonStatus, LocalObjectRef, ParameterSource};

/// A plugin: exactly one of the typed fields is set.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[kube(
    group = "apigw.io",
    version = "v1alpha1",
    kind = "Plugin",
    namespaced,
    status = "PluginStatus",
    shortname = "gwplugin",
    category = "apigw",
    doc = "A plugin bound to Apis or ApiGroups: JWT authentication, basic authentication, third-party (remote) authentication, backend signature, traffic control, IP control, CORS, parameter access control, error mapping, circuit breaker or caching (exactly one).",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status",
        description = "Whether the plugin is valid"
    ),
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".status.pluginType",
        description = "The plugin type set in spec"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.jwtAuth), has(self.backendSignature), has(self.trafficControl), has(self.ipControl), has(self.cors), has(self.accessControl), has(self.errorMapping), has(self.circuitBreaker), has(self.basicAuth), has(self.caching), has(self.remoteAuth)].filter(x, x).size() == 1"
).message("set exactly one plugin type: jwtAuth, basicAuth, remoteAuth, backendSignature, trafficControl, ipControl, cors, accessControl, errorMapping, circuitBreaker or caching"))]
pub struct PluginSpec {
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JWT authentication (OpenID Connect ID tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_auth: Option<JwtAuth>,
    /// Signatures the gateway adds to backend requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_signature: Option<BackendSignature>,
    /// Request-rate limits per API, user and App.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_control: Option<TrafficControl>,
    /// Client IP allow or deny lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_control: Option<IpControl>,
    /// Cross-origin resource sharing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// Allow or deny requests by conditions over their parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_control: Option<AccessControl>,
    /// Map backend error results to HTTP status codes and messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_mapping: Option<ErrorMapping>,
    /// The Api's circuit breaker, tuned (every Api has one with Alibaba's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// HTTP Basic authentication against users kept in a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// GET answers kept in the gateway and served without the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching: Option<Caching>,
    /// Third-party authentication: the user's own service decides before the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_auth: Option<super::remote_auth::RemoteAuth>,
}

impl PluginSpec {
    /// The name of the one plugin type set (`jwtAuth`, `cors`, ...), or `None` when not exactly one is.
    pub fn type_name(&self) -> Option<&'static str> {
        let set = [
            (self.jwt_auth.is_some(), "jwtAuth"),
            (self.backend_signature.is_some(), "backendSignature"),
            (self.traffic_control.is_some(), "trafficControl"),
            (self.ip_control.is_some(), "ipControl"),
            (self.cors.is_some(), "cors"),
            (self.access_control.is_some(), "accessControl"),
            (self.error_mapping.is_some(), "errorMapping"),
            (self.circuit_breaker.is_some(), "circuitBreaker"),
            (self.basic_auth.is_some(), "basicAuth"),
            (self.caching.is_some(), "caching"),
            (self.remote_auth.is_some(), "remoteAuth"),
        ];
        let mut names = set.iter().filter(|(set, _)| *set).map(|(_, name)| *name);
        match (names.next(), names.next()) {
            (Some(name), None) => Some(name),
            _ => None,
        }
    }
}

/// What the operator reports about a Plugin.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginStatus {
    /// The plugin type set in spec (jwtAuth, cors, ...), for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_type: Option<String>,
    /// Generation and conditions (Accepted, Programmed).
    #[serde(flatten)]
    pub common: CommonStatus,
}

/// JWT authentication.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.jwk) || has(self.jwks) || has(self.keySecretRef)")
    .message("give the verification keys: jwk, jwks or keySecretRef"))]
pub struct JwtAuth {
    /// Name of the header, query parameter or cookie carrying the token (`Authorization` takes
    /// `Bearer <token>` too).
    #[serde(default = "default_jwt_parameter")]
    #[schemars(length(min = 1, max = 128))]
    pub parameter: String,
    /// Where the token is read.
    #[serde(default)]
    pub parameter_location: TokenLocation,
    /// Claims passed to the backend as parameters (and usable as `Token:claim` in conditions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub claim_parameters: Vec<ClaimParameter>,
    /// One public key (JWK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
    /// Several public keys; a token's `kid` picks one, a token without `kid` tries each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub jwks: Vec<Jwk>,
    /// A Secret key (same namespace) holding a JWKS JSON document, for symmetric (HS256) keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_secret_ref: Option<SecretKeyRef>,
    /// Refuse a token whose `jti` was seen before it expired.
    #[serde(default)]
    pub prevent_jti_replay: bool,
    /// Let requests without a token through (with no claims).
    #[serde(default)]
    pub bypass_empty_token: bool,
    /// Do not check `exp` and `nbf`.
    #[serde(default)]
    pub ignore_expiration_check: bool,
}

fn default_jwt_parameter() -> String {
    "Authorization".to_owned()
}

/// Where a JWT is read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenLocation {
    /// A request header.
    #[default]
    Header,
    /// A query-string parameter.
    Query,
    /// A cookie.
    Cookie,
}

/// A claim passed to the backend.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimParameter {
    /// The claim.
    #[schemars(length(min = 1, max = 128))]
    pub claim_name: String,
    /// The parameter name the backend receives.
    #[schemars(length(min = 1, max = 128))]
    pub parameter_name: String,
    /// Where the backend receives it.
    pub location: ClaimLocation,
}

/// Where a claim goes in the backend request (Alibaba's spelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
pub enum ClaimLocation {
    /// A query-string parameter.
    #[serde(rename = "query")]
    Query,
    /// A header.
    #[serde(rename = "header")]
    Header,
    /// A path parameter of the backend path.
    #[serde(rename = "path")]
    Path,
    /// A form field.
    #[serde(rename = "formData")]
    FormData,
}

/// A public JSON Web Key (RFC 7517); symmetric keys belong in a Secret (`keySecretRef`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.kty != 'RSA' || (has(self.n) && has(self.e))").message("an RSA key needs n and e (in YAML quote the key 'n': kubectl reads a bare n as false)"),
    validation = Rule::new("self.kty == 'RSA' || (has(self.crv) && has(self.x))").message("EC and OKP keys need crv and x"),
)]
pub struct Jwk {
    /// Key type: RSA, EC or OKP.
    pub kty: KeyType,
    /// Key id, matched against a token's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm the key is for (RS256, ES256, PS256, EdDSA, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use (`sig`).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "use")]
    pub key_use: Option<String>,
    /// RSA modulus (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC or OKP curve (P-256, P-384, Ed25519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC or OKP x coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// Public key types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum KeyType {
    /// RSA (RS256, RS384, RS512, PS256).
    RSA,
    /// Elliptic curve (ES256, ES384).
    EC,
    /// Octet key pair (EdDSA).
    OKP,
}

/// A key of a Secret in the same namespace.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Signatures the gateway adds to backend requests.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendSignature {
    /// APIGW_BACKEND (`X-Ca-Proxy-Signature*` headers, for backends that verify the gateway) or
    /// APIGW_FRONTEND (signs like a client App, so that an API can call another API of the gateway).
    #[serde(rename = "type")]
    pub kind: BackendSignatureType,
    /// A Secret (same namespace) with keys `appKey` and `appSecret`, as an App's.
    pub credentials_secret_ref: LocalObjectRef,
    /// HMAC method.
    #[serde(default = "default_signature_method")]
    pub signature_method: SignatureMethod,
}

fn default_signature_method() -> SignatureMethod {
    SignatureMethod::HmacSHA256
}

/// Kinds of backend signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BackendSignatureType {
    /// Gateway-to-backend signature headers `X-Ca-Proxy-Signature*`.
    ApigwBackend,
    /// A client App signature (`X-Ca-Key`, `X-Ca-Signature`, ...), for self-invocation.
    ApigwFrontend,
}

/// Request-rate limits.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.userDefault) || self.userDefault <= self.apiDefault")
        .message("userDefault must not exceed apiDefault").field_path(".userDefault"),
    validation = Rule::new("!has(self.appDefault) || self.appDefault <= self.apiDefault")
        .message("appDefault must not exceed apiDefault").field_path(".appDefault"),
    validation = Rule::new("!has(self.appDefault) || !has(self.userDefault) || self.appDefault <= self.userDefault")
        .message("appDefault must not exceed userDefault").field_path(".appDefault"),
    validation = Rule::new("!has(self.specials) || self.specials.all(s, s.policies.all(p, p.value <= self.apiDefault))")
        .message("a special limit must not exceed apiDefault").field_path(".specials"),
)]
pub struct TrafficControl {
    /// The time unit of every limit.
    pub unit: TimeUnit,
    /// Limit per API, over all callers.
    #[schemars(range(min = 1))]
    pub api_default: u32,
    /// Limit per user (the App's owner) per API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub user_default: Option<u32>,
    /// Limit per App per API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub app_default: Option<u32>,
    /// Limits for particular Apps or users.
    #[serde(default)]
    #[schemars(length(max = 2))]
    pub specials: Vec<TrafficSpecial>,
}

/// Time units of traffic control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TimeUnit {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
}

/// Limits for particular Apps or users.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSpecial {
    /// APP (keys are appIds) or USER (keys are user names).
    #[serde(rename = "type")]
    pub kind: SpecialType,
    /// One limit per key.
    #[schemars(length(min = 1, max = 256))]
    pub policies: Vec<TrafficPolicy>,
}

/// What a special limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SpecialType {
    /// An App, by appId.
    App,
    /// A user.
    User,
}

/// One special limit.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// The appId or user (a number or a string).
    pub key: IntOrString,
    /// The limit.
    #[schemars(range(min = 0))]
    pub value: u32,
}

/// Client IP allow or deny lists.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpControl {
    /// ALLOW (only listed addresses pass) or REFUSE (listed addresses are refused).
    #[serde(rename = "type")]
    pub kind: IpControlType,
    /// Where the client IP is read: absent for the connection's peer, or `XFF:index` for an entry
    /// of `X-Forwarded-For` (negative from the end, `XFF:-1` the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(?i)xff:-?[0-9]{1,3}$"))]
    pub resource: Option<String>,
    /// Address blocks, optionally limited to one App.
    #[schemars(length(min = 1, max = 64))]
    pub items: Vec<IpControlItem>,
}

/// ALLOW or REFUSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum IpControlType {
    /// Allow list.
    Allow,
    /// Deny list.
    Refuse,
}

/// Address blocks of an IP control.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpControlItem {
    /// IPv4 or IPv6 addresses or CIDR blocks.
    #[schemars(length(min = 1, max = 256), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new("self.all(b, isCIDR(b) || isIP(b))").message("blocks must be IP addresses or CIDR blocks such as 10.0.0.0/8"))]
    pub blocks: Vec<String>,
    /// Only requests of this App are checked against the blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<i64>,
}

/// Cross-origin resource sharing.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    /// Allowed origins, comma-separated; `*` or `*.example.com` wildcards.
    #[serde(default = "default_allow_origins")]
    pub allow_origins: String,
    /// Allowed methods, comma-separated.
    #[serde(default = "default_allow_methods")]
    pub allow_methods: String,
    /// Allowed request headers, comma-separated (`*` for any).
    #[serde(default = "default_allow_origins")]
    pub allow_headers: String,
    /// Response headers exposed to scripts, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<String>,
    /// Whether credentials (cookies) are allowed.
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long, in seconds, a preflight answer may be cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_age: Option<u32>,
}

fn default_allow_origins() -> String {
    "*".to_owned()
}

fn default_allow_methods() -> String {
    "GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH".to_owned()
}

/// Allow or deny requests by conditions.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessControl {
    /// Parameters the conditions use, name -> source (as a routing plugin's).
    #[serde(default)]
    #[schemars(extend("maxProperties" = 64))]
    pub parameters: BTreeMap<String, ParameterSource>,
    /// Rules in order: ALLOW passes at once, DENY answers the error, otherwise the next rule.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub rules: Vec<AccessRule>,
}

/// One access-control rule.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.ifTrue) || has(self.ifFalse)").message("a rule needs ifTrue or ifFalse"))]
pub struct AccessRule {
    /// Rule name.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// The condition (docs/conditions.md).
    #[schemars(length(min = 1, max = 4096))]
    pub condition: String,
    /// What to do when the condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_true: Option<AccessDecision>,
    /// What to do when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_false: Option<AccessDecision>,
    /// Status code of a denial (default 403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 400, max = 599))]
    pub status_code: Option<u16>,
    /// `X-Ca-Error-Message` of a denial; `${name}` inserts a parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Headers of a denial.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
    /// Body of a denial; `${name}` inserts a parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// ALLOW or DENY.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccessDecision {
    /// Let the request through now.
    Allow,
    /// Refuse the request now.
    Deny,
}

/// Map backend error results to HTTP answers.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMapping {
    /// Response-phase parameters, name -> source (`StatusCode`, `ErrorCode`, `Header:x`,
    /// `BodyJsonField:$.a`, `System:x`, `Token:x`).
    #[schemars(extend("maxProperties" = 64))]
    pub parameters: BTreeMap<String, ParameterSource>,
    /// The condition that marks a backend answer as an error, such as `$statusCode = 200 and $resultCode <> 'OK'`.
    #[schemars(length(min = 1, max = 4096))]
    pub error_condition: String,
    /// The parameter holding the error code matched against `mappings[].code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Error code -> answer.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub mappings: Vec<ErrorMappingEntry>,
    /// The answer for an error with no mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mapping: Option<ErrorAnswer>,
}

/// One error code's answer.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMappingEntry {
    /// The error code.
    pub code: String,
    /// Status code answered.
    #[schemars(range(min = 100, max = 599))]
    pub status_code: u16,
    /// `X-Ca-Error-Message` answered; `${name}` inserts a parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// An answer to an error.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorAnswer {
    /// Status code answered.
    #[schemars(range(min = 100, max = 599))]
    pub status_code: u16,
    /// `X-Ca-Error-Message` answered; `${name}` inserts a parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// The circuit breaker of an Api, as Alibaba's circuit-breaker plugin writes it: it opens when
/// the backend timed out `timeoutThreshold` times (timeout mode), or answered `errorThreshold`
/// times as `errorCondition` says (error mode), within `windowInSeconds`; while open, requests
/// get `503 D503CB` (or the `downgradeBackend`'s answer) for `openTimeoutSeconds`, then a few go
/// through and close it when they succeed. Each gateway pod keeps its own breaker.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.timeoutThreshold) != has(self.errorCondition)")
        .message("set timeoutThreshold (timeout mode) or errorCondition (error mode)"),
    validation = Rule::new("has(self.errorCondition) == has(self.errorThreshold)")
        .message("errorCondition and errorThreshold go together").field_path(".errorThreshold"),
)]
pub struct CircuitBreaker {
    /// Timeout mode: backend timeouts within the window that open the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub timeout_threshold: Option<u32>,
    /// Error mode: the condition over the backend's answer that counts as an error, such as
    /// `$StatusCode = 503` (docs/conditions.md; `$StatusCode` is the answer's status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub error_condition: Option<String>,
    /// Error mode: errors within the window that open the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000))]
    pub error_threshold: Option<u32>,
    /// The window the timeouts or errors are counted in, in seconds.
    #[schemars(range(min = 10, max = 90))]
    pub window_in_seconds: u32,
    /// How long the breaker stays open, in seconds.
    #[schemars(range(min = 15, max = 300))]
    pub open_timeout_seconds: u32,
    /// The backend that answers while the breaker is open (any backend shape, MOCK included);
    /// without one, requests get `503 D503CB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade_backend: Option<super::backend::Backend>,
}

/// HTTP Basic authentication (RFC 7617): the caller sends `Authorization: Basic ...` with a
/// user and password kept in a Secret key in htpasswd format, one `user:hash` line each (bcrypt
/// `$2y$` as `htpasswd -B` writes it, SHA-256-crypt `$5$` or SHA-512-crypt `$6$`; plain text and
/// weaker schemes are refused). Without valid credentials the answer is `401` with
/// `WWW-Authenticate: Basic realm="..."`. The user is the system parameter `CaBasicAuthUser`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// The Secret key holding the users.
    pub secret_ref: SecretKeyRef,
    /// The realm named to the client (default `apigw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r#"^[^"\\]{1,128}$"#))]
    pub realm: Option<String>,
}

/// Alibaba's caching plugin: answers to GET requests kept in the gateway and served again
/// without the backend, keyed by the Api, stage and path, and the values `varyBy*` name. The
/// backend's `Cache-Control` (`max-age`, `s-maxage`, `no-store`, `no-cache`, `private`) or
/// `Expires` decides how long an answer is kept; without them, `duration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Caching {
    /// Keep one answer per calling App.
    #[serde(default)]
    pub vary_by_app: bool,
    /// Keep one answer per value of these declared Api parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 64)))]
    pub vary_by_parameters: Vec<String>,
    /// Keep one answer per value of these request headers, such as `Accept`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 64)))]
    pub vary_by_headers: Vec<String>,
    /// Who may skip the cache with `Cache-Control: no-cache` (the answer is fetched and kept
    /// anew).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cache_control: Option<ClientCacheControl>,
    /// Answer headers kept beside `Content-Type`, `Content-Encoding` and `Content-Language`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 64)))]
    pub cacheable_headers: Vec<String>,
    /// Seconds an answer without `Cache-Control` or `Expires` is kept (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 172_800))]
    pub duration: Option<u32>,
}

/// Who may skip the cache.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode == 'apps' || !has(self.apps) || size(self.apps) == 0").message("apps is only for mode apps").field_path(".apps"))]
pub struct ClientCacheControl {
    /// `off`: nobody (the default); `all`: any client; `apps`: the Apps listed.
    pub mode: ClientCacheMode,
    /// The appIds that may, in mode `apps`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub apps: Vec<i64>,
}

/// Who may skip the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientCacheMode {
    /// Nobody.
    #[default]
    Off,
    /// Any client.
    All,
    /// The Apps listed.
    Apps,
}
