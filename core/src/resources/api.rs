//! The Api kind: what a client sends, how it is checked, and where it goes.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backend::{Backend, HttpMethod};
use super::common::{CommonStatus, StageName};

/// One API of an ApiGroup.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[kube(
    group = "apigw.io",
    version = "v1alpha1",
    kind = "Api",
    namespaced,
    status = "ApiStatus",
    shortname = "gwapi",
    category = "apigw",
    doc = "An API: the request a client sends, how it is authenticated and checked, and the backend it goes to.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Programmed\")].status",
        description = "Whether a gateway serves this API"
    ),
    printcolumn(name = "Group", type_ = "string", json_path = ".spec.groupRef", description = "The ApiGroup"),
    printcolumn(name = "Method", type_ = "string", json_path = ".spec.request.method", description = "Request method"),
    printcolumn(name = "Path", type_ = "string", json_path = ".spec.request.path", description = "Request path"),
    printcolumn(name = "Backend", type_ = "string", json_path = ".spec.backend.type", description = "Backend type"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(self.backend.type in ['HTTP', 'FC']) || has(self.backend.address)")
        .message("an HTTP or FC backend needs address").field_path(".backend.address"),
    validation = Rule::new("self.request.mode == 'MAPPING' || !has(self.parameters) || self.parameters.all(p, !has(p.backend))")
        .message("parameters[].backend is only allowed when request.mode is MAPPING").field_path(".parameters"),
    validation = Rule::new("!has(self.plugins) || self.plugins.filter(p, p.kind == 'RoutingPlugin').size() <= 1")
        .message("an Api binds at most one RoutingPlugin").field_path(".plugins"),
)]
pub struct ApiSpec {
    /// Name of the ApiGroup (in the same namespace) this API belongs to.
    #[schemars(length(min = 1, max = 253))]
    pub group_ref: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stages this API is published to; clients choose one with the `X-Ca-Stage` header.
    #[serde(default = "default_stages")]
    #[schemars(length(min = 1, max = 16))]
    pub stages: Vec<StageName>,
    /// What the client sends.
    pub request: ApiRequest,
    /// Parameters the gateway extracts, checks and (in MAPPING mode) maps to the backend.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub parameters: Vec<Parameter>,
    /// Values the gateway always adds to the backend request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub constant_parameters: Vec<ConstantParameter>,
    /// Gateway-provided values (client IP, request id, app id, ...) mapped to backend positions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub system_parameters: Vec<SystemParameter>,
    /// How callers are authenticated.
    #[serde(default)]
    pub auth: ApiAuth,
    /// Where the request goes.
    pub backend: Backend,
    /// Plugins bound to this API, evaluated in a fixed order by type (see docs/plugins.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub plugins: Vec<PluginRef>,
    /// Alarms on this API, rendered as prometheus-operator PrometheusRules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub alarms: Vec<super::alarm::Alarm>,
}

fn default_stages() -> Vec<StageName> {
    vec![StageName("RELEASE".to_owned())]
}

/// What the client sends.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiRequest {
    /// Protocols the API is served on (HTTP, HTTPS, WS for WebSocket).
    #[serde(default = "default_protocols")]
    #[schemars(length(min = 1, max = 3))]
    pub protocols: Vec<Protocol>,
    /// Request method, or ANY.
    pub method: HttpMethod,
    /// Request path: `[name]` or `{name}` marks a path parameter, a trailing `*` matches a prefix.
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("path must start with /"))]
    #[schemars(length(min = 1, max = 2048))]
    pub path: String,
    /// MAPPING (only declared parameters reach the backend, renamed and relocated as declared) or
    /// PASSTHROUGH (the request goes on as it came).
    #[serde(default)]
    pub mode: ParameterMode,
}

fn default_protocols() -> Vec<Protocol> {
    vec![Protocol::Http, Protocol::Https]
}

/// A protocol an API is served on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// Plain HTTP (HTTP/1.1 and h2c).
    Http,
    /// HTTP over TLS (HTTP/1.1 and HTTP/2).
    Https,
    /// WebSocket.
    Ws,
}

