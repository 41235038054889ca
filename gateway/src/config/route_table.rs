//! The router: host (exact, then the longest `*.suffix`) -> method -> path (a radix trie per
//! method, whose lookup cost depends on the path, not on the number of APIs) -> stage.

use std::{collections::HashMap, sync::Arc};

use fnv::FnvHashMap;

use apigw_core::bundle::records::group_key;
use apigw_core::config::{ApiConfig, GatewayConfig};
use apigw_core::path_template::{PathTemplate, Segment};
use apigw_core::resources::HttpMethod;
use http::Method;

use crate::backend::upstream::Upstream;
use crate::config::api::{CompileError, CompiledApi};
use crate::config::reuse::{Compiled, CompiledRoutes, Inputs};
use crate::error::GatewayError;
use crate::secrets::Secrets;
use crate::telemetry::metrics::Metrics;

/// The stage served when a request names none.
pub const DEFAULT_STAGE: &str = "RELEASE";

/// Every route of a config, compiled; immutable once built.
#[derive(Debug, Default)]
pub struct RouteTable {
    public: Hosts,
    internal: Hosts,
    api_count: usize,
    /// What it compiled, for the next table to take over.
    compiled: Compiled,
}

#[derive(Debug, Default)]
struct Hosts {
    /// FNV: host names are short, and SipHash showed in per-request profiles.
    exact: FnvHashMap<String, Arc<HostRoutes>>,
    /// `(".example.com", routes)`, longest suffix first.
    wildcard: Vec<(String, Arc<HostRoutes>)>,
}

/// The routes of one host.
#[derive(Debug, Default)]
struct HostRoutes {
    /// One trie per method, indexed by [`method_index`]; the last is ANY.
    tries: [Option<matchit::Router<usize>>; METHODS],
    entries: Vec<RouteEntry>,
    /// The Apis it was built from, in the order added: a next table whose host has the very
    /// same takes it over instead of building it again.
    sources: Vec<Arc<CompiledRoutes>>,
}

/// The Apis of each host while a table is built, in the order they are added.
#[derive(Default)]
struct HostSources {
    exact: FnvHashMap<String, Vec<Arc<CompiledRoutes>>>,
    wildcard: Vec<(String, Vec<Arc<CompiledRoutes>>)>,
}

const METHODS: usize = 8;
const ANY: usize = METHODS - 1;

/// The APIs of one host, method and path, by stage.
#[derive(Debug, Default)]
struct RouteEntry {
    stages: Vec<Arc<CompiledApi>>,
}

/// A matched route: the API of the requested stage and the path parameters' raw values.
#[derive(Debug)]
pub struct RouteMatch<'a> {
    /// The API.
    pub api: &'a Arc<CompiledApi>,
    /// Path parameter values by position (still percent-encoded).
    pub params: Vec<&'a str>,
    /// What a trailing `*` matched (empty otherwise).
    pub rest: &'a str,
}

