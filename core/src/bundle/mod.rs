//! The config as the operator publishes it and gateways read it: a [`GatewayConfig`] (in
//! ConfigMaps) and the data of the Secrets it references (in one Secret), versioned together.
//!
//! Format (also in `docs/operator.md`):
//! - the config is split into records ([`records`]: the head with the Apps, each group, each
//!   Api, each upstream), spread over buckets by a hash of their identity ([`shards`]), each
//!   bucket gzip-compressed JSON lines in one or more ConfigMaps
//!   `apigw-<instance>-config-<bucket>-<part>` under the `binaryData` key [`SHARD_KEY`], labelled
//!   with [`CONTENT_HASH_LABEL`]: one changed Api rewrites one shard;
//! - the Secret `apigw-<instance>-secrets` holds under [`SECRETS_KEY`] a JSON object
//!   `{"namespace/name": {"key": "base64"}}`, labelled with its [`CONTENT_HASH_LABEL`];
//! - the index, the ConfigMap `apigw-<instance>-config`, names a version: its labels
//!   [`VERSION_LABEL`] (a counter that only grows) and [`HASH_LABEL`] (of config and secrets
//!   together), its [`INDEX_KEY`] an [`Index`] of the shards' names and hashes in order and the
//!   Secret's hash. It is written last; a gateway assembles a version only when it holds every
//!   shard and the Secret with the hashes the index names.
//! - each gateway replica reports in a Lease of the config namespace, labelled
//!   [`COMPONENT_LABEL`]`=`[`GATEWAY_COMPONENT`] and [`INSTANCE_LABEL`], renewed every few seconds
//!   while it serves, with the version it loaded in [`LOADED_VERSION_ANNOTATION`].

pub mod records;
pub mod shards;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::GatewayConfig;
use records::{Record, RecordError};
use shards::Placed;
pub use shards::{Compressed, SHARD_BYTES, Shard};

/// Label: the gateway instance an object belongs to.
pub const INSTANCE_LABEL: &str = "apigw.io/instance";
/// Label on the index: the config version, a decimal counter.
pub const VERSION_LABEL: &str = "apigw.io/config-version";
/// Label on the index: the content hash of config and secrets.
pub const HASH_LABEL: &str = "apigw.io/config-hash";
/// Label on shards and the Secret: the hash of their own content, as the index names it.
pub const CONTENT_HASH_LABEL: &str = "apigw.io/content-hash";
/// Label (value [`MANAGER`]) on everything the operator writes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The operator's name: field manager and managed-by label value.
pub const MANAGER: &str = "apigw-operator";
/// Label on gateway Leases, with the value [`GATEWAY_COMPONENT`].
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// The component label value of gateway Leases.
pub const GATEWAY_COMPONENT: &str = "gateway";
/// Annotation on a gateway's Lease: the config version it serves.
pub const LOADED_VERSION_ANNOTATION: &str = "apigw.io/loaded-config-version";
/// The `binaryData` key of a shard.
pub const SHARD_KEY: &str = "config.json.gz";
/// The `data` key of the index.
pub const INDEX_KEY: &str = "index.json";
/// The Secret's data key.
pub const SECRETS_KEY: &str = "secrets.json";

/// Secret data by `namespace/name`, then by key.
pub type SecretData = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Why published shards could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The shards do not form a gzip stream.
    #[error("decompressing the config: {0}")]
    Gzip(#[from] std::io::Error),
    /// The config or the secrets are not the expected JSON.
    #[error("reading the config JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The records do not make a config.
    #[error("assembling the config: {0}")]
    Records(#[from] RecordError),
}

/// A config with its secrets: everything one gateway instance needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    /// The data-plane document.
    pub config: GatewayConfig,
    /// The Secrets it references.
    pub secrets: SecretData,
}

/// A bundle ready to be written: its hash, config shards and the Secret's JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Hex content hash of config and secrets (fits a label value).
    pub hash: String,
    /// How many buckets the records are spread over.
    pub buckets: usize,
    /// The shards, in bucket and part order; never empty.
    pub shards: Vec<Shard>,
    /// The Secret's [`SECRETS_KEY`] value.
    pub secrets: Vec<u8>,
    /// The hash of `secrets`.
    pub secrets_hash: String,
    /// Each record's digest, for the next encoding to reuse.
    pub digests: Digests,
}

/// The SHA-256 and length of each record's JSON in one encoding, by identity: what the next
/// encoding reuses for records equal to those of the config it encoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digests(HashMap<String, ([u8; 32], usize)>);

