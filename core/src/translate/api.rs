//! Api -> ApiConfig, with every check that needs more than the Api's own schema.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::group::base_path;
use super::problem::ConditionType::{Accepted, ResolvedRefs};
use super::{ConditionType, Problem, Snapshot, object_ref};
use crate::config::{
    AccessControlConfig, ApiConfig, BackendConfig, BackendSignatureConfig, BasicAuthConfig, BreakerTrip,
    CircuitBreakerConfig, ErrorMappingConfig, GroupConfig, JwtAuthConfig, MockConfig, NamedPlugin, RemoteAuthConfig,
    RetryConfig, RouteConfig, RoutingConfig, UpstreamConfig,
};
use crate::htpasswd;
use crate::parameter::ParameterCheck;
use crate::path_template::PathTemplate;
use crate::resources::{
    Api, ApiGroup, AuthType, AuthUriType, Backend, BackendType, Caching, CircuitBreaker, Cors, HttpMethod, IpControl,
    JwtAuth, ParameterLocation, Plugin, PluginKind, PluginRef, RemoteAuth, TrafficControl,
};

/// The backend timeout when an Api sets none, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// A remoteAuth service's timeout when its plugin sets none, in milliseconds.
pub const DEFAULT_AUTH_TIMEOUT_MS: u32 = 3_000;

/// Collects the problems of one Api.
struct Findings<'a> {
    api: &'a Api,
    problems: Vec<Problem>,
}

impl Findings<'_> {
    fn add(&mut self, condition: ConditionType, reason: &'static str, message: String) {
        self.problems.push(Problem { object: object_ref(self.api), condition, reason, message });
    }
}

/// An Api's served form, or everything wrong with it.
pub fn translate(
    api: &Api,
    group: &ApiGroup,
    group_config: &GroupConfig,
    snapshot: &Snapshot,
    upstreams: &BTreeMap<String, UpstreamConfig>,
) -> Result<ApiConfig, Vec<Problem>> {
    let spec = &api.spec;
    let mut findings = Findings { api, problems: Vec::new() };

    let bound = plugins(&mut findings, group, snapshot);
    if let Some(caching) = &bound.caching {
        for name in &caching.spec.vary_by_parameters {
            if !spec.parameters.iter().any(|parameter| &parameter.name == name) {
                findings.add(
                    Accepted,
                    "UndeclaredParameter",
                    format!("Plugin {}: varyByParameters names {name}, which the Api does not declare", caching.plugin),
                );
            }
        }
    }
    if spec.auth.kind == AuthType::Jwt && bound.jwt_auth.is_none() {
        findings.add(
            Accepted,
            "JwtPluginMissing",
            "auth.type JWT needs a jwtAuth Plugin bound to the Api or its group".to_owned(),
        );
    }

    let path = match (PathTemplate::parse(&spec.request.path), base_path(group)) {
        (Ok(path), Ok(base)) => Some(path.under(&base)),
        (Err(error), _) => {
            findings.add(Accepted, "InvalidPath", format!("request.path: {error}"));
            None
        }
        (Ok(_), Err(_)) => None, // the group reports its own base path
    };
    check_parameters(&mut findings, path.as_ref());
    check_stages(&mut findings, group_config);
    let circuit_breaker = bound.circuit_breaker.map(|NamedPlugin { plugin, spec }| CircuitBreakerConfig {
        trip: match &spec.error_condition {
            Some(condition) => {
                BreakerTrip::Errors { condition: condition.clone(), threshold: spec.error_threshold.unwrap_or(1) }
            }
            None => BreakerTrip::Timeouts(spec.timeout_threshold.unwrap_or(1)),
        },
        window_seconds: spec.window_in_seconds,
        open_seconds: spec.open_timeout_seconds,
        downgrade: spec
            .downgrade_backend
            .as_ref()
            .and_then(|downgrade| backend(&mut findings, downgrade, group_config, snapshot, upstreams)),
        plugin,
    });
    let remote_auth = bound.remote_auth.and_then(|NamedPlugin { plugin, spec }| {
        let service = backend(&mut findings, &auth_service(&spec), group_config, snapshot, upstreams)?;
        Some(RemoteAuthConfig { plugin, spec, service })
    });
    let backend = backend(&mut findings, &spec.backend, group_config, snapshot, upstreams);
    let routing = routing(&mut findings, group, group_config, snapshot, upstreams);

    match (findings.problems.is_empty(), path, backend) {
        (true, Some(path), Some(backend)) => Ok(ApiConfig {
            name: api.name_any(),
            stages: spec.stages.iter().map(|stage| stage.0.clone()).collect(),
            protocols: spec.request.protocols.clone(),
            method: spec.request.method,
            path: path.to_string(),
            mode: spec.request.mode,
            parameters: spec.parameters.clone(),
            constant_parameters: spec.constant_parameters.clone(),
            system_parameters: spec.system_parameters.clone(),
            auth: spec.auth.clone(),
            backend,
            routing: routing.map(Box::new),
            access_control: bound.access_control.map(Box::new),
            error_mapping: bound.error_mapping.map(Box::new),
            ip_control: bound.ip_control.map(Box::new),
            cors: bound.cors.map(Box::new),
            traffic_control: bound.traffic_control.map(Box::new),
            backend_signature: bound.backend_signature.map(Box::new),
            jwt_auth: bound.jwt_auth.map(Box::new),
            basic_auth: bound.basic_auth.map(Box::new),
            caching: bound.caching.map(Box::new),
            circuit_breaker: circuit_breaker.map(Box::new),
            remote_auth: remote_auth.map(Box::new),
        }),
        _ => Err(findings.problems),
    }
}

