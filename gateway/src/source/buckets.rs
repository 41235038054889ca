//! What each bucket of the served version held, so that reading the next version decodes only
//! the buckets whose content changed: at 20,000 Apis a single changed Api decoded every bucket
//! (half of a load), and compiling fingerprinted every Api's config again (most of the rest).
//! The Apis of an unchanged bucket are taken over by key from the served table when their group,
//! Secrets and upstreams fingerprint as before; a bucket with one that does not is decoded.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use apigw_core::bundle::records::{self, Record};
use apigw_core::bundle::{BundleError, IndexedBucket, decode_records};
use apigw_core::config::{ApiConfig, GatewayConfig};

use crate::config::reuse::Inputs;
use crate::config::route_table::RouteTable;
use crate::secrets::Secrets;

/// The buckets of the served version, by content.
#[derive(Debug, Default)]
pub struct Buckets {
    by_content: HashMap<String, Arc<Bucket>>,
}

/// One bucket: its records other than Apis, decoded, and its Apis' keys (`namespace/group/name`).
#[derive(Debug)]
struct Bucket {
    others: Vec<Record<'static>>,
    apis: Vec<String>,
}

/// An Api record: its group's `namespace/name` and its config.
type ApiRecord = (Cow<'static, str>, Box<Cow<'static, ApiConfig>>);

/// A version read against the served one.
#[derive(Debug)]
pub struct Reading {
    /// The config, without the Apis of `kept`.
    pub config: GatewayConfig,
    /// The Apis of unchanged buckets, to serve on as the served table compiled them.
    pub kept: Vec<String>,
    /// How many buckets were decoded.
    pub decoded: usize,
    /// The buckets of this version, for reading the next once this one is served.
    pub next: Buckets,
}

impl Buckets {
    /// Reads `buckets` with `secrets`, decoding only those this does not hold or whose Apis
    /// `served` (the table compiled from this version) cannot take over.
    pub fn read(
        &self,
        buckets: &[IndexedBucket],
        secrets: &Secrets,
        served: Option<&RouteTable>,
    ) -> Result<Reading, BundleError> {
        let mut next = HashMap::new();
        let (mut apis, mut held) = (Vec::new(), Vec::new());
        for bucket in buckets {
            match self.by_content.get(&bucket.content).filter(|_| served.is_some()) {
                Some(known) => held.push((bucket, known.clone())),
                None => {
                    let (decoded, mut bucket_apis) = decode(bucket)?;
                    apis.append(&mut bucket_apis);
                    next.insert(bucket.content.clone(), Arc::new(decoded));
                }
            }
        }
        let mut decoded = next.len();
        let others = next.values().chain(held.iter().map(|(_, known)| known));
        let mut config = records::join(others.flat_map(|bucket| bucket.others.iter().map(Record::view)))?;
        let stale: Vec<bool> = {
            let inputs = Inputs::new(&config, secrets);
            let keeps = |key: &String| {
                let group = key.rsplit_once('/').map_or("", |(group, _)| group);
                served.is_some_and(|table| table.keeps(&inputs, group, key))
            };
            held.iter().map(|(_, known)| !known.apis.iter().all(keeps)).collect()
        };
        let mut kept = Vec::new();
        for ((bucket, known), stale) in held.into_iter().zip(stale) {
            if stale {
                apis.append(&mut decode(bucket)?.1);
                decoded += 1;
            } else {
                kept.extend(known.apis.iter().cloned());
            }
            next.insert(bucket.content.clone(), known);
        }
        records::attach(&mut config, apis)?;
        Ok(Reading { config, kept, decoded, next: Buckets { by_content: next } })
    }
}