/// How request parameters reach the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ParameterMode {
    /// Only declared parameters reach the backend, renamed and relocated as declared.
    Mapping,
    /// The request reaches the backend as it came; declared parameters are still checked.
    #[default]
    Passthrough,
}

/// Where a parameter is found in a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ParameterLocation {
    /// A path segment named in the path template.
    Path,
    /// A query-string parameter.
    Query,
    /// A request header.
    Header,
    /// A field of an `application/x-www-form-urlencoded` body.
    Form,
    /// The whole body.
    Body,
}

/// The type a parameter value must have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ParameterType {
    /// Any text.
    #[default]
    String,
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer.
    Long,
    /// A 32-bit floating-point number.
    Float,
    /// A 64-bit floating-point number.
    Double,
    /// `true` or `false`.
    Boolean,
}

/// A request parameter the gateway extracts and checks.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.minLength) || !has(self.maxLength) || self.minLength <= self.maxLength")
        .message("minLength must not exceed maxLength").field_path(".minLength"),
    validation = Rule::new("!has(self.minimum) || !has(self.maximum) || self.minimum <= self.maximum")
        .message("minimum must not exceed maximum").field_path(".minimum"),
    validation = Rule::new("self.__in__ != 'BODY' || !has(self.backend) || self.backend.__in__ == 'BODY'")
        .message("a BODY parameter can only be mapped to the backend BODY").field_path(".backend"),
)]
pub struct Parameter {
    /// Name as the client sends it (for BODY, a name used in messages and mappings).
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Where the client sends it.
    #[serde(rename = "in")]
    pub location: ParameterLocation,
    /// The type the value must have.
    #[serde(default, rename = "type")]
    pub kind: ParameterType,
    /// Whether a request without it is refused with 400.
    #[serde(default)]
    pub required: bool,
    /// Value used when the client sends none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A regular expression the value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub pattern: Option<String>,
    /// The values allowed; empty allows any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "enum")]
    #[schemars(length(max = 256))]
    pub allowed: Vec<String>,
    /// Minimum length of a STRING value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Maximum length of a STRING value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Smallest allowed numeric value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest allowed numeric value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MAPPING mode: where the backend receives it (defaults to the same name and place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendParameter>,
}

/// A position in the backend request.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendParameter {
    /// Name in the backend request.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Where in the backend request.
    #[serde(rename = "in")]
    pub location: ParameterLocation,
}

/// A value the gateway always adds to the backend request.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConstantParameter {
    /// Name in the backend request (a header named `host` sets the backend Host).
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Where in the backend request.
    #[serde(rename = "in")]
    pub location: ParameterLocation,
    /// The value.
    pub value: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A gateway-provided value mapped to a backend position.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemParameter {
    /// Which system value.
    pub name: SystemParameterName,
    /// Where the backend receives it.
    pub backend: BackendParameter,
}

/// The system parameters of the reference document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
pub enum SystemParameterName {
    /// The client's IP address.
    CaClientIp,
    /// The host the client called.
    CaDomain,
    /// The time the gateway received the request (RFC 1123, GMT).
    CaRequestHandleTime,
    /// The calling App's appId.
    CaAppId,
    /// The calling App's appKey.
    CaAppKey,
    /// The request id, also sent as `X-Ca-Request-Id`.
    CaRequestId,
    /// `http` or `https`.
    CaHttpSchema,
    /// The gateway's id (as in `Via`).
    CaProxy,
    /// The API's name.
    CaApiName,
    /// The client's User-Agent.
    CaClientUa,
    /// The stage served (RELEASE, TEST, ...).
    CaStage,
    /// The gateway instance serving the request.
    CaInstanceId,
    /// The user a basicAuth plugin authenticated (a system parameter of apigw's, not Alibaba's).
    CaBasicAuthUser,
}

impl SystemParameterName {
    /// Every system parameter the gateway has a value for.
    pub const ALL: [Self; 13] = [
        Self::CaClientIp,
        Self::CaDomain,
        Self::CaRequestHandleTime,
        Self::CaAppId,
        Self::CaAppKey,
        Self::CaRequestId,
        Self::CaHttpSchema,
        Self::CaProxy,
        Self::CaApiName,
        Self::CaClientUa,
        Self::CaStage,
        Self::CaInstanceId,
        Self::CaBasicAuthUser,
    ];

