//! The config as the operator publishes it and gateways read it: a [`GatewayConfig`] (in
//! ConfigMaps) and the data of the Secrets it references (in one Secret), versioned together.
//!
//! Format (also in `docs/operator.md`):
//! - the config is JSON, gzip-compressed, split into shards of at most [`SHARD_BYTES`]; shard `i`
//!   is the `binaryData` key [`SHARD_KEY`] of the ConfigMap `apigw-<instance>-config-<i>`;
//! - the Secret `apigw-<instance>-secrets` holds under [`SECRETS_KEY`] a JSON object
//!   `{"namespace/name": {"key": "base64"}}`;
//! - every object carries the labels [`INSTANCE_LABEL`], [`VERSION_LABEL`] (a counter that only
//!   grows), [`HASH_LABEL`] (of config and secrets together) and, on ConfigMaps, [`SHARD_LABEL`]
//!   and [`SHARDS_LABEL`]. A gateway assembles a version only when it holds every shard and the
//!   Secret at that version.
//! - each gateway replica reports in a Lease of the config namespace, labelled
//!   [`COMPONENT_LABEL`]`=`[`GATEWAY_COMPONENT`] and [`INSTANCE_LABEL`], renewed every few seconds
//!   while it serves, with the version it loaded in [`LOADED_VERSION_ANNOTATION`].

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::GatewayConfig;

/// Label: the gateway instance an object belongs to.
pub const INSTANCE_LABEL: &str = "apigw.io/instance";
/// Label: the config version, a decimal counter.
pub const VERSION_LABEL: &str = "apigw.io/config-version";
/// Label: the content hash of config and secrets.
pub const HASH_LABEL: &str = "apigw.io/config-hash";
/// Label: a ConfigMap's shard index (from 0).
pub const SHARD_LABEL: &str = "apigw.io/shard";
/// Label: how many shards the version has.
pub const SHARDS_LABEL: &str = "apigw.io/shards";
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
/// The Secret's data key.
pub const SECRETS_KEY: &str = "secrets.json";
/// Largest shard: well below the 512 KiB the design allows, itself below etcd's 1.5 MiB.
pub const SHARD_BYTES: usize = 480 * 1024;

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
    /// Hex content hash (fits a label value).
    pub hash: String,
    /// gzip'd config JSON, split; never empty.
    pub shards: Vec<Vec<u8>>,
    /// The Secret's [`SECRETS_KEY`] value.
    pub secrets: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct SecretsDocument(BTreeMap<String, BTreeMap<String, ByteString>>);

impl Bundle {
    /// Serializes, hashes, compresses and shards the bundle (deterministic: equal bundles give
    /// equal bytes).
    pub fn encode(&self) -> Encoded {
        let config = serde_json::to_vec(&self.config).expect("a GatewayConfig always serializes");
        let secrets = SecretsDocument(
            self.secrets
                .iter()
                .map(|(name, data)| {
                    (name.clone(), data.iter().map(|(key, value)| (key.clone(), ByteString(value.clone()))).collect())
                })
                .collect(),
        );
        let secrets = serde_json::to_vec(&secrets).expect("secret data always serializes");
        let mut digest = Sha256::new();
        digest.update((config.len() as u64).to_be_bytes());
        digest.update(&config);
        digest.update(&secrets);
        let hash = digest.finalize().iter().take(20).map(|byte| format!("{byte:02x}")).collect();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&config).expect("writing to memory");
        let compressed = gzip.finish().expect("writing to memory");
        let shards = compressed.chunks(SHARD_BYTES).map(<[u8]>::to_vec).collect();
        Encoded { hash, shards, secrets }
    }

    /// Reads a bundle back from its shards (in index order) and the Secret's JSON.
    pub fn decode<'a>(
        shards: impl IntoIterator<Item = &'a [u8]>,
        secrets: Option<&[u8]>,
    ) -> Result<Bundle, BundleError> {
        let compressed: Vec<u8> = shards.into_iter().flatten().copied().collect();
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice()).read_to_end(&mut json)?;
        let config = serde_json::from_slice(&json)?;
        let secrets = match secrets {
            Some(bytes) => serde_json::from_slice::<SecretsDocument>(bytes)?
                .0
                .into_iter()
                .map(|(name, data)| (name, data.into_iter().map(|(key, value)| (key, value.0)).collect()))
                .collect(),
            None => SecretData::new(),
        };
        Ok(Bundle { config, secrets })
    }
}