/// What the index of a version says.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// How many buckets the records are spread over (kept by the next version when it fits).
    pub buckets: usize,
    /// The shards, in the order their data concatenates.
    pub shards: Vec<IndexEntry>,
    /// The content hash of the Secret.
    pub secrets_hash: String,
}

/// A shard the index names.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct IndexEntry {
    /// The ConfigMap's name.
    pub name: String,
    /// Its [`CONTENT_HASH_LABEL`].
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct SecretsDocument(BTreeMap<String, BTreeMap<String, ByteString>>);

impl Bundle {
    /// Serializes, hashes and shards the bundle over `previous_buckets` buckets when that count
    /// still fits its size (see [`shards::bucket_count`]); deterministic: equal bundles and
    /// counts give equal bytes.
    pub fn encode(&self, previous_buckets: Option<usize>) -> Encoded {
        self.encode_reusing(previous_buckets, None, &mut Compressed::default())
    }

    /// [`Bundle::encode`], serializing only the records that differ from those of `previous`
    /// (a config with the [`Digests`] of its encoding) and compressing only the buckets that
    /// changed since the encoding `cache` saw last. At 20,000 Apis, serializing and hashing
    /// every record was most of a pass that changed one.
    pub fn encode_reusing(
        &self,
        previous_buckets: Option<usize>,
        previous: Option<(&GatewayConfig, &Digests)>,
        cache: &mut Compressed,
    ) -> Encoded {
        let previous = previous.map(|(config, digests)| (records::Lookup::new(config), digests));
        let records = records::split(&self.config);
        let (mut placed, mut fresh) = (Vec::with_capacity(records.len()), Vec::with_capacity(records.len()));
        let mut lengths = Vec::with_capacity(records.len());
        let (mut overall, mut raw) = (Sha256::new(), 0);
        for (identity, record) in &records {
            let kept = previous
                .as_ref()
                .filter(|(lookup, _)| lookup.holds(record))
                .and_then(|(_, digests)| digests.0.get(identity).copied());
            let (digest, length, json) = match kept {
                Some((digest, length)) => (digest, length, None),
                None => {
                    let json = serde_json::to_vec(record).expect("a GatewayConfig always serializes");
                    (Sha256::digest(&json).into(), json.len(), Some(json))
                }
            };
            overall.update((length as u64).to_be_bytes());
            overall.update(digest);
            raw += length + 1;
            placed.push(Placed { identity, digest });
            fresh.push(json);
            lengths.push(length);
        }
        let secrets = SecretsDocument(
            self.secrets
                .iter()
                .map(|(name, data)| {
                    (name.clone(), data.iter().map(|(key, value)| (key.clone(), ByteString(value.clone()))).collect())
                })
                .collect(),
        );
        let secrets = serde_json::to_vec(&secrets).expect("secret data always serializes");
        overall.update(&secrets);
        let hash = overall.finalize().iter().take(20).map(|byte| format!("{byte:02x}")).collect();
        let buckets = shards::bucket_count(raw, previous_buckets);
        let shards = shards::spread(&placed, buckets, cache, |index, out| match &fresh[index] {
            Some(json) => out.extend_from_slice(json),
            None => serde_json::to_writer(out, &records[index].1).expect("a GatewayConfig always serializes"),
        });
        let digests = placed.iter().map(|record| record.digest).zip(lengths).collect::<Vec<_>>();
        // The identities move into the digests (a copy of each was 20,000 allocations a pass).
        let digests = Digests(records.into_iter().map(|(identity, _)| identity).zip(digests).collect());
        let secrets_hash = shards::hex_hash(&secrets);
        Encoded { hash, buckets, shards, secrets, secrets_hash, digests }
    }

    /// Reads a bundle back from its shards (in index order) and the Secret's JSON.
    pub fn decode<'a>(
        shards: impl IntoIterator<Item = &'a [u8]>,
        secrets: Option<&[u8]>,
    ) -> Result<Bundle, BundleError> {
        let compressed: Vec<u8> = shards.into_iter().flatten().copied().collect();
        let config = records::join(decode_records(&compressed)?)?;
        let secrets = match secrets {
            Some(bytes) => decode_secrets(bytes)?,
            None => SecretData::new(),
        };
        Ok(Bundle { config, secrets })
    }
}

/// The records of gzip'd shard data: one bucket's parts, or every bucket's, concatenated.
pub fn decode_records(compressed: &[u8]) -> Result<Vec<Record<'static>>, BundleError> {
    // One gzip member (a bucket) at a time, through one buffer: decompressing the whole stream
    // at once grew a buffer of every record (16 MB at 20,000 Apis), and copying and faulting it
    // in were a fifth of a gateway's reload.
    let (mut rest, mut json, mut records) = (compressed, Vec::new(), Vec::new());
    while !rest.is_empty() {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        json.clear();
        member.read_to_end(&mut json)?;
        rest = member.into_inner();
        for record in serde_json::Deserializer::from_slice(&json).into_iter::<Record<'static>>() {
            records.push(record?);
        }
    }
    Ok(records)
}