/// A bucket's records: the others kept, the Apis' keys noted and their records returned.
fn decode(bucket: &IndexedBucket) -> Result<(Bucket, Vec<ApiRecord>), BundleError> {
    let (mut others, mut keys, mut apis) = (Vec::new(), Vec::new(), Vec::new());
    for record in decode_records(&bucket.parts.concat())? {
        match record {
            Record::Api { group, api } => {
                keys.push(format!("{group}/{}", api.name));
                apis.push((group, api));
            }
            other => others.push(other),
        }
    }
    Ok((Bucket { others, apis: keys }, apis))
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use apigw_core::bundle::{Bundle, Encoded};
    use apigw_core::translate::{Snapshot, translate};
    use http::Method;

    use super::*;
    use crate::config::api::CompiledApi;
    use crate::telemetry::metrics::Metrics;

    const APIS: usize = 3_000;

    /// Two groups of `APIS` mock Apis between them; `edit` changes the YAML first.
    fn config(edit: impl Fn(String) -> String) -> GatewayConfig {
        let mut yaml = String::new();
        for group in 0..2 {
            let document = format!(
                "apiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: g{group}}}\nspec: {{domains: [{{host: g{group}.example.com}}]}}\n---\n"
            );
            yaml.push_str(&edit(document));
        }
        for api in 0..APIS {
            let document = format!(
                "apiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: api-{api:04}}}\nspec: {{groupRef: g{}, auth: {{type: ANONYMOUS}}, request: {{method: GET, path: /a{api}}}, backend: {{type: MOCK, statusCode: 200, body: body-{api}}}}}\n---\n",
                api % 2
            );
            write!(yaml, "{}", edit(document)).expect("in memory");
        }
        let mut snapshot = Snapshot::default();
        snapshot.add_manifests(&yaml, "test").expect("valid manifests");
        let mut translation = translate(&snapshot);
        assert_eq!(translation.problems, vec![]);
        translation.configs.remove("default").expect("the default instance")
    }

    /// `encoded`'s buckets, as a gateway finds them.
    fn buckets(encoded: &Encoded) -> Vec<IndexedBucket<'_>> {
        let mut buckets: Vec<IndexedBucket> = Vec::new();
        for shard in &encoded.shards {
            match buckets.last_mut() {
                Some(bucket) if shard.part > 0 => {
                    bucket.content = format!("{}+{}", bucket.content, shard.hash);
                    bucket.parts.push(&shard.data);
                }
                _ => buckets.push(IndexedBucket { content: shard.hash.clone(), parts: vec![&shard.data] }),
            }
        }
        buckets
    }

    /// Reads `config`'s encoding against `held` and `served`, and compiles what it read.
    fn load(config: GatewayConfig, held: &Buckets, served: Option<&RouteTable>) -> (Reading, RouteTable) {
        let encoded = Bundle { config, secrets: Secrets::new() }.encode(None);
        assert!(encoded.buckets >= 4, "the Apis fill several buckets");
        let reading = held.read(&buckets(&encoded), &Secrets::new(), served).expect("reads");
        let table = RouteTable::compile(&reading.config, &reading.kept, &Metrics::default(), &Secrets::new(), served)
            .expect("compiles");
        (reading, table)
    }

    fn api(table: &RouteTable, host: &str, index: usize) -> Arc<CompiledApi> {
        let path = format!("/a{index}");
        table.lookup(false, host, &Method::GET, &path, "RELEASE").expect("routed").api.clone()
    }

    #[test]
    fn a_version_decodes_only_the_buckets_that_changed_and_serves_every_api() {
        let (first, first_table) = load(config(|yaml| yaml), &Buckets::default(), None);
        assert_eq!((first.kept.len(), first_table.api_count()), (0, APIS), "a first read decodes everything");

        let (second, second_table) =
            load(config(|yaml| yaml.replace("body: body-7}", "body: changed}")), &first.next, Some(&first_table));
        assert_eq!(second.decoded, 1, "one Api changed: its bucket is decoded");
        assert!(second.kept.len() > APIS / 2, "the other buckets' Apis are kept: {}", second.kept.len());
        assert_eq!(second_table.api_count(), APIS);
        for index in 0..APIS {
            let host = format!("g{}.example.com", index % 2);
            let same = Arc::ptr_eq(&api(&first_table, &host, index), &api(&second_table, &host, index));
            assert_eq!(same, index != 7, "Api {index}: compiled again only when changed");
        }

        // A group's new host concerns every bucket holding one of its Apis; the other group's
        // Apis are still taken over as compiled.
        let with_host =
            |yaml: String| yaml.replace("host: g1.example.com}", "host: g1.example.com}, {host: new.example.com}");
        let (third, third_table) = load(config(with_host), &second.next, Some(&second_table));
        assert!(third.decoded > 1, "the buckets holding g1's Apis are decoded");
        assert_eq!(third_table.api_count(), APIS);
        for index in 0..APIS {
            let host = format!("g{}.example.com", index % 2);
            let (before, after) = (api(&second_table, &host, index), api(&third_table, &host, index));
            assert_eq!(Arc::ptr_eq(&before, &after), index % 2 == 0, "Api {index}");
            if index % 2 == 1 {
                assert!(Arc::ptr_eq(&after, &api(&third_table, "new.example.com", index)), "on the new host");
            }
        }
    }

    #[test]
    fn without_a_served_table_every_bucket_is_decoded() {
        let (first, _) = load(config(|yaml| yaml), &Buckets::default(), None);
        let (again, table) = load(config(|yaml| yaml), &first.next, None);
        assert_eq!((again.kept.len(), table.api_count()), (0, APIS));
    }
}