/// The name of shard `index` of `instance`'s config.
pub fn shard_name(instance: &str, index: usize) -> String {
    format!("apigw-{instance}-config-{index}")
}

/// The name of `instance`'s Secret.
pub fn secret_name(instance: &str) -> String {
    format!("apigw-{instance}-secrets")
}

/// The number in label `key` of `meta`.
pub fn label_number(meta: &ObjectMeta, key: &str) -> Option<u64> {
    meta.labels.as_ref()?.get(key)?.parse().ok()
}

/// The shard data of config `version` among an instance's ConfigMaps, in shard order; `None`
/// unless every shard of that version is there (a version being written, or malformed labels).
pub fn version_shards(maps: &[Arc<ConfigMap>], version: u64) -> Option<Vec<&[u8]>> {
    let of_version: Vec<&Arc<ConfigMap>> =
        maps.iter().filter(|map| label_number(&map.metadata, VERSION_LABEL) == Some(version)).collect();
    let count = label_number(&of_version.first()?.metadata, SHARDS_LABEL)?;
    (0..count)
        .map(|index| {
            let map = of_version.iter().find(|map| label_number(&map.metadata, SHARD_LABEL) == Some(index))?;
            Some(map.binary_data.as_ref()?.get(SHARD_KEY)?.0.as_slice())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GroupConfig, UpstreamConfig};

    fn bundle(groups: usize) -> Bundle {
        let mut config = GatewayConfig::empty("default");
        for index in 0..groups {
            config.groups.push(GroupConfig {
                namespace: "shop".into(),
                name: format!("group-{index}-{}", fastrand::u64(..)),
                hosts: vec![format!("{}.example.com", fastrand::u64(..))],
                internal_host: None,
                stages: BTreeMap::new(),
                tls: vec![],
                apis: vec![],
            });
        }
        config.upstreams.insert(
            "shop/orders".into(),
            UpstreamConfig { endpoints: vec!["10.0.0.1:80".into()], ..Default::default() },
        );
        let secrets =
            BTreeMap::from([("shop/keys".to_owned(), BTreeMap::from([("appSecret".to_owned(), vec![0, 255])]))]);
        Bundle { config, secrets }
    }

    #[test]
    fn a_bundle_survives_encoding() {
        let original = bundle(3);
        let encoded = original.encode();
        assert_eq!(encoded.shards.len(), 1);
        assert_eq!(encoded.hash.len(), 40);
        let decoded =
            Bundle::decode(encoded.shards.iter().map(Vec::as_slice), Some(encoded.secrets.as_slice())).unwrap();
        assert_eq!(decoded, original);
        assert_eq!(original.encode(), encoded, "equal bundles give equal bytes");
    }

    #[test]
    fn large_configs_are_split_into_shards_that_reassemble() {
        // Random names compress badly: about 60 bytes a group.
        let original = bundle(30_000);
        let encoded = original.encode();
        assert!(encoded.shards.len() > 1, "{} shard(s)", encoded.shards.len());
        assert!(encoded.shards.iter().all(|shard| shard.len() <= SHARD_BYTES));
        let decoded = Bundle::decode(encoded.shards.iter().map(Vec::as_slice), None).unwrap();
        assert_eq!(decoded.config, original.config);
    }

    #[test]
    fn secrets_change_the_hash() {
        let mut changed = bundle(1);
        let before = changed.encode().hash;
        changed.secrets.get_mut("shop/keys").unwrap().insert("appSecret".into(), vec![1]);
        assert_ne!(changed.encode().hash, before);
    }

    #[test]
    fn missing_shards_are_an_error_not_a_panic() {
        let encoded = bundle(30_000).encode();
        assert!(Bundle::decode([encoded.shards[0].as_slice()], None).is_err());
    }
}