impl RouteTable {
    /// Compiles a config, taking each API's metric handles from `metrics` and, from `previous`
    /// (the table it replaces), every Api and upstream compiled from the same inputs; any error
    /// refuses the whole config. `kept` names (by [`api_key`](crate::config::reuse::api_key))
    /// Apis the config does not hold, taken over from `previous` as they are (a source that did
    /// not decode them again knows them unchanged): each must be one [`RouteTable::keeps`].
    pub fn compile(
        config: &GatewayConfig,
        kept: &[String],
        metrics: &Metrics,
        secrets: &Secrets,
        previous: Option<&RouteTable>,
    ) -> Result<Self, CompileError> {
        if config.format != apigw_core::config::CONFIG_FORMAT {
            return Err(CompileError::Format(config.format.clone()));
        }
        let was = previous.map(|table| &table.compiled);
        let mut compiled = Compiled::sized_as(was);
        let mut upstreams = HashMap::new();
        for (key, upstream) in &config.upstreams {
            let compiled = compiled.upstream(was, key, upstream, || {
                Upstream::from_config(upstream, metrics).map_err(|message| CompileError::Api {
                    namespace: key.clone(),
                    api: String::new(),
                    message,
                })
            })?;
            upstreams.insert(key.clone(), compiled);
        }
        let inputs = Inputs::new(config, secrets);
        let mut kept_by_group = kept_by_group(kept);
        let (mut public, mut internal) = (HostSources::default(), HostSources::default());
        let mut api_count = 0;
        for group in &config.groups {
            let group_key = group_key(group);
            let group_fingerprint = inputs.group(&group_key).expect("the inputs hold every group of the config");
            let kept = kept_by_group.remove(group_key.as_str()).unwrap_or_default();
            let mut apis = Vec::with_capacity(group.apis.len() + kept.len());
            // In name order, as a config holding every Api would have them: which of two routes
            // wins a path can depend on the order they were added in.
            for api in by_name(&group.apis, kept) {
                apis.push(match api {
                    Ok(api) => compiled.api(was, &inputs, (group, group_fingerprint), api, |stage| {
                        CompiledApi::compile(secrets, group, api, stage, &upstreams)
                    })?,
                    Err((_, key)) => {
                        compiled.kept(was, &inputs, group_fingerprint, key.to_owned()).map_err(CompileError::NotKept)?
                    }
                });
            }
            api_count += apis.len();
            for host in &group.hosts {
                public.of(host).extend(apis.iter().cloned());
            }
            if let Some(host) = &group.internal_host {
                internal.of(host).extend(apis.iter().cloned());
            }
        }
        if let Some((_, key)) = kept_by_group.into_values().flatten().next() {
            return Err(CompileError::NotKept(key.to_owned()));
        }
        Ok(RouteTable {
            public: public.build(previous.map(|table| &table.public))?,
            internal: internal.build(previous.map(|table| &table.internal))?,
            api_count,
            compiled,
        })
    }

    /// Whether [`RouteTable::compile`] can take Api `key` of group `group` (`namespace/name`)
    /// over from this table without its config, under the new config's `inputs`.
    pub fn keeps(&self, inputs: &Inputs, group: &str, key: &str) -> bool {
        self.compiled.keeps(inputs, group, key)
    }

    /// Removes the metric series of the APIs `previous` served and this table does not (once
    /// this table is the one served).
    pub fn forget_unserved(&self, previous: &RouteTable, metrics: &Metrics) {
        self.compiled.forget_unserved(&previous.compiled, metrics);
    }

    /// How many APIs the table serves.
    pub fn api_count(&self) -> usize {
        self.api_count
    }

    /// Finds the API for a request. `internal` selects the internal listener's hosts; `host` is
    /// lower-case without port; `stage` is `X-Ca-Stage` or [`DEFAULT_STAGE`].
    pub fn lookup<'a>(
        &'a self,
        internal: bool,
        host: &str,
        method: &Method,
        path: &'a str,
        stage: &str,
    ) -> Result<RouteMatch<'a>, GatewayError> {
        let hosts = if internal { &self.internal } else { &self.public };
        let routes = hosts.find(host).ok_or(GatewayError::UnknownHost)?;
        let found = method_index(method)
            .and_then(|index| routes.tries[index].as_ref()?.at(path).ok())
            .or_else(|| routes.tries[ANY].as_ref()?.at(path).ok())
            .ok_or(GatewayError::ApiNotFound)?;
        let entry = &routes.entries[*found.value];
        let api = entry.stages.iter().find(|api| api.stage.as_str() == stage).ok_or(GatewayError::InvalidStage)?;
        let mut params = Vec::with_capacity(found.params.len());
        let mut rest = "";
        for (key, value) in found.params.iter() {
            if key == "rest" { rest = value } else { params.push(value) }
        }
        Ok(RouteMatch { api, params, rest })
    }
}

impl Hosts {
    fn find(&self, host: &str) -> Option<&HostRoutes> {
        let routes = self.exact.get(host).or_else(|| {
            self.wildcard
                .iter()
                .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
                .map(|(_, routes)| routes)
        });
        routes.map(Arc::as_ref)
    }
}