fn check_parameters(findings: &mut Findings<'_>, path: Option<&PathTemplate>) {
    let parameters = &findings.api.spec.parameters;
    let mut seen = Vec::new();
    for parameter in parameters {
        let key = (parameter.location, parameter.name.to_ascii_lowercase());
        if seen.contains(&key) {
            findings.add(
                Accepted,
                "DuplicateParameter",
                format!("parameter {} is declared twice in {:?}", parameter.name, parameter.location),
            );
        }
        seen.push(key);
        if let Err(error) = ParameterCheck::compile(parameter) {
            findings.add(Accepted, "InvalidParameter", error.0);
        }
        if parameter.location == ParameterLocation::Path
            && let Some(path) = path
            && !path.params().any(|name| name == parameter.name)
        {
            findings.add(
                Accepted,
                "UnknownPathParameter",
                format!("PATH parameter {} does not appear in request.path", parameter.name),
            );
        }
    }
    let bodies = parameters.iter().filter(|parameter| parameter.location == ParameterLocation::Body).count();
    if bodies > 1 {
        findings.add(Accepted, "DuplicateParameter", "at most one BODY parameter may be declared".to_owned());
    }
}

fn check_stages(findings: &mut Findings<'_>, group: &GroupConfig) {
    if group.stages.is_empty() {
        return;
    }
    for stage in &findings.api.spec.stages {
        if !group.stages.contains_key(&stage.0) {
            let defined: Vec<_> = group.stages.keys().cloned().collect();
            findings.add(
                Accepted,
                "UnknownStage",
                format!(
                    "stage {} is not defined by ApiGroup {} (it defines {})",
                    stage.0,
                    group.name,
                    defined.join(", ")
                ),
            );
        }
    }
}

