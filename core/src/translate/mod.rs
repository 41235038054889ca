//! Translation: a snapshot of custom resources (and the Secrets, Services and EndpointSlices they
//! reference) -> one [`GatewayConfig`] per gateway instance, plus the problems found, each
//! attached to the object at fault. Pure: no I/O, no clock.

mod api;
mod app;
mod conditions;
mod conflict;
mod group;
mod last_good;
mod problem;
mod reuse;
mod upstream;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Resource, ResourceExt};

pub use api::{DEFAULT_TIMEOUT_MS, substitute_variables};
pub use conditions::{UNSERVED_SYSTEM_PARAMETERS, is_system_parameter};
pub use group::INTERNAL_DOMAIN_SUFFIX;
pub use last_good::keep_last_good;
pub use problem::{ConditionType, ObjectRef, Problem};
pub use reuse::Reuse;
use reuse::Translated;
pub use upstream::ALLOW_VPC_ACCESS_FROM;

use crate::bundle::SecretData;
use crate::config::{GatewayConfig, GroupConfig};
use crate::resources::{
    Api, ApiGroup, App, AuthParameterLocation, ParameterSource, Plugin, RemoteAuth, RoutingPlugin, VpcAccess,
};

/// Every object translation reads, each shared (the operator takes a snapshot of its caches per
/// pass: at 20,000 Apis a deep copy and its drop took about 0.2 s).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// ApiGroups.
    pub groups: Vec<Arc<ApiGroup>>,
    /// Apis.
    pub apis: Vec<Arc<Api>>,
    /// RoutingPlugins.
    pub routing_plugins: Vec<Arc<RoutingPlugin>>,
    /// VpcAccesses.
    pub vpc_accesses: Vec<Arc<VpcAccess>>,
    /// Apps.
    pub apps: Vec<Arc<App>>,
    /// Plugins.
    pub plugins: Vec<Arc<Plugin>>,
    /// Secrets referenced by the above.
    pub secrets: Vec<Arc<Secret>>,
    /// Services referenced by VpcAccesses.
    pub services: Vec<Arc<Service>>,
    /// EndpointSlices of those Services.
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
}

/// What a snapshot translates to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Translation {
    /// One document per gateway instance that has at least one group.
    pub configs: BTreeMap<String, GatewayConfig>,
    /// Everything wrong, sorted; each object named here is left out of the configs.
    pub problems: Vec<Problem>,
}

/// Translates a snapshot. Objects with problems are left out; everything else is served.
pub fn translate(snapshot: &Snapshot) -> Translation {
    translate_reusing(snapshot, &mut Reuse::default())
}