impl HostSources {
    /// The Apis of `host` (`*.suffix` for a wildcard) so far.
    fn of(&mut self, host: &str) -> &mut Vec<Arc<CompiledRoutes>> {
        match host.strip_prefix('*') {
            Some(suffix) => {
                let index = match self.wildcard.iter().position(|(known, _)| known == suffix) {
                    Some(index) => index,
                    None => {
                        self.wildcard.push((suffix.to_owned(), Vec::new()));
                        self.wildcard.len() - 1
                    }
                };
                &mut self.wildcard[index].1
            }
            None => self.exact.entry(host.to_owned()).or_default(),
        }
    }

    /// The routes of every host: `previous`'s where built from the very same Apis, else built;
    /// wildcards longest suffix first.
    fn build(self, previous: Option<&Hosts>) -> Result<Hosts, CompileError> {
        let exact = self
            .exact
            .into_iter()
            .map(|(host, sources)| {
                let was = previous.and_then(|hosts| hosts.exact.get(&host));
                let routes = HostRoutes::keep_or_build(&host, sources, was)?;
                Ok((host, routes))
            })
            .collect::<Result<_, CompileError>>()?;
        let mut wildcard = self
            .wildcard
            .into_iter()
            .map(|(suffix, sources)| {
                let was = previous
                    .and_then(|hosts| hosts.wildcard.iter().find(|(known, _)| *known == suffix))
                    .map(|(_, routes)| routes);
                let routes = HostRoutes::keep_or_build(&format!("*{suffix}"), sources, was)?;
                Ok((suffix, routes))
            })
            .collect::<Result<Vec<_>, CompileError>>()?;
        wildcard.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        Ok(Hosts { exact, wildcard })
    }
}

impl HostRoutes {
    /// The routes of `host` from `sources`, in their order: `previous` when it was built from
    /// the very same compiled Apis, else built.
    fn keep_or_build(
        host: &str,
        sources: Vec<Arc<CompiledRoutes>>,
        previous: Option<&Arc<HostRoutes>>,
    ) -> Result<Arc<Self>, CompileError> {
        let same = |was: &&Arc<HostRoutes>| {
            was.sources.len() == sources.len() && was.sources.iter().zip(&sources).all(|(a, b)| Arc::ptr_eq(a, b))
        };
        if let Some(was) = previous.filter(same) {
            return Ok(was.clone());
        }
        let mut routes = HostRoutes::default();
        // Trie key -> entry index, per trie, to merge the stages of one path.
        let mut keys: [FnvHashMap<String, usize>; METHODS] = Default::default();
        for source in &sources {
            let route_error = |path: &str, message: String| CompileError::Route {
                host: host.to_owned(),
                path: path.to_owned(),
                message,
            };
            let template = PathTemplate::parse(&source.path).map_err(|e| route_error(&source.path, e.to_string()))?;
            let trie = trie_index(source.method);
            for (key, exact) in trie_keys(&template) {
                let entry = match keys[trie].get(&key) {
                    Some(&entry) => entry,
                    None => {
                        let router = routes.tries[trie].get_or_insert_with(matchit::Router::new);
                        match router.insert(key.clone(), routes.entries.len()) {
                            Ok(()) => {}
                            // A prefix's extra forms may be taken by an exact route: the exact one wins.
                            Err(_) if !exact => continue,
                            Err(error) => return Err(route_error(&key, error.to_string())),
                        }
                        keys[trie].insert(key, routes.entries.len());
                        routes.entries.push(RouteEntry::default());
                        routes.entries.len() - 1
                    }
                };
                routes.entries[entry].stages.extend(source.stages.iter().cloned());
            }
        }
        routes.entries.shrink_to_fit();
        routes.sources = sources;
        Ok(Arc::new(routes))
    }
}

/// The trie of a method, as [`method_index`] numbers them.
fn trie_index(method: HttpMethod) -> usize {
    match method {
        HttpMethod::Get => 0,
        HttpMethod::Post => 1,
        HttpMethod::Put => 2,
        HttpMethod::Delete => 3,
        HttpMethod::Patch => 4,
        HttpMethod::Head => 5,
        HttpMethod::Options => 6,
        HttpMethod::Any => ANY,
    }
}