/// The Plugins bound to the Api — its own, then its group's for types it does not bind itself —
/// as served: access control, error mapping, IP control and CORS today; other types are refused
/// until they are run.
fn plugins(findings: &mut Findings<'_>, group: &ApiGroup, snapshot: &Snapshot) -> BoundPlugins {
    let api = findings.api;
    let namespace = api.namespace();
    let references =
        api.spec.plugins.iter().chain(&group.spec.plugins).filter(|plugin| plugin.kind == PluginKind::Plugin);
    let mut bound: Vec<(&'static str, &Plugin)> = Vec::new();
    for reference in references {
        let found = snapshot
            .plugins
            .iter()
            .find(|plugin| plugin.namespace() == namespace && plugin.name_any() == reference.name);
        let Some(plugin) = found else {
            let message = format!("Plugin {} does not exist in this namespace", reference.name);
            findings.add(ResolvedRefs, "PluginNotFound", message);
            continue;
        };
        let Some(kind) = plugin.spec.type_name() else {
            findings.add(
                ResolvedRefs,
                "PluginNotAccepted",
                format!("Plugin {} is not accepted; see its conditions", reference.name),
            );
            continue;
        };
        if !bound.iter().any(|(bound_kind, _)| *bound_kind == kind) {
            bound.push((kind, plugin));
        }
    }
    let mut served = BoundPlugins::default();
    for (kind, plugin) in bound {
        let name = plugin.name_any();
        if !super::plugin_problems(plugin).is_empty() {
            findings.add(
                ResolvedRefs,
                "PluginNotAccepted",
                format!("Plugin {name} is not accepted; see its conditions"),
            );
            continue;
        }
        let spec = &plugin.spec;
        match (kind, &spec.access_control, &spec.error_mapping, &spec.ip_control, &spec.cors) {
            (_, Some(access), ..) => {
                served.access_control = Some(AccessControlConfig {
                    plugin: name,
                    parameters: access
                        .parameters
                        .iter()
                        .map(|(name, source)| (name.clone(), source.0.clone()))
                        .collect(),
                    rules: access.rules.clone(),
                });
            }
            (_, _, Some(mapping), ..) => {
                served.error_mapping = Some(ErrorMappingConfig { plugin: name, mapping: mapping.clone() })
            }
            (_, _, _, Some(ip), _) => served.ip_control = Some(NamedPlugin { plugin: name, spec: ip.clone() }),
            (_, _, _, _, Some(cors)) => served.cors = Some(NamedPlugin { plugin: name, spec: cors.clone() }),
            _ if spec.backend_signature.is_some() => {
                let Some(signature) = &spec.backend_signature else { continue };
                let (namespace, secret) =
                    (plugin.namespace().unwrap_or_default(), &signature.credentials_secret_ref.name);
                match super::secret_data(snapshot, &namespace, secret) {
                    Some(data) if data.contains_key("appKey") && data.contains_key("appSecret") => {
                        served.backend_signature = Some(BackendSignatureConfig {
                            plugin: name.clone(),
                            kind: signature.kind,
                            secret: format!("{namespace}/{secret}"),
                            signature_method: signature.signature_method,
                        });
                    }
                    _ => findings.add(
                        ResolvedRefs,
                        "SecretNotFound",
                        format!("Plugin {name}: Secret {secret} with appKey and appSecret does not exist"),
                    ),
                }
            }
            _ if spec.jwt_auth.is_some() => {
                let Some(jwt) = &spec.jwt_auth else { continue };
                let namespace = plugin.namespace().unwrap_or_default();
                let problem = jwt_problem(jwt).or_else(|| {
                    let reference = jwt.key_secret_ref.as_ref()?;
                    jwks_secret_problem(snapshot, &namespace, &reference.name, &reference.key)
                });
                match problem {
                    Some((condition, reason, message)) => {
                        findings.add(condition, reason, format!("Plugin {name}: {message}"))
                    }
                    None => {
                        let key_secret =
                            jwt.key_secret_ref.as_ref().map(|secret| format!("{namespace}/{}", secret.name));
                        served.jwt_auth = Some(JwtAuthConfig { plugin: name, spec: jwt.clone(), key_secret });
                    }
                }
            }
            _ if spec.basic_auth.is_some() => {
                let Some(basic) = &spec.basic_auth else { continue };
                let namespace = plugin.namespace().unwrap_or_default();
                let reference = &basic.secret_ref;
                let users = super::secret_data(snapshot, &namespace, &reference.name)
                    .and_then(|mut data| data.remove(&reference.key));
                match users.map(|text| htpasswd::parse(&String::from_utf8_lossy(&text))) {
                    None => findings.add(
                        ResolvedRefs,
                        "SecretNotFound",
                        format!("Plugin {name}: Secret {} with key {} does not exist", reference.name, reference.key),
                    ),
                    Some(Err(problem)) => findings.add(
                        Accepted,
                        "InvalidUsers",
                        format!("Plugin {name}: Secret {} key {}: {problem}", reference.name, reference.key),
                    ),
                    Some(Ok(_)) => {
                        served.basic_auth = Some(BasicAuthConfig {
                            plugin: name,
                            secret: format!("{namespace}/{}", reference.name),
                            key: reference.key.clone(),
                            realm: basic.realm.clone().unwrap_or_else(|| "apigw".to_owned()),
                        })
                    }
                }
            }
            _ if spec.remote_auth.is_some() => {
                served.remote_auth = spec.remote_auth.clone().map(|remote| NamedPlugin { plugin: name, spec: remote });
            }
            _ if spec.caching.is_some() => {
                served.caching = spec.caching.clone().map(|caching| NamedPlugin { plugin: name, spec: caching });
            }
            _ if spec.circuit_breaker.is_some() => {
                served.circuit_breaker =
                    spec.circuit_breaker.clone().map(|breaker| NamedPlugin { plugin: name, spec: breaker });
            }
            _ if spec.traffic_control.is_some() => {
                served.traffic_control =
                    spec.traffic_control.clone().map(|limits| NamedPlugin { plugin: name, spec: limits });
            }
            (kind, ..) => {
                findings.add(Accepted, "UnsupportedPlugin", super::unsupported_plugin(&format!("{name} ({kind})")))
            }
        }
    }
    served
}

/// The Plugins an Api is served with.
#[derive(Default)]
struct BoundPlugins {
    access_control: Option<AccessControlConfig>,
    error_mapping: Option<ErrorMappingConfig>,
    ip_control: Option<NamedPlugin<IpControl>>,
    cors: Option<NamedPlugin<Cors>>,
    traffic_control: Option<NamedPlugin<TrafficControl>>,
    backend_signature: Option<BackendSignatureConfig>,
    jwt_auth: Option<JwtAuthConfig>,
    circuit_breaker: Option<NamedPlugin<CircuitBreaker>>,
    basic_auth: Option<BasicAuthConfig>,
    caching: Option<NamedPlugin<Caching>>,
    remote_auth: Option<NamedPlugin<RemoteAuth>>,
}

/// What is wrong with the JWKS a jwtAuth plugin reads from a Secret key, if anything.
fn jwks_secret_problem(
    snapshot: &Snapshot,
    namespace: &str,
    secret: &str,
    key: &str,
) -> Option<(ConditionType, &'static str, String)> {
    let Some(text) = super::secret_data(snapshot, namespace, secret).and_then(|mut data| data.remove(key)) else {
        return Some((
            ResolvedRefs,
            "SecretNotFound",
            format!("jwtAuth keySecretRef: Secret {secret} with key {key} does not exist"),
        ));
    };
    let keys =
        serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|jwks| jwks.get("keys")?.as_array().cloned());
    match keys {
        Some(keys)
            if !keys.is_empty() && keys.iter().all(|key| key.get("kty").is_some_and(serde_json::Value::is_string)) =>
        {
            None
        }
        _ => Some((
            Accepted,
            "InvalidKey",
            format!("jwtAuth keySecretRef: {secret}/{key} is not a JWKS ({{\"keys\": [{{\"kty\": ...}}]}})"),
        )),
    }
}

