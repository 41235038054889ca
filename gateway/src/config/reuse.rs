//! What one compiled config hands the next: each compiled Api by a fingerprint of everything it
//! was compiled from, and each upstream by its config. A reload compiles only what changed; what
//! did not keeps its state (circuit breakers, traffic-control windows, endpoint ejections). An
//! Api whose config the source did not decode again (its shard unchanged) is taken over by its
//! key alone when its group, Secrets and upstreams fingerprint as before.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use apigw_core::bundle::records::group_key;
use apigw_core::config::{ApiConfig, GatewayConfig, GroupConfig, UpstreamConfig};
use apigw_core::resources::HttpMethod;

use crate::backend::upstream::Upstream;
use crate::config::api::CompiledApi;
use crate::secrets::Secrets;
use crate::telemetry::metrics::Metrics;

/// A map looked up for every Api of a reload: foldhash (seeded at random), where SipHash showed
/// in the profile of a reload at 20,000 Apis.
type ReloadMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Compiled Apis and upstreams of one table, ready for the next to take over.
#[derive(Debug, Default)]
pub struct Compiled {
    /// By [`api_key`].
    apis: ReloadMap<String, Arc<CompiledRoutes>>,
    /// By `namespace/name`: the config and the result.
    upstreams: HashMap<String, (UpstreamConfig, Arc<Upstream>)>,
}

/// One Api compiled in each of its stages, with what routing it again and taking it over need.
#[derive(Debug)]
pub struct CompiledRoutes {
    /// Its method.
    pub method: HttpMethod,
    /// Its path template, as configured.
    pub path: String,
    /// The compiled Api of each stage.
    pub stages: Vec<Arc<CompiledApi>>,
    /// The hash of its own config.
    own: u64,
    /// The Secrets and upstreams it names.
    refs: Vec<String>,
    /// The hash of everything it was compiled from.
    fingerprint: u64,
}

/// What a compiled Api's fingerprint reads from a config besides the Api itself: its group's,
/// the Secrets' and the upstreams'.
pub struct Inputs<'a> {
    /// Group fingerprints by `namespace/name`.
    groups: ReloadMap<String, u64>,
    /// Upstream config hashes by key.
    upstreams: ReloadMap<&'a str, u64>,
    secrets: &'a Secrets,
}

/// The key of Api `name` of group `namespace/group`: `namespace/group/name`.
pub fn api_key(group: &GroupConfig, name: &str) -> String {
    format!("{}/{}/{name}", group.namespace, group.name)
}

impl<'a> Inputs<'a> {
    /// The inputs of `config` with `secrets`.
    pub fn new(config: &'a GatewayConfig, secrets: &'a Secrets) -> Self {
        let groups = config.groups.iter().map(|group| (group_key(group), group_fingerprint(group))).collect();
        let upstreams = config.upstreams.iter().map(|(key, upstream)| (key.as_str(), json_hash(upstream))).collect();
        Self { groups, upstreams, secrets }
    }

    /// The fingerprint of group `namespace/name`.
    pub fn group(&self, key: &str) -> Option<u64> {
        self.groups.get(key).copied()
    }

    /// The fingerprint of an Api of the group fingerprinted `group` whose own config hashes to
    /// `own` and that names the Secrets and upstreams `refs`.
    fn fingerprint(&self, group: u64, own: u64, refs: &[String]) -> u64 {
        let mut hasher = hasher();
        (group, own).hash(&mut hasher);
        for name in refs {
            (name, self.secrets.get(name), self.upstreams.get(name.as_str())).hash(&mut hasher);
        }
        hasher.finish()
    }
}

impl Compiled {
    /// None yet, with room for as many Apis as `previous` holds (growing a map of 20,000 keys
    /// showed in the profile of a reload).
    pub fn sized_as(previous: Option<&Compiled>) -> Self {
        let room = previous.map_or(0, |previous| previous.apis.len());
        let apis = ReloadMap::with_capacity_and_hasher(room, Default::default());
        Self { apis, upstreams: HashMap::new() }
    }

    /// The upstream `key` of `config`: the previous table's when its config is equal, else
    /// `compile`'s, kept for the next table.
    pub fn upstream<E>(
        &mut self,
        previous: Option<&Compiled>,
        key: &str,
        config: &UpstreamConfig,
        compile: impl FnOnce() -> Result<Upstream, E>,
    ) -> Result<Arc<Upstream>, E> {
        let kept = previous.and_then(|previous| previous.upstreams.get(key)).filter(|(was, _)| was == config);
        let upstream = match kept {
            Some((_, upstream)) => upstream.clone(),
            None => Arc::new(compile()?),
        };
        self.upstreams.insert(key.to_owned(), (config.clone(), upstream.clone()));
        Ok(upstream)
    }

