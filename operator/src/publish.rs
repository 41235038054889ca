//! Writing one instance's [`Bundle`] into the config namespace (format: [`apigw_core::bundle`]):
//! server-side apply of the Secret and of every shard whose content changed, then of the index
//! that names the new version, then deletion of shards the new version no longer has. Nothing is
//! written when the content hash is the one already published; one changed Api rewrites its own
//! shard and the index.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use apigw_core::bundle::{
    Bundle, CONTENT_HASH_LABEL, Compressed, Digests, HASH_LABEL, INDEX_KEY, INSTANCE_LABEL, Index, MANAGED_BY_LABEL,
    MANAGER, SECRETS_KEY, SHARD_KEY, VERSION_LABEL, index_name, indexed_shards, label, label_number, read_index,
    secret_name,
};
use apigw_core::config::GatewayConfig;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};

use crate::metrics::{InstanceLabels, KindLabels, Metrics};

/// What is published for one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The config version.
    pub version: u64,
    /// The content hash.
    pub hash: String,
    /// The index of that version (`None` once removed).
    pub index: Option<Index>,
}

/// Writes bundles and remembers what it wrote.
pub struct Publisher {
    config_maps: Api<ConfigMap>,
    secrets: Api<Secret>,
    /// The operator's ConfigMaps as watched (the truth after a restart).
    store: Store<ConfigMap>,
    /// What this process wrote (ahead of the watch).
    written: HashMap<String, Published>,
    /// The content hash of each shard and Secret this process wrote, by name: a shard is
    /// skipped only when this process itself wrote its content (the watch may lag, and a
    /// predecessor may have crashed half-way through a version).
    contents: HashMap<String, String>,
    /// Each instance's compressed buckets of the last encoding.
    compressed: HashMap<String, Compressed>,
    /// The owner every published object names (deleted with it).
    owners: Option<Vec<OwnerReference>>,
}