/// A jwtAuth key that cannot be one, if any (reported here so that a bad key does not make the
/// gateway refuse a whole config).
fn jwt_problem(jwt: &JwtAuth) -> Option<(ConditionType, &'static str, String)> {
    use base64::Engine;
    const ALGORITHMS: [&str; 9] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
    for (index, key) in jwt.jwk.iter().chain(&jwt.jwks).enumerate() {
        let name = key.kid.clone().unwrap_or_else(|| format!("#{index}"));
        let fields = [("n", &key.n), ("e", &key.e), ("x", &key.x), ("y", &key.y)];
        let undecodable = fields.iter().find(|(_, value)| {
            value.as_ref().is_some_and(|value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).is_err()
            })
        });
        let problem = match (undecodable, key.alg.as_deref(), key.crv.as_deref()) {
            (Some((field, _)), ..) => Some(format!("{field} is not base64url")),
            (_, Some(alg), _) if !ALGORITHMS.contains(&alg) => Some(format!("alg {alg} is not supported")),
            (_, _, Some(crv)) if !["P-256", "P-384", "Ed25519"].contains(&crv) => {
                Some(format!("crv {crv} is not supported (P-256, P-384, Ed25519)"))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return Some((Accepted, "InvalidKey", format!("jwtAuth key {name}: {problem}")));
        }
    }
    None
}

