//! The published format at scale: what one Api change rewrites, and how large objects get at
//! 20,000 Apis (the API server refuses objects over 1 MiB).

use std::collections::BTreeMap;
use std::sync::Arc;

use apigw_core::bundle::{
    Bundle, CONTENT_HASH_LABEL, Compressed, Encoded, HASH_LABEL, INDEX_KEY, Index, IndexedVersion, SHARD_BYTES,
    SHARD_KEY, Shard, VERSION_LABEL, index_name, indexed_shards, read_index, shard_name,
};
use apigw_core::config::{ApiConfig, GatewayConfig, GroupConfig, UpstreamConfig};
use apigw_core::translate::{Snapshot, translate};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// An Api as users write them: APP auth, a mapped path and query parameter, two plugins.
fn typical_api() -> ApiConfig {
    let yaml = "
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {name: shop, namespace: demo}
spec: {domains: [{host: shop.example.com}], basePath: /v1}
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {name: limits, namespace: demo}
spec: {trafficControl: {unit: MINUTE, apiDefault: 1000, appDefault: 100}}
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {name: office, namespace: demo}
spec: {ipControl: {type: ALLOW, items: [{blocks: ['10.0.0.0/8', '192.168.0.0/16']}]}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {name: orders, namespace: demo}
spec:
  groupRef: shop
  auth: {type: APP}
  request: {method: GET, path: '/orders/[orderId]', mode: MAPPING}
  parameters:
  - {name: orderId, in: PATH, type: LONG, required: true, backend: {name: X-Order-Id, in: HEADER}}
  - {name: view, in: QUERY, type: STRING, enum: [short, full], default: short}
  backend: {type: HTTP, address: 'http://orders.shop.svc:8080', path: /internal/orders, timeout: 3000}
  plugins: [{kind: Plugin, name: limits}, {kind: Plugin, name: office}]
";
    let mut snapshot = Snapshot::default();
    snapshot.add_manifests(yaml, "test").expect("valid YAML");
    let translation = translate(&snapshot);
    assert_eq!(translation.problems, vec![], "the typical Api translates");
    (*translation.configs["default"].groups[0].apis[0]).clone()
}

/// `apis` typical Apis spread over `groups` groups, with an upstream and a Secret.
fn bundle(groups: usize, apis: usize) -> Bundle {
    let api = typical_api();
    let mut config = GatewayConfig::empty("default");
    for index in 0..groups {
        config.groups.push(GroupConfig {
            namespace: "shop".into(),
            name: format!("group-{index:05}"),
            hosts: vec![format!("group-{index}.example.com")],
            internal_host: None,
            stages: BTreeMap::new(),
            tls: vec![],
            apis: vec![],
        });
    }
    for index in 0..apis {
        let group = &mut config.groups[index % groups];
        let mut api = api.clone();
        api.name = format!("api-{index:05}");
        api.path = format!("/v1/orders-{index}/[orderId]");
        group.apis.push(api.into());
    }
    config
        .upstreams
        .insert("shop/orders".into(), UpstreamConfig { endpoints: vec!["10.0.0.1:80".into()], ..Default::default() });
    let secrets = BTreeMap::from([("shop/keys".to_owned(), BTreeMap::from([("appSecret".to_owned(), vec![0, 255])]))]);
    Bundle { config, secrets }
}

fn decode(encoded: &Encoded) -> Bundle {
    Bundle::decode(encoded.shards.iter().map(|shard| shard.data.as_slice()), Some(encoded.secrets.as_slice()))
        .expect("decodes")
}

#[test]
fn a_bundle_survives_encoding() {
    let original = bundle(3, 10);
    let encoded = original.encode(None);
    assert_eq!((encoded.buckets, encoded.shards.len()), (1, 1));
    assert_eq!(encoded.hash.len(), 40);
    assert_eq!(decode(&encoded), original);
    assert_eq!(original.encode(None), encoded, "equal bundles give equal bytes");
}

#[test]
fn at_20000_apis_no_published_object_nears_the_api_servers_limit() {
    // Every shard is at most SHARD_BYTES (480 KiB, under the design's 512 KiB budget; the API
    // server refuses objects over 1 MiB), in 100 groups and in one group alike.
    for groups in [100, 1] {
        let original = bundle(groups, 20_000);
        let encoded = original.encode(None);
        let largest = encoded.shards.iter().map(|shard| shard.data.len()).max().expect("shards");
        let index = serde_json::to_vec(&encoded.index("default")).expect("serializes");
        println!(
            "{groups} group(s): {} buckets, {} shards, largest {largest} bytes, index {} bytes",
            encoded.buckets,
            encoded.shards.len(),
            index.len()
        );
        assert!(largest <= SHARD_BYTES, "largest shard {largest} bytes");
        assert!(index.len() < 64 * 1024, "index {} bytes", index.len());
        assert!(encoded.secrets.len() < 512 * 1024);
        assert_eq!(decode(&encoded), original);
    }
}

#[test]
fn one_changed_api_changes_only_its_own_shard() {
    let mut changed = bundle(100, 5_000);
    let before = changed.encode(None);
    assert!(before.buckets > 1, "{} buckets", before.buckets);
    std::sync::Arc::make_mut(&mut changed.config.groups[42].apis[7]).path = "/v1/moved/[orderId]".into();
    let after = changed.encode(Some(before.buckets));
    assert_eq!(after.buckets, before.buckets);
    let differing: Vec<&Shard> = after.shards.iter().filter(|shard| !before.shards.contains(shard)).collect();
    assert_eq!(differing.len(), 1, "shards rewritten for one Api");
    assert_ne!(after.hash, before.hash);
    let bytes: usize = differing.iter().map(|shard| shard.data.len()).sum();
    let total: usize = after.shards.iter().map(|shard| shard.data.len()).sum();
    println!("one Api changed: {bytes} of {total} bytes rewritten");
    assert_eq!(decode(&after), changed);
}

#[test]
fn an_encoding_that_reuses_the_last_one_equals_a_fresh_one() {
    let original = bundle(10, 500);
    let mut cache = Compressed::default();
    let before = original.encode_reusing(None, None, &mut cache);
    let mut changed = original.clone();
    std::sync::Arc::make_mut(&mut changed.config.groups[3].apis[7]).path = "/v1/moved/[orderId]".into();
    changed.config.groups[5].hosts.push("new.example.com".into());
    changed.config.groups[1].apis.remove(0);
    changed.config.upstreams.clear();
    let reused = changed.encode_reusing(Some(before.buckets), Some((&original.config, &before.digests)), &mut cache);
    assert_eq!(reused, changed.encode(Some(before.buckets)), "the same bytes, hashes and digests");
    assert_ne!(reused.hash, before.hash);
    assert_eq!(decode(&reused), changed);
    let again = changed.encode_reusing(Some(reused.buckets), Some((&changed.config, &reused.digests)), &mut cache);
    assert_eq!(again, reused, "nothing changed: nothing differs");
}

#[test]
fn secrets_change_the_hash_not_the_shards() {
    let mut changed = bundle(1, 1);
    let before = changed.encode(None);
    changed.secrets.get_mut("shop/keys").expect("the Secret").insert("appSecret".into(), vec![1]);
    let after = changed.encode(None);
    assert_ne!(after.hash, before.hash);
    assert_ne!(after.secrets_hash, before.secrets_hash);
    assert_eq!(after.shards, before.shards, "the config shards stay");
}

#[test]
fn missing_shards_are_an_error_not_a_panic() {
    let encoded = bundle(100, 5_000).encode(None);
    assert!(encoded.shards.len() > 1);
    let without_head = encoded.shards.iter().find(|shard| Bundle::decode([shard.data.as_slice()], None).is_err());
    assert!(without_head.is_some(), "a shard alone lacks the head or the groups");
    let truncated = &encoded.shards[0].data[..encoded.shards[0].data.len() / 2];
    assert!(Bundle::decode([truncated], None).is_err());
}

fn map(name: &str, labels: &[(&str, &str)], binary: Option<&[u8]>, index: Option<&Index>) -> Arc<ConfigMap> {
    Arc::new(ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()),
            ..ObjectMeta::default()
        },
        binary_data: binary.map(|data| BTreeMap::from([(SHARD_KEY.to_owned(), ByteString(data.to_vec()))])),
        data: index
            .map(|index| BTreeMap::from([(INDEX_KEY.to_owned(), serde_json::to_string(index).expect("serializes"))])),
        ..ConfigMap::default()
    })
}

#[test]
fn the_index_names_the_shards_of_a_version() {
    let encoded = bundle(3, 10).encode(None);
    let index = encoded.index("default");
    let shard = &encoded.shards[0];
    let index_map = map(&index_name("default"), &[(VERSION_LABEL, "7"), (HASH_LABEL, "h")], None, Some(&index));
    let current = map(&shard_name("default", shard), &[(CONTENT_HASH_LABEL, &shard.hash)], Some(&shard.data), None);
    let maps = [current, index_map.clone()];
    let indexed = IndexedVersion { version: 7, hash: "h".to_owned(), index: index.clone() };
    assert_eq!(read_index(&maps, "default"), Some(indexed));
    assert_eq!(indexed_shards(&maps, &index), Some(vec![shard.data.as_slice()]));

    let stale = map(&shard_name("default", shard), &[(CONTENT_HASH_LABEL, "0000")], Some(b"old"), None);
    assert_eq!(indexed_shards(&[stale, index_map.clone()], &index), None, "a shard not yet rewritten");
    assert_eq!(indexed_shards(&[index_map], &index), None, "a shard not yet created");
    assert_eq!(read_index(&maps, "other"), None);
}