/// [`translate`], reusing the Api translations of the last pass (`reuse`, which then holds
/// this pass's) while no other input changed.
pub fn translate_reusing(snapshot: &Snapshot, reuse: &mut Reuse) -> Translation {
    let mut problems = Vec::new();

    // Groups in `namespace/name` order, as the configs list them.
    let mut groups = BTreeMap::new();
    for group in &snapshot.groups {
        match group::translate(group, snapshot) {
            Ok(config) => {
                groups.insert(group_key(group.namespace(), &group.name_any()), (group, config));
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    let mut groups: Vec<(String, (&Arc<ApiGroup>, GroupConfig))> = groups.into_iter().collect();

    for plugin in &snapshot.routing_plugins {
        problems.append(&mut routing_plugin_problems(plugin));
    }
    for plugin in &snapshot.plugins {
        problems.append(&mut plugin_problems(plugin));
    }

    let mut upstreams = BTreeMap::new();
    for access in &snapshot.vpc_accesses {
        match upstream::resolve(access, snapshot) {
            Ok(upstream) => {
                upstreams.insert(group_key(access.namespace(), &access.name_any()), upstream);
            }
            Err(problem) => problems.push(problem),
        }
    }

    let mut candidates = Vec::with_capacity(snapshot.apis.len());
    let mut pass = reuse.begin(snapshot);
    let mut key = String::new();
    for api in &snapshot.apis {
        key.clear();
        key.push_str(api.meta().namespace.as_deref().unwrap_or_default());
        key.push('/');
        key.push_str(&api.spec.group_ref);
        let Ok(position) = groups.binary_search_by(|(group, _)| group.as_str().cmp(&key)) else {
            problems.push(missing_group(api, snapshot));
            continue;
        };
        let (group, group_config) = &groups[position].1;
        let translated = pass.translate(api, || {
            let config = api::translate(api, group, group_config, snapshot, &upstreams)?;
            Ok(Arc::new(Translated { shape: conflict::path_shape(&config.path), config: Arc::new(config) }))
        });
        match translated {
            Ok(translated) => candidates.push(conflict::Candidate { api, group: position, translated }),
            Err(mut found) => problems.append(&mut found),
        }
    }
    reuse.end(pass);
    let hosts: Vec<Vec<&str>> = groups
        .iter()
        .map(|(_, (_, config))| config.hosts.iter().chain(&config.internal_host).map(String::as_str).collect())
        .collect();
    let (wins, mut conflicts) = conflict::resolve(&candidates, &hosts);
    problems.append(&mut conflicts);
    // Each group's Apis go in by name.
    let mut winners: Vec<&conflict::Candidate<'_>> =
        candidates.iter().zip(wins).filter_map(|(candidate, wins)| wins.then_some(candidate)).collect();
    winners.sort_unstable_by(|a, b| a.translated.config.name.cmp(&b.translated.config.name));
    for winner in winners {
        let (_, (_, group_config)) = &mut groups[winner.group];
        group_config.apis.push(winner.translated.config.clone());
    }

    let mut configs: BTreeMap<String, GatewayConfig> = BTreeMap::new();
    for (_, (group, group_config)) in groups {
        let config =
            configs.entry(group.spec.instance.clone()).or_insert_with(|| GatewayConfig::empty(&group.spec.instance));
        for key in group_config.apis.iter().flat_map(|api| api.upstream_refs()) {
            if let Some(upstream) = upstreams.get(key) {
                config.upstreams.insert(key.clone(), upstream.clone());
            }
        }
        config.groups.push(group_config);
    }
    // Apps: one per AppKey (the first created wins), served by every instance of their namespace.
    let mut apps: Vec<&App> = snapshot.apps.iter().map(|app| &**app).collect();
    apps.sort_by_key(|app| (app.creation_timestamp().map(|time| time.0), object_ref(*app)));
    let mut keys: Vec<String> = Vec::new();
    for app in apps {
        match app::translate(app, snapshot) {
            Err(mut found) => problems.append(&mut found),
            Ok((_, key)) if keys.contains(&key) => problems.push(Problem {
                object: object_ref(app),
                condition: ConditionType::Accepted,
                reason: "Conflict",
                message: "another App already uses this appKey".to_owned(),
            }),
            Ok((config, key)) => {
                keys.push(key);
                for instance in configs.values_mut() {
                    if instance.groups.iter().any(|group| group.namespace == config.namespace) {
                        instance.apps.push(config.clone());
                    }
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    Translation { configs, problems }
}

/// The data of the Secret `namespace/name` (`data` and `stringData` merged), if it exists.
pub fn secret_data(snapshot: &Snapshot, namespace: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    let secret = snapshot.secrets.iter().find(|secret| {
        secret.metadata.namespace.as_deref() == Some(namespace) && secret.metadata.name.as_deref() == Some(name)
    })?;
    let mut data: BTreeMap<String, Vec<u8>> =
        secret.data.iter().flatten().map(|(key, value)| (key.clone(), value.0.clone())).collect();
    for (key, value) in secret.string_data.iter().flatten() {
        data.insert(key.clone(), value.clone().into_bytes());
    }
    Some(data)
}

/// The data of every Secret `config` references (TLS certificates, App credentials, backend
/// signature keys, JWKS), by `namespace/name`; missing Secrets are left out.
pub fn referenced_secrets(config: &GatewayConfig, snapshot: &Snapshot) -> SecretData {
    let tls = config.groups.iter().flat_map(|group| &group.tls).map(|binding| &binding.secret);
    let apis = config.groups.iter().flat_map(|group| &group.apis).flat_map(|api| api.secret_refs());
    let references = tls.chain(config.apps.iter().map(|app| &app.secret)).chain(apis);
    references
        .filter_map(|reference| {
            let (namespace, name) = reference.split_once('/')?;
            Some((reference.clone(), secret_data(snapshot, namespace, name)?))
        })
        .collect()
}

/// The objects `config` serves: its ApiGroups, Apis, the RoutingPlugins and Plugins they bind,
/// the VpcAccesses they use and its Apps.
pub fn members(config: &GatewayConfig) -> HashSet<ObjectRef> {
    let named = |kind: &'static str, namespace: &str, name: &str| ObjectRef {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let mut members = HashSet::new();
    for group in &config.groups {
        let namespace = group.namespace.as_str();
        members.insert(named("ApiGroup", namespace, &group.name));
        for api in &group.apis {
            members.insert(named("Api", namespace, &api.name));
            if let Some(routing) = &api.routing {
                members.insert(named("RoutingPlugin", namespace, &routing.plugin));
            }
            let plugins = [
                api.access_control.as_ref().map(|plugin| &plugin.plugin),
                api.error_mapping.as_ref().map(|plugin| &plugin.plugin),
                api.ip_control.as_ref().map(|plugin| &plugin.plugin),
                api.cors.as_ref().map(|plugin| &plugin.plugin),
                api.traffic_control.as_ref().map(|plugin| &plugin.plugin),
                api.jwt_auth.as_ref().map(|plugin| &plugin.plugin),
                api.backend_signature.as_ref().map(|plugin| &plugin.plugin),
            ];
            members.extend(plugins.into_iter().flatten().map(|name| named("Plugin", namespace, name)));
        }
    }
    for key in config.upstreams.keys() {
        if let Some((namespace, name)) = key.split_once('/') {
            members.insert(named("VpcAccess", namespace, name));
        }
    }
    members.extend(config.apps.iter().map(|app| named("App", &app.namespace, &app.name)));
    members
}

/// Everything wrong with a RoutingPlugin.
fn routing_plugin_problems(plugin: &RoutingPlugin) -> Vec<Problem> {
    let routes = plugin.spec.routes.iter().map(|route| ("route", route.name.as_str(), route.condition.as_str()));
    conditions::check(&object_ref(plugin), &plugin.spec.parameters, routes)
}

/// Everything wrong with a Plugin: not exactly one type set (the API server refuses that too; a
/// manifest file is not checked by it), or bad conditions.
fn plugin_problems(plugin: &Plugin) -> Vec<Problem> {
    let spec = &plugin.spec;
    if spec.type_name().is_none() {
        let message = "set exactly one plugin type: jwtAuth, basicAuth, remoteAuth, backendSignature, trafficControl, ipControl, cors, accessControl, errorMapping, circuitBreaker or caching";
        return vec![Problem {
            object: object_ref(plugin),
            condition: ConditionType::Accepted,
            reason: "InvalidPluginType",
            message: message.to_owned(),
        }];
    }
    let object = object_ref(plugin);
    if let Some(access) = &spec.access_control {
        let rules = access.rules.iter().map(|rule| ("rule", rule.name.as_str(), rule.condition.as_str()));
        return conditions::check(&object, &access.parameters, rules);
    }
    if let Some(limits) = &spec.traffic_control {
        let specials_ok = limits
            .specials
            .iter()
            .flat_map(|special| &special.policies)
            .all(|policy| policy.value <= limits.api_default);
        let users_ok = limits.user_default.is_none_or(|user| user <= limits.api_default);
        let apps_ok = limits.app_default.is_none_or(|app| app <= limits.user_default.unwrap_or(limits.api_default));
        if !(specials_ok && users_ok && apps_ok) {
            return vec![Problem {
                object,
                condition: ConditionType::Accepted,
                reason: "InvalidLimits",
                message: "limits must keep appDefault <= userDefault <= apiDefault and every special <= apiDefault"
                    .to_owned(),
            }];
        }
    }
    if let Some(mapping) = &spec.error_mapping {
        let mut problems =
            conditions::check(&object, &mapping.parameters, [("errorCondition", "", mapping.error_condition.as_str())]);
        if let Some(code) = &mapping.error_code
            && !mapping.parameters.contains_key(code)
        {
            problems.push(Problem {
                object,
                condition: ConditionType::Accepted,
                reason: "UndeclaredParameter",
                message: format!("errorCode {code:?} is not one of the declared parameters"),
            });
        }
        return problems;
    }
    if let Some(remote) = &spec.remote_auth {
        return remote_auth_problems(object, remote);
    }
    if let Some(condition) = spec.circuit_breaker.as_ref().and_then(|breaker| breaker.error_condition.as_ref()) {
        // Its one parameter is the backend answer's status.
        let status = BTreeMap::from([("StatusCode".to_owned(), ParameterSource("StatusCode".to_owned()))]);
        return conditions::check(&object, &status, [("errorCondition", "", condition.as_str())]);
    }
    Vec::new()
}

/// What is wrong with a remoteAuth plugin: its condition, its answer parameters' sources (only
/// the authentication answer's), and its header names.
fn remote_auth_problems(object: ObjectRef, remote: &RemoteAuth) -> Vec<Problem> {
    let condition = remote.success_condition.iter().map(|condition| ("successCondition", "", condition.as_str()));
    let mut problems = conditions::check(&object, &remote.parameters, condition);
    for (name, source) in &remote.parameters {
        let location = source.0.split_once(':').map_or(source.0.as_str(), |(location, _)| location);
        if !["statuscode", "header", "bodyjson", "bodyjsonfield"].contains(&location.to_ascii_lowercase().as_str()) {
            problems.push(Problem {
                object: object.clone(),
                condition: ConditionType::Accepted,
                reason: "InvalidParameterSource",
                message: format!(
                    "parameter {name}: {:?} is not in the authentication answer (StatusCode, Header:x, BodyJsonField:$.a)",
                    source.0
                ),
            });
        }
    }
    let headers = remote.auth_parameters.iter().flat_map(|parameter| {
        let source = (parameter.source_location == AuthParameterLocation::Header)
            .then_some(parameter.source_parameter_name.as_str());
        let target = (parameter.target_location == AuthParameterLocation::Header)
            .then_some(parameter.target_parameter_name.as_str());
        source.into_iter().chain(target)
    });
    for header in headers.chain(remote.auth_response_headers.iter().map(String::as_str)) {
        if !is_header_name(header) {
            problems.push(Problem {
                object: object.clone(),
                condition: ConditionType::Accepted,
                reason: "InvalidHeaderName",
                message: format!("{header:?} is not a valid HTTP header name"),
            });
        }
    }
    problems
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// Why a bound plugin refuses its object until plugins are run by the gateway.
fn unsupported_plugin(name: &str) -> String {
    format!("plugin {name} is bound, but this gateway version does not run plugins yet; unbind it")
}

/// The `namespace/name` key of an object in `namespace`.
fn group_key(namespace: Option<String>, name: &str) -> String {
    format!("{}/{name}", namespace.unwrap_or_default())
}

fn missing_group(api: &Api, snapshot: &Snapshot) -> Problem {
    let exists = snapshot
        .groups
        .iter()
        .any(|group| group.namespace() == api.namespace() && group.name_any() == api.spec.group_ref);
    let (reason, message) = if exists {
        ("GroupNotAccepted", format!("ApiGroup {} is not accepted; see its conditions", api.spec.group_ref))
    } else {
        ("GroupNotFound", format!("ApiGroup {} does not exist in this namespace", api.spec.group_ref))
    };
    Problem { object: object_ref(api), condition: ConditionType::ResolvedRefs, reason, message }
}

/// The [`ObjectRef`] of a resource.
pub fn object_ref<K: Resource<DynamicType = ()>>(object: &K) -> ObjectRef {
    ObjectRef {
        kind: kind_name::<K>(),
        namespace: object.meta().namespace.clone().unwrap_or_default(),
        name: object.meta().name.clone().unwrap_or_default(),
    }
}

fn kind_name<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()) {
        std::borrow::Cow::Borrowed(kind) => kind,
        std::borrow::Cow::Owned(_) => "Object",
    }
}

#[cfg(test)]
mod tests;