/// The Api's routing plugin (its own binding, else its group's), with every route's backend laid
/// over the Api's.
fn routing(
    findings: &mut Findings<'_>,
    group: &ApiGroup,
    group_config: &GroupConfig,
    snapshot: &Snapshot,
    upstreams: &BTreeMap<String, UpstreamConfig>,
) -> Option<RoutingConfig> {
    let api = findings.api;
    let is_routing = |plugin: &&PluginRef| plugin.kind == PluginKind::RoutingPlugin;
    let name =
        api.spec.plugins.iter().find(is_routing).or_else(|| group.spec.plugins.iter().find(is_routing))?.name.clone();
    let namespace = api.namespace();
    let Some(plugin) =
        snapshot.routing_plugins.iter().find(|plugin| plugin.namespace() == namespace && plugin.name_any() == name)
    else {
        findings.add(
            ResolvedRefs,
            "RoutingPluginNotFound",
            format!("RoutingPlugin {name} does not exist in this namespace"),
        );
        return None;
    };
    if !super::routing_plugin_problems(plugin).is_empty() {
        findings.add(
            ResolvedRefs,
            "RoutingPluginNotAccepted",
            format!("RoutingPlugin {name} is not accepted; see its conditions"),
        );
        return None;
    }
    let routes = plugin
        .spec
        .routes
        .iter()
        .map(|route| {
            let merged = overlay(&api.spec.backend, &route.backend);
            RouteConfig {
                name: route.name.clone(),
                condition: route.condition.clone(),
                backend: is_complete(&merged)
                    .then(|| backend(findings, &merged, group_config, snapshot, upstreams))
                    .flatten(),
                constant_parameters: route.constant_parameters.clone(),
            }
        })
        .collect();
    let parameters = plugin.spec.parameters.iter().map(|(name, source)| (name.clone(), source.0.clone())).collect();
    Some(RoutingConfig { plugin: name, parameters, routes })
}

/// A route's backend laid over the Api's: the route's fields win, the Api's fill the rest.
fn overlay(base: &Backend, route: &Backend) -> Backend {
    Backend {
        kind: route.kind,
        address: route.address.clone().or_else(|| base.address.clone()),
        vpc_access_name: route.vpc_access_name.clone().or_else(|| base.vpc_access_name.clone()),
        path: route.path.clone().or_else(|| base.path.clone()),
        method: route.method.or(base.method),
        protocol: route.protocol.or(base.protocol),
        timeout: route.timeout.or(base.timeout),
        status_code: route.status_code.or(base.status_code),
        body: route.body.clone().or_else(|| base.body.clone()),
        headers: if route.headers.is_empty() { base.headers.clone() } else { route.headers.clone() },
        retries: route.retries.clone().or_else(|| base.retries.clone()),
    }
}

/// The authentication service of a remoteAuth plugin, as a backend: its address or VpcAccess,
/// method and timeout (its path is the plugin's to add, after the address's own).
fn auth_service(remote: &RemoteAuth) -> Backend {
    let uri = &remote.auth_uri;
    let method = uri.method.unwrap_or(if remote.pass_through_body { HttpMethod::Post } else { HttpMethod::Get });
    Backend {
        kind: match remote.auth_uri_type {
            AuthUriType::Http => BackendType::Http,
            AuthUriType::HttpVpc => BackendType::HttpVpc,
        },
        address: uri.address.clone(),
        vpc_access_name: uri.vpc_access_name.clone(),
        path: None,
        method: Some(method),
        protocol: None,
        timeout: Some(uri.timeout.unwrap_or(DEFAULT_AUTH_TIMEOUT_MS)),
        status_code: None,
        body: None,
        headers: BTreeMap::new(),
        retries: None,
    }
}

/// Whether a backend has what its type needs.
fn is_complete(backend: &Backend) -> bool {
    match backend.kind {
        BackendType::Http | BackendType::Fc => backend.address.is_some(),
        BackendType::HttpVpc => backend.vpc_access_name.is_some(),
        BackendType::Mock => backend.status_code.is_some(),
    }
}