/// The trie keys of a template, each with whether it is the template's own form: parameters are
/// named by position (`{p0}`), and a prefix `/a/*` is `/a/{*rest}` plus `/a` and `/a/`.
fn trie_keys(template: &PathTemplate) -> Vec<(String, bool)> {
    let mut base = String::new();
    for (index, segment) in template.segments().iter().enumerate() {
        base.push('/');
        match segment {
            Segment::Literal(text) => base.push_str(text),
            Segment::Param(_) => base.push_str(&format!("{{p{index}}}")),
        }
    }
    if !template.is_prefix() {
        if base.is_empty() {
            base.push('/');
        }
        return vec![(base, true)];
    }
    let root = if base.is_empty() { "/".to_owned() } else { base.clone() };
    let mut keys = vec![(format!("{base}/{{*rest}}"), true), (root, false)];
    if !base.is_empty() {
        keys.push((format!("{base}/"), false));
    }
    keys
}

/// A kept Api: its name and its key (`namespace/group/name`).
type KeptApi<'a> = (&'a str, &'a str);

/// Kept Api keys (`namespace/group/name`) by group (`namespace/group`), each group's sorted by name.
fn kept_by_group(kept: &[String]) -> HashMap<&str, Vec<KeptApi<'_>>> {
    let mut by_group: HashMap<&str, Vec<KeptApi<'_>>> = HashMap::new();
    for key in kept {
        let (group, name) = key.rsplit_once('/').unwrap_or(("", key));
        by_group.entry(group).or_default().push((name, key));
    }
    for names in by_group.values_mut() {
        names.sort_unstable();
    }
    by_group
}

/// A group's Apis (sorted by name) and its kept ones (sorted by name), merged in name order:
/// `Ok` a config, `Err` a kept Api.
fn by_name<'a>(
    apis: &'a [Arc<ApiConfig>],
    kept: Vec<KeptApi<'a>>,
) -> impl Iterator<Item = Result<&'a ApiConfig, KeptApi<'a>>> {
    let (mut apis, mut kept) = (apis.iter().peekable(), kept.into_iter().peekable());
    std::iter::from_fn(move || match (apis.peek(), kept.peek()) {
        (Some(api), Some((name, _))) if api.name.as_str() > *name => kept.next().map(Err),
        (Some(_), _) => apis.next().map(|api| Ok(&**api)),
        (None, _) => kept.next().map(Err),
    })
}

fn method_index(method: &Method) -> Option<usize> {
    Some(match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::PATCH => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reuse::tests::{YAML, compile};

    #[test]
    fn a_reload_builds_again_only_the_routes_of_hosts_whose_apis_changed() {
        let metrics = Metrics::default();
        let first = compile(YAML, &metrics, None);
        let kept_from =
            |next: &RouteTable, host: &str| Arc::ptr_eq(&first.public.exact[host], &next.public.exact[host]);
        let same = compile(YAML, &metrics, Some(&first));
        assert!(kept_from(&same, "staff.example.com") && kept_from(&same, "shop.example.com"));

        let hello_changed = compile(&YAML.replace("body: hello", "body: bonjour"), &metrics, Some(&first));
        assert!(kept_from(&hello_changed, "staff.example.com"));
        assert!(!kept_from(&hello_changed, "shop.example.com"));
        let routed = |table: &RouteTable, path: &str| {
            table.lookup(false, "shop.example.com", &Method::GET, path, DEFAULT_STAGE).map(|found| found.api.clone())
        };
        assert!(!Arc::ptr_eq(&routed(&first, "/hello").unwrap(), &routed(&hello_changed, "/hello").unwrap()));
        assert!(Arc::ptr_eq(&routed(&first, "/orders").unwrap(), &routed(&hello_changed, "/orders").unwrap()));

        let without_orders = YAML.split("---").filter(|document| !document.contains("name: orders}"));
        let removed = compile(&without_orders.collect::<Vec<_>>().join("---"), &metrics, Some(&first));
        assert!(kept_from(&removed, "staff.example.com") && !kept_from(&removed, "shop.example.com"));
        assert!(matches!(routed(&removed, "/orders"), Err(GatewayError::ApiNotFound)));
        assert_eq!(removed.api_count(), 2);
    }
}