/// The Secret data of the Secret's [`SECRETS_KEY`] JSON.
pub fn decode_secrets(json: &[u8]) -> Result<SecretData, BundleError> {
    Ok(serde_json::from_slice::<SecretsDocument>(json)?
        .0
        .into_iter()
        .map(|(name, data)| (name, data.into_iter().map(|(key, value)| (key, value.0)).collect()))
        .collect())
}

impl Encoded {
    /// The index of these shards for `instance`.
    pub fn index(&self, instance: &str) -> Index {
        Index {
            buckets: self.buckets,
            shards: self
                .shards
                .iter()
                .map(|shard| IndexEntry { name: shard_name(instance, shard), hash: shard.hash.clone() })
                .collect(),
            secrets_hash: self.secrets_hash.clone(),
        }
    }
}

/// The name of `instance`'s index ConfigMap.
pub fn index_name(instance: &str) -> String {
    format!("apigw-{instance}-config")
}

/// The ConfigMap name of `shard` of `instance`'s config.
pub fn shard_name(instance: &str, shard: &Shard) -> String {
    format!("apigw-{instance}-config-{}-{}", shard.bucket, shard.part)
}

/// The name of `instance`'s Secret.
pub fn secret_name(instance: &str) -> String {
    format!("apigw-{instance}-secrets")
}

/// The number in label `key` of `meta`.
pub fn label_number(meta: &ObjectMeta, key: &str) -> Option<u64> {
    meta.labels.as_ref()?.get(key)?.parse().ok()
}

/// The label `key` of `meta`.
pub fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// A version as its index names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedVersion {
    /// Its [`VERSION_LABEL`].
    pub version: u64,
    /// Its [`HASH_LABEL`].
    pub hash: String,
    /// Its shards and Secret.
    pub index: Index,
}

/// The version published for `instance` among its ConfigMaps; `None` when there is no index or
/// it is malformed.
pub fn read_index(maps: &[Arc<ConfigMap>], instance: &str) -> Option<IndexedVersion> {
    let name = index_name(instance);
    let map = maps.iter().find(|map| map.metadata.name.as_deref() == Some(name.as_str()))?;
    let version = label_number(&map.metadata, VERSION_LABEL)?;
    let hash = label(&map.metadata, HASH_LABEL)?.to_owned();
    let index = serde_json::from_str(map.data.as_ref()?.get(INDEX_KEY)?).ok()?;
    Some(IndexedVersion { version, hash, index })
}

/// The data of every shard `index` names, in order; `None` unless each is there with the hash
/// the index names (a version being written).
pub fn indexed_shards<'a>(maps: &'a [Arc<ConfigMap>], index: &Index) -> Option<Vec<&'a [u8]>> {
    index
        .shards
        .iter()
        .map(|entry| {
            let map = maps.iter().find(|map| map.metadata.name.as_deref() == Some(entry.name.as_str()))?;
            if label(&map.metadata, CONTENT_HASH_LABEL) != Some(entry.hash.as_str()) {
                return None;
            }
            Some(map.binary_data.as_ref()?.get(SHARD_KEY)?.0.as_slice())
        })
        .collect()
}

/// One bucket of a version: the data of its parts, and what names its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedBucket<'a> {
    /// Its parts' hashes, joined: equal for equal content.
    pub content: String,
    /// Its parts' data, in order (concatenated: one gzip member).
    pub parts: Vec<&'a [u8]>,
}

/// [`indexed_shards`] by bucket: a part 0 (the `-0` ending [`shard_name`] gives it) starts one.
pub fn indexed_buckets<'a>(maps: &'a [Arc<ConfigMap>], index: &Index) -> Option<Vec<IndexedBucket<'a>>> {
    let mut buckets: Vec<IndexedBucket> = Vec::new();
    for (entry, data) in index.shards.iter().zip(indexed_shards(maps, index)?) {
        match buckets.last_mut() {
            Some(bucket) if !entry.name.ends_with("-0") => {
                bucket.content.push('+');
                bucket.content.push_str(&entry.hash);
                bucket.parts.push(data);
            }
            _ => buckets.push(IndexedBucket { content: entry.hash.clone(), parts: vec![data] }),
        }
    }
    Some(buckets)
}