fn backend(
    findings: &mut Findings<'_>,
    backend: &Backend,
    group: &GroupConfig,
    snapshot: &Snapshot,
    upstreams: &BTreeMap<String, UpstreamConfig>,
) -> Option<BackendConfig> {
    let api = findings.api;
    if let Some(path) = &backend.path
        && let Err(error) = PathTemplate::parse(path)
    {
        findings.add(Accepted, "InvalidBackend", format!("backend.path: {error}"));
    }
    let namespace = api.namespace().unwrap_or_default();
    let mut config = BackendConfig {
        kind: backend.kind,
        address: None,
        upstream: None,
        path: backend.path.clone(),
        method: backend.method,
        timeout_ms: backend.timeout.unwrap_or(DEFAULT_TIMEOUT_MS),
        protocol: backend.protocol.unwrap_or_default(),
        mock: None,
        retries: backend.retries.as_ref().map(RetryConfig::from).unwrap_or_default(),
    };
    match backend.kind {
        BackendType::Http | BackendType::Fc => {
            let Some(address) = &backend.address else {
                findings.add(Accepted, "IncompleteBackend", "an HTTP or FC backend needs address".to_owned());
                return None;
            };
            check_address(findings, address, group);
            config.address = Some(address.clone());
        }
        BackendType::HttpVpc => {
            let Some(name) = &backend.vpc_access_name else {
                findings.add(Accepted, "IncompleteBackend", "an HTTP-VPC backend needs vpcAccessName".to_owned());
                return None;
            };
            let key = format!("{namespace}/{name}");
            if !upstreams.contains_key(&key) {
                let exists = snapshot
                    .vpc_accesses
                    .iter()
                    .any(|access| access.namespace().as_deref() == Some(&namespace) && &access.name_any() == name);
                let (reason, message) = if exists {
                    ("VpcAccessNotResolved", format!("VpcAccess {name} is not resolved; see its conditions"))
                } else {
                    ("VpcAccessNotFound", format!("VpcAccess {name} does not exist in this namespace"))
                };
                findings.add(ResolvedRefs, reason, message);
            }
            config.upstream = Some(key);
        }
        BackendType::Mock => {
            let Some(status_code) = backend.status_code else {
                findings.add(Accepted, "IncompleteBackend", "a MOCK backend needs statusCode".to_owned());
                return None;
            };
            config.mock = Some(MockConfig {
                status_code,
                headers: backend.headers.clone(),
                body: backend.body.clone().unwrap_or_default(),
            });
        }
    }
    Some(config)
}

/// An address must be an absolute http(s) URL once its `#variable#`s are replaced, in every
/// stage the Api is published to.
fn check_address(findings: &mut Findings<'_>, address: &str, group: &GroupConfig) {
    let stages: Vec<String> = findings.api.spec.stages.iter().map(|stage| stage.0.clone()).collect();
    for stage in stages {
        let variables = group.stages.get(&stage).cloned().unwrap_or_default();
        match substitute_variables(address, &variables) {
            Ok(url) if url.starts_with("http://") || url.starts_with("https://") => {}
            Ok(url) => findings.add(
                Accepted,
                "InvalidBackend",
                format!("stage {stage}: backend address {url:?} must start with http:// or https://"),
            ),
            Err(variable) => findings.add(
                Accepted,
                "UndefinedStageVariable",
                format!(
                    "backend address uses #{variable}#, which stage {stage} of ApiGroup {} does not define",
                    group.name
                ),
            ),
        }
    }
}

/// Replaces every `#name#` in `text` by the stage variable `name`; the error is the first name
/// without a value.
pub fn substitute_variables(text: &str, variables: &BTreeMap<String, String>) -> Result<String, String> {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('#') {
        let Some(length) = rest[start + 1..].find('#') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + length];
        let value = variables.get(name).ok_or_else(|| name.to_owned())?;
        result.push_str(&rest[..start]);
        result.push_str(value);
        rest = &rest[start + length + 2..];
    }
    result.push_str(rest);
    Ok(result)
}
