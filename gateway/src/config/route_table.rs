//! The router: host (exact, then the longest `*.suffix`) -> method -> path (a radix trie per
//! method, whose lookup cost depends on the path, not on the number of APIs) -> stage.

use std::{collections::HashMap, sync::Arc};

use fnv::FnvHashMap;

use apigw_core::bundle::records::group_key;
use apigw_core::config::{ApiConfig, GatewayConfig, GroupConfig};
use apigw_core::path_template::{PathTemplate, Segment};
use apigw_core::resources::HttpMethod;
use http::Method;

use crate::backend::upstream::Upstream;
use crate::config::api::{CompileError, CompiledApi};
use crate::config::reuse::{Compiled, CompiledRoutes, Inputs, api_key};
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
    exact: FnvHashMap<String, HostRoutes>,
    /// `(".example.com", routes)`, longest suffix first.
    wildcard: Vec<(String, HostRoutes)>,
}

/// The routes of one host.
#[derive(Debug, Default)]
struct HostRoutes {
    /// One trie per method, indexed by [`method_index`]; the last is ANY.
    tries: [Option<matchit::Router<usize>>; METHODS],
    entries: Vec<RouteEntry>,
    /// Trie key -> entry index, per trie, to merge the stages of one path (while building).
    keys: HashMap<(usize, String), usize>,
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
    /// refuses the whole config. `kept` names (by [`api_key`]) Apis the config does not hold,
    /// taken over from `previous` as they are (a source that did not decode them again knows
    /// them unchanged): each must be one [`RouteTable::keeps`].
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
        let previous = previous.map(|table| &table.compiled);
        let mut compiled = Compiled::default();
        let mut upstreams = HashMap::new();
        for (key, upstream) in &config.upstreams {
            let compiled = compiled.upstream(previous, key, upstream, || {
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
        let mut table = RouteTable::default();
        for group in &config.groups {
            let group_key = group_key(group);
            let group_fingerprint = inputs.group(&group_key).expect("the inputs hold every group of the config");
            let kept = kept_by_group.remove(group_key.as_str()).unwrap_or_default();
            // In name order, as a config holding every Api would have them: which of two routes
            // wins a path can depend on the order they were added in.
            for api in by_name(&group.apis, kept) {
                let routes = match api {
                    Ok(api) => compiled.api(previous, &inputs, (group, group_fingerprint), api, |stage| {
                        CompiledApi::compile(secrets, group, api, stage, &upstreams)
                    })?,
                    Err(name) => {
                        let key = api_key(group, name);
                        compiled.kept(previous, &inputs, group_fingerprint, &key).ok_or(CompileError::NotKept(key))?
                    }
                };
                table.insert(group, &routes)?;
            }
        }
        if let Some(key) = kept_by_group.into_values().flatten().next() {
            return Err(CompileError::NotKept(key.to_owned()));
        }
        table.public.finish();
        table.internal.finish();
        table.compiled = compiled;
        Ok(table)
    }

    /// Whether [`RouteTable::compile`] can take Api `key` of group `group` (`namespace/name`)
    /// over from this table without its config, under the new config's `inputs`.
    pub fn keeps(&self, inputs: &Inputs, group: &str, key: &str) -> bool {
        self.compiled.keeps(inputs, group, key)
    }

    /// Adds the routes of one Api of `group`.
    fn insert(&mut self, group: &GroupConfig, routes: &CompiledRoutes) -> Result<(), CompileError> {
        self.api_count += 1;
        let template = PathTemplate::parse(&routes.path).map_err(|e| CompileError::Api {
            namespace: group.namespace.clone(),
            api: routes.stages.first().map(|api| api.name.to_string()).unwrap_or_default(),
            message: e.to_string(),
        })?;
        for compiled in &routes.stages {
            for host in &group.hosts {
                self.public.routes_mut(host).insert(routes.method, &template, compiled, host)?;
            }
            if let Some(host) = &group.internal_host {
                self.internal.routes_mut(host).insert(routes.method, &template, compiled, host)?;
            }
        }
        Ok(())
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
    fn routes_mut(&mut self, host: &str) -> &mut HostRoutes {
        match host.strip_prefix('*') {
            Some(suffix) => {
                let index = match self.wildcard.iter().position(|(known, _)| known == suffix) {
                    Some(index) => index,
                    None => {
                        self.wildcard.push((suffix.to_owned(), HostRoutes::default()));
                        self.wildcard.len() - 1
                    }
                };
                &mut self.wildcard[index].1
            }
            None => self.exact.entry(host.to_owned()).or_default(),
        }
    }

    /// Orders the wildcards longest suffix first and lets go of what only building needed.
    fn finish(&mut self) {
        self.wildcard.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        for routes in self.exact.values_mut().chain(self.wildcard.iter_mut().map(|(_, routes)| routes)) {
            routes.keys = HashMap::new();
            routes.entries.shrink_to_fit();
        }
    }

    fn find(&self, host: &str) -> Option<&HostRoutes> {
        self.exact.get(host).or_else(|| {
            self.wildcard
                .iter()
                .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
                .map(|(_, routes)| routes)
        })
    }
}

impl HostRoutes {
    fn insert(
        &mut self,
        method: HttpMethod,
        template: &PathTemplate,
        api: &Arc<CompiledApi>,
        host: &str,
    ) -> Result<(), CompileError> {
        let trie = match method {
            HttpMethod::Get => 0,
            HttpMethod::Post => 1,
            HttpMethod::Put => 2,
            HttpMethod::Delete => 3,
            HttpMethod::Patch => 4,
            HttpMethod::Head => 5,
            HttpMethod::Options => 6,
            HttpMethod::Any => ANY,
        };
        for (key, exact) in trie_keys(template) {
            let entry = match self.keys.get(&(trie, key.clone())) {
                Some(&entry) => entry,
                None => {
                    let router = self.tries[trie].get_or_insert_with(matchit::Router::new);
                    match router.insert(key.clone(), self.entries.len()) {
                        Ok(()) => {}
                        // A prefix's extra forms may be taken by an exact route: the exact one wins.
                        Err(_) if !exact => continue,
                        Err(error) => {
                            return Err(CompileError::Route {
                                host: host.to_owned(),
                                path: key,
                                message: error.to_string(),
                            });
                        }
                    }
                    self.keys.insert((trie, key), self.entries.len());
                    self.entries.push(RouteEntry::default());
                    self.entries.len() - 1
                }
            };
            self.entries[entry].stages.push(api.clone());
        }
        Ok(())
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

/// Kept Api keys (`namespace/group/name`) by group (`namespace/group`), each group's names sorted.
fn kept_by_group(kept: &[String]) -> HashMap<&str, Vec<&str>> {
    let mut by_group: HashMap<&str, Vec<&str>> = HashMap::new();
    for key in kept {
        let (group, name) = key.rsplit_once('/').unwrap_or(("", key));
        by_group.entry(group).or_default().push(name);
    }
    for names in by_group.values_mut() {
        names.sort_unstable();
    }
    by_group
}

/// A group's Apis (sorted by name) and the names of its kept ones (sorted), merged in name
/// order: `Ok` a config, `Err` a kept name.
fn by_name<'a>(apis: &'a [Arc<ApiConfig>], kept: Vec<&'a str>) -> impl Iterator<Item = Result<&'a ApiConfig, &'a str>> {
    let (mut apis, mut kept) = (apis.iter().peekable(), kept.into_iter().peekable());
    std::iter::from_fn(move || match (apis.peek(), kept.peek()) {
        (Some(api), Some(name)) if api.name.as_str() > *name => kept.next().map(Err),
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