    /// Api `api` of `group` (fingerprinted `group_fingerprint`) in every stage: the previous
    /// table's when its fingerprint matches, else `compile`'s for each stage; kept for the next.
    pub fn api<E>(
        &mut self,
        previous: Option<&Compiled>,
        inputs: &Inputs,
        (group, group_fingerprint): (&GroupConfig, u64),
        api: &ApiConfig,
        mut compile: impl FnMut(&str) -> Result<CompiledApi, E>,
    ) -> Result<Arc<CompiledRoutes>, E> {
        let key = api_key(group, &api.name);
        let own = json_hash(api);
        let mut refs: Vec<String> = api.secret_refs().chain(api.upstream_refs()).cloned().collect();
        refs.shrink_to_fit();
        let fingerprint = inputs.fingerprint(group_fingerprint, own, &refs);
        let kept = previous.and_then(|previous| previous.apis.get(&key)).filter(|was| was.fingerprint == fingerprint);
        let compiled = match kept {
            Some(compiled) => compiled.clone(),
            None => Arc::new(CompiledRoutes {
                method: api.method,
                path: api.path.clone(),
                stages: api.stages.iter().map(|stage| compile(stage).map(Arc::new)).collect::<Result<_, E>>()?,
                own,
                refs,
                fingerprint,
            }),
        };
        self.apis.insert(key, compiled.clone());
        Ok(compiled)
    }

    /// The previous table's Api `key` of the group fingerprinted `group_fingerprint`, when its
    /// inputs fingerprint as they did (its own config is known unchanged), kept for the next;
    /// else the key back.
    pub fn kept(
        &mut self,
        previous: Option<&Compiled>,
        inputs: &Inputs,
        group_fingerprint: u64,
        key: String,
    ) -> Result<Arc<CompiledRoutes>, String> {
        let Some(was) = previous.and_then(|previous| previous.unchanged(inputs, group_fingerprint, &key)).cloned()
        else {
            return Err(key);
        };
        self.apis.insert(key, was.clone());
        Ok(was)
    }

    /// Whether [`Compiled::kept`] would take over Api `key` of group `group` under `inputs`.
    pub fn keeps(&self, inputs: &Inputs, group: &str, key: &str) -> bool {
        inputs.group(group).and_then(|group_fingerprint| self.unchanged(inputs, group_fingerprint, key)).is_some()
    }

    /// Api `key`, when its inputs fingerprint under `inputs` as they did.
    fn unchanged(&self, inputs: &Inputs, group_fingerprint: u64, key: &str) -> Option<&Arc<CompiledRoutes>> {
        let was = self.apis.get(key)?;
        (inputs.fingerprint(group_fingerprint, was.own, &was.refs) == was.fingerprint).then_some(was)
    }

    /// Removes the metric series of the Apis `previous` served and this does not.
    pub fn forget_unserved(&self, previous: &Compiled, metrics: &Metrics) {
        for (key, routes) in &previous.apis {
            if !self.apis.contains_key(key) {
                for api in &routes.stages {
                    api.metrics.forget(metrics);
                }
            }
        }
    }
}

/// A fixed-seed hasher of foldhash: it hashes an Api's serialized config several times faster
/// than SipHash (which was half of fingerprinting 20,000 Apis); fingerprints never leave the
/// process, so no seed need be secret.
fn hasher() -> impl Hasher {
    foldhash::fast::FixedState::default().build_hasher()
}

/// A hash of what every Api of `group` is compiled from on the group's side.
fn group_fingerprint(group: &GroupConfig) -> u64 {
    let mut hasher = hasher();
    (&group.namespace, &group.name, &group.hosts, &group.internal_host, &group.stages).hash(&mut hasher);
    for binding in &group.tls {
        (&binding.host, &binding.secret).hash(&mut hasher);
    }
    hasher.finish()
}

/// A hash of `value`'s JSON.
fn json_hash(value: &impl serde::Serialize) -> u64 {
    let mut hasher = hasher();
    serde_json::to_writer(HashWriter(&mut hasher), value).expect("config always serializes");
    hasher.finish()
}

/// Bytes written into a hasher.
struct HashWriter<'a, H>(&'a mut H);

impl<H: Hasher> std::io::Write for HashWriter<'_, H> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use apigw_core::config::GatewayConfig;
    use apigw_core::translate::{Snapshot, referenced_secrets, translate};
    use http::Method;

    use super::*;
    use crate::config::route_table::RouteTable;

    /// Two groups on two hosts, three Apis, a Secret and an upstream.
    pub(crate) const YAML: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: staff}