impl Publisher {
    /// A publisher into `namespace` of objects owned by `owner`.
    pub fn new(client: Client, namespace: &str, store: Store<ConfigMap>, owner: Option<OwnerReference>) -> Self {
        Self {
            config_maps: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client, namespace),
            store,
            written: HashMap::new(),
            contents: HashMap::new(),
            compressed: HashMap::new(),
            owners: owner.map(|owner| vec![owner]),
        }
    }

    /// What is published for `instance`: what this process wrote last, else what the index says
    /// (else the newest version label: objects of an earlier format, replaced on the next write).
    pub fn published(&self, instance: &str) -> Option<Published> {
        if let Some(written) = self.written.get(instance) {
            return Some(written.clone());
        }
        let maps = self.maps(instance);
        if let Some(indexed) = read_index(&maps, instance) {
            return Some(Published { version: indexed.version, hash: indexed.hash, index: Some(indexed.index) });
        }
        let version = maps.iter().filter_map(|map| label_number(&map.metadata, VERSION_LABEL)).max()?;
        Some(Published { version, hash: String::new(), index: None })
    }

    /// The config published for `instance`, read back from its ConfigMaps (after a restart, the
    /// last good versions of Apis come from there).
    pub fn published_config(&self, instance: &str) -> Option<GatewayConfig> {
        let index = self.published(instance)?.index?;
        let maps = self.maps(instance);
        let data = indexed_shards(&maps, &index)?;
        Bundle::decode(data, None).map(|bundle| bundle.config).ok()
    }

    /// Instances that have ConfigMaps (and were not removed by this process already).
    pub fn instances(&self) -> Vec<String> {
        let mut instances: Vec<String> = self
            .store
            .state()
            .iter()
            .filter_map(|map| label(&map.metadata, INSTANCE_LABEL).map(str::to_owned))
            .collect();
        instances.retain(|instance| self.written.get(instance).is_none_or(|written| written.index.is_some()));
        instances.sort();
        instances.dedup();
        instances
    }

    /// Publishes `bundle` for `instance` unless its hash is already published, serializing only
    /// what differs from `encoded_before` (a config and the digests its encoding returned);
    /// returns the version that now holds it and the digests of this encoding.
    pub async fn publish(
        &mut self,
        instance: &str,
        bundle: &Bundle,
        encoded_before: Option<(&GatewayConfig, &Digests)>,
        metrics: &Metrics,
    ) -> Result<(u64, Digests), kube::Error> {
        let previous = self.published(instance);
        let previous_index = previous.as_ref().and_then(|previous| previous.index.as_ref());
        let cache = self.compressed.entry(instance.to_owned()).or_default();
        let encoding = std::time::Instant::now();
        let mut encoded = bundle.encode_reusing(previous_index.map(|index| index.buckets), encoded_before, cache);
        let encode_ms = encoding.elapsed().as_secs_f64() * 1e3;
        let digests = std::mem::take(&mut encoded.digests);
        if let Some(previous) = previous.as_ref().filter(|previous| previous.hash == encoded.hash) {
            return Ok((previous.version, digests));
        }
        let version = previous.as_ref().map_or(1, |previous| previous.version + 1);
        let index = encoded.index(instance);
        let owners = self.owners.clone();
        let meta = |name: String, labels: &[(&str, &str)]| ObjectMeta {
            name: Some(name),
            labels: Some(
                [(MANAGED_BY_LABEL, MANAGER), (INSTANCE_LABEL, instance)]
                    .iter()
                    .chain(labels)
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect(),
            ),
            owner_references: owners.clone(),
            ..ObjectMeta::default()
        };
        if !self.holds(&secret_name(instance), &encoded.secrets_hash) {
            let secret = Secret {
                metadata: meta(secret_name(instance), &[(CONTENT_HASH_LABEL, &encoded.secrets_hash)]),
                data: Some(BTreeMap::from([(SECRETS_KEY.to_owned(), ByteString(encoded.secrets.clone()))])),
                type_: Some("Opaque".to_owned()),
                ..Secret::default()
            };
            apply(&self.secrets, &mut self.contents, &secret, &encoded.secrets_hash).await?;
            count(metrics, "Secret", encoded.secrets.len());
        }
        for (shard, entry) in encoded.shards.iter().zip(&index.shards) {
            if self.holds(&entry.name, &entry.hash) {
                continue;
            }
            let map = ConfigMap {
                metadata: meta(entry.name.clone(), &[(CONTENT_HASH_LABEL, &entry.hash)]),
                binary_data: Some(BTreeMap::from([(SHARD_KEY.to_owned(), ByteString(shard.data.clone()))])),
                ..ConfigMap::default()
            };
            apply(&self.config_maps, &mut self.contents, &map, &entry.hash).await?;
            count(metrics, "ConfigMap", shard.data.len());
        }
        let index_json = serde_json::to_string(&index).expect("an index always serializes");
        let index_bytes = index_json.len();
        let index_map = ConfigMap {
            metadata: meta(index_name(instance), &[(VERSION_LABEL, &version.to_string()), (HASH_LABEL, &encoded.hash)]),
            data: Some(BTreeMap::from([(INDEX_KEY.to_owned(), index_json)])),
            ..ConfigMap::default()
        };
        self.config_maps.patch(&index_name(instance), &force_apply(), &Patch::Apply(&index_map)).await?;
        count(metrics, "ConfigMap", index_bytes);
        for stale in self.maps(instance) {
            let name = stale.name_any();
            if name != index_name(instance) && !index.shards.iter().any(|entry| entry.name == name) {
                self.delete_config_map(&name, metrics).await?;
            }
        }
        let bytes: usize = encoded.shards.iter().map(|shard| shard.data.len()).sum();
        let labels = InstanceLabels { instance: instance.to_owned() };
        metrics.config_bytes.get_or_create(&labels).set(bytes as i64);
        metrics.config_version.get_or_create(&labels).set(version as i64);
        let shards = index.shards.len();
        tracing::info!(instance, version, hash = %encoded.hash, shards, bytes, encode_ms, "config published");
        self.written.insert(instance.to_owned(), Published { version, hash: encoded.hash, index: Some(index) });
        Ok((version, digests))
    }

    /// Deletes everything published for `instance` (its last group is gone).
    pub async fn remove(&mut self, instance: &str, metrics: &Metrics) -> Result<(), kube::Error> {
        for map in self.maps(instance) {
            self.delete_config_map(&map.name_any(), metrics).await?;
        }
        self.contents.remove(&secret_name(instance));
        self.compressed.remove(instance);
        match self.secrets.delete(&secret_name(instance), &DeleteParams::default()).await {
            Ok(_) => count(metrics, "Secret", 0),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error),
        }
        // Remembered as published-and-removed (no index): until the watch catches up, the store
        // still shows the deleted ConfigMaps, and a group that comes back with the same content
        // must still be published, at a higher version.
        let version = self.published(instance).map_or(0, |published| published.version);
        self.written.insert(instance.to_owned(), Published { version, hash: String::new(), index: None });
        tracing::info!(instance, "config removed: no ApiGroup names this instance");
        Ok(())
    }

    /// Whether this process wrote `hash` into the object `name` last.
    fn holds(&self, name: &str, hash: &str) -> bool {
        self.contents.get(name).is_some_and(|written| written == hash)
    }

    fn maps(&self, instance: &str) -> Vec<Arc<ConfigMap>> {
        self.store.state().into_iter().filter(|map| label(&map.metadata, INSTANCE_LABEL) == Some(instance)).collect()
    }

    async fn delete_config_map(&mut self, name: &str, metrics: &Metrics) -> Result<(), kube::Error> {
        self.contents.remove(name);
        match self.config_maps.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                count(metrics, "ConfigMap", 0);
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Applies `object` (which holds content `hash`) through `api`, remembering in `contents` what
/// its name holds (forgotten while the outcome is unknown).
async fn apply<K>(
    api: &Api<K>,
    contents: &mut HashMap<String, String>,
    object: &K,
    hash: &str,
) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let name = object.meta().name.clone().unwrap_or_default();
    contents.remove(&name);
    api.patch(&name, &force_apply(), &Patch::Apply(object)).await?;
    contents.insert(name, hash.to_owned());
    Ok(())
}

/// A server-side apply by [`MANAGER`] that takes over every field it sets.
fn force_apply() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

fn count(metrics: &Metrics, kind: &'static str, bytes: usize) {
    let labels = KindLabels { kind };
    metrics.config_writes.get_or_create(&labels).inc();
    metrics.config_written_bytes.get_or_create(&labels).inc_by(bytes as u64);
}