    /// Its name, as Apis and conditions (`$CaClientIp`) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CaClientIp => "CaClientIp",
            Self::CaDomain => "CaDomain",
            Self::CaRequestHandleTime => "CaRequestHandleTime",
            Self::CaAppId => "CaAppId",
            Self::CaAppKey => "CaAppKey",
            Self::CaRequestId => "CaRequestId",
            Self::CaHttpSchema => "CaHttpSchema",
            Self::CaProxy => "CaProxy",
            Self::CaApiName => "CaApiName",
            Self::CaClientUa => "CaClientUa",
            Self::CaStage => "CaStage",
            Self::CaInstanceId => "CaInstanceId",
            Self::CaBasicAuthUser => "CaBasicAuthUser",
        }
    }

    /// The system parameter called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|parameter| parameter.as_str() == name)
    }
}

/// How callers of an API are authenticated.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiAuth {
    /// ANONYMOUS (nobody is checked), APP (an authorized App signs the request) or JWT (a bound
    /// jwtAuth plugin alone authenticates).
    #[serde(default, rename = "type")]
    pub kind: AuthType,
    /// Whether an App may authenticate with its AppCode instead of a signature, and where.
    #[serde(default)]
    pub app_code: AppCodeMode,
    /// Signature methods accepted from Apps.
    #[serde(default = "default_signature_methods")]
    #[schemars(length(min = 1, max = 2))]
    pub signature_methods: Vec<SignatureMethod>,
    /// Alibaba's ForceNonceCheck: signed requests must send `X-Ca-Nonce` and `X-Ca-Timestamp`
    /// and list both in `X-Ca-Signature-Headers`, so that none can be replayed with fresh
    /// ones. Unset: the gateway's `--force-nonce-check` default (false unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_nonce_check: Option<bool>,
    /// Whether the credentials the gateway checked reach the backend: the `X-Ca-Signature*`
    /// headers, an `APPCODE` (header or query) and a jwtAuth plugin's token. Default false:
    /// they are removed, as a backend behind the gateway has no use for them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_credentials: bool,
}

impl Default for ApiAuth {
    fn default() -> Self {
        Self {
            kind: AuthType::default(),
            app_code: AppCodeMode::default(),
            signature_methods: default_signature_methods(),
            force_nonce_check: None,
            forward_credentials: false,
        }
    }
}

fn default_signature_methods() -> Vec<SignatureMethod> {
    vec![SignatureMethod::HmacSHA256, SignatureMethod::HmacSHA1]
}

/// Who may call an API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    /// Anyone.
    Anonymous,
    /// Apps authorized for the API, by signature (or AppCode where allowed).
    #[default]
    App,
    /// Callers with a token a bound jwtAuth plugin accepts.
    Jwt,
}

/// Whether and where an AppCode is accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppCodeMode {
    /// Signatures only.
    #[default]
    Disabled,
    /// `Authorization: APPCODE <code>` header.
    Header,
    /// The header, or an `AppCode` query parameter.
    HeaderQuery,
}

/// An HMAC signature method of Alibaba's APP signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum SignatureMethod {
    /// HMAC with SHA-256 (the default).
    HmacSHA256,
    /// HMAC with SHA-1.
    HmacSHA1,
}

/// A plugin bound to an Api or an ApiGroup.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginRef {
    /// RoutingPlugin or Plugin.
    pub kind: PluginKind,
    /// Name of the plugin, in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The kinds a plugin reference may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
pub enum PluginKind {
    /// A backend routing plugin.
    RoutingPlugin,
    /// Any other plugin type.
    Plugin,
}

/// What the operator reports about an Api.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiStatus {
    /// The URL clients call (first domain of the group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Generation and conditions (Accepted, ResolvedRefs, Programmed).
    #[serde(flatten)]
    pub common: CommonStatus,
}