stringData: {htpasswd: "alice:$2y$10$u4T220ci2hHzw.YdRtLWFuDjfa1SDAPjzFbY17OJUpSOLFeeHcMEu"}
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {name: staff}
spec: {basicAuth: {secretRef: {name: staff, key: htpasswd}}}
---
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {name: staff}
spec: {domains: [{host: staff.example.com}], plugins: [{kind: Plugin, name: staff}]}
---
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {name: shop}
spec: {domains: [{host: shop.example.com}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: ["10.0.0.1"]}]
---
apiVersion: apigw.io/v1alpha1
kind: VpcAccess
metadata: {name: echo}
spec: {service: {name: echo, port: 80}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {name: reports}
spec: {groupRef: staff, auth: {type: ANONYMOUS}, request: {method: GET, path: /reports}, backend: {type: MOCK, statusCode: 200, body: reports}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {name: hello}
spec: {groupRef: shop, auth: {type: ANONYMOUS}, request: {method: GET, path: /hello}, backend: {type: MOCK, statusCode: 200, body: hello}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {name: orders}
spec: {groupRef: shop, auth: {type: ANONYMOUS}, request: {method: GET, path: /orders}, backend: {type: HTTP-VPC, vpcAccessName: echo}}
"#;

    fn load(yaml: &str) -> (GatewayConfig, Secrets) {
        let mut snapshot = Snapshot::default();
        snapshot.add_manifests(yaml, "test").expect("valid manifests");
        let mut translation = translate(&snapshot);
        assert_eq!(translation.problems, vec![]);
        let config = translation.configs.remove("default").expect("the default instance");
        let secrets = referenced_secrets(&config, &snapshot);
        (config, secrets)
    }

    /// The compiled Apis `reports`, `hello` and `orders` of `table`.
    fn apis(table: &RouteTable) -> [Arc<CompiledApi>; 3] {
        [("staff.example.com", "/reports"), ("shop.example.com", "/hello"), ("shop.example.com", "/orders")]
            .map(|(host, path)| table.lookup(false, host, &Method::GET, path, "RELEASE").expect("routed").api.clone())
    }

    /// The table of `yaml`, taking over from `previous`.
    pub(crate) fn compile(yaml: &str, metrics: &Metrics, previous: Option<&RouteTable>) -> RouteTable {
        let (config, secrets) = load(yaml);
        RouteTable::compile(&config, &[], metrics, &secrets, previous).expect("compiles")
    }

    /// Which of the Apis `after` took over from `before`.
    fn kept(before: &[Arc<CompiledApi>; 3], after: &[Arc<CompiledApi>; 3]) -> [bool; 3] {
        [0, 1, 2].map(|index| Arc::ptr_eq(&before[index], &after[index]))
    }

    #[test]
    fn a_reload_compiles_only_the_apis_whose_inputs_changed() {
        let metrics = Metrics::default();
        let compile = |yaml: &str, previous: Option<&RouteTable>| compile(yaml, &metrics, previous);
        let first = compile(YAML, None);
        let same = compile(YAML, Some(&first));
        assert_eq!(kept(&apis(&first), &apis(&same)), [true, true, true], "nothing changed");

        let hello_changed = compile(&YAML.replace("body: hello", "body: bonjour"), Some(&same));
        assert_eq!(kept(&apis(&same), &apis(&hello_changed)), [true, false, true], "its own config");

        let endpoint_moved = compile(&YAML.replace("10.0.0.1", "10.0.0.2"), Some(&same));
        assert_eq!(kept(&apis(&same), &apis(&endpoint_moved)), [true, true, false], "the upstream it names");

        let rotated = compile(&YAML.replace("alice:", "bob:"), Some(&same));
        assert_eq!(kept(&apis(&same), &apis(&rotated)), [false, true, true], "the data of the Secret it names");

        let group_changed = compile(
            &YAML.replace("host: shop.example.com}]", "host: shop.example.com}, {host: b.example.com}]"),
            Some(&same),
        );
        assert_eq!(kept(&apis(&same), &apis(&group_changed)), [true, false, false], "its group");
        assert!(group_changed.lookup(false, "b.example.com", &Method::GET, "/hello", "RELEASE").is_ok());
    }

    #[test]
    fn an_api_has_metric_series_from_its_first_request_until_it_is_no_longer_served() {
        let metrics = Metrics::default();
        let compile = |yaml: &str, previous: Option<&RouteTable>| compile(yaml, &metrics, previous);
        let series = |api: &str| metrics.encode().contains(&format!("api=\"{api}\""));
        let first = compile(YAML, None);
        assert!(!series("hello") && !series("orders"), "no series before a request");
        let [_, hello, orders] = apis(&first);
        hello.metrics.observe(&metrics, 200, 0.001, 0.0);
        orders.metrics.observe(&metrics, 502, 0.002, 0.001);
        assert!(series("hello") && series("orders"));

        let without_hello = YAML.split("---").filter(|document| !document.contains("name: hello}")).collect::<Vec<_>>();
        let second = compile(&without_hello.join("---"), Some(&first));
        second.forget_unserved(&first, &metrics);
        assert!(!series("hello"), "the deleted Api's series are gone");
        assert!(series("orders"), "a served Api keeps its series");
    }
}
