//! Writing one instance's [`Bundle`] into the config namespace (format: [`apigw_core::bundle`]):
//! server-side apply of the Secret, then of every shard, then deletion of shards the new version
//! no longer has. Nothing is written when the content hash is the one already published.

use std::collections::{BTreeMap, HashMap};

use apigw_core::bundle::{
    Bundle, HASH_LABEL, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGER, SECRETS_KEY, SHARD_KEY, SHARD_LABEL, SHARDS_LABEL,
    VERSION_LABEL, secret_name, shard_name, version_shards,
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
}

/// Writes bundles and remembers what it wrote.
pub struct Publisher {
    config_maps: Api<ConfigMap>,
    secrets: Api<Secret>,
    /// The operator's ConfigMaps as watched (the truth after a restart).
    store: Store<ConfigMap>,
    /// What this process wrote (ahead of the watch).
    written: HashMap<String, Published>,
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
            owners: owner.map(|owner| vec![owner]),
        }
    }

    /// What is published for `instance`: what this process wrote last, else what shard 0 says.
    pub fn published(&self, instance: &str) -> Option<Published> {
        if let Some(written) = self.written.get(instance) {
            return Some(written.clone());
        }
        let first = self.shards(instance).into_iter().find(|map| label(map, SHARD_LABEL) == Some("0"))?;
        Some(Published {
            version: label(&first, VERSION_LABEL)?.parse().ok()?,
            hash: label(&first, HASH_LABEL)?.to_owned(),
        })
    }

    /// The config published for `instance`, read back from its ConfigMaps (after a restart, the
    /// last good versions of Apis come from there).
    pub fn published_config(&self, instance: &str) -> Option<GatewayConfig> {
        let version = self.published(instance)?.version;
        let maps = self.shards(instance);
        let data = version_shards(&maps, version)?;
        Bundle::decode(data, None).map(|bundle| bundle.config).ok()
    }

    /// Instances that have ConfigMaps (and were not removed by this process already).
    pub fn instances(&self) -> Vec<String> {
        let mut instances: Vec<String> =
            self.store.state().iter().filter_map(|map| label(map, INSTANCE_LABEL).map(str::to_owned)).collect();
        instances.retain(|instance| self.written.get(instance).is_none_or(|written| !written.hash.is_empty()));
        instances.sort();
        instances.dedup();
        instances
    }

    /// Publishes `bundle` for `instance` unless its hash is already published; returns the
    /// version that now holds it.
    pub async fn publish(&mut self, instance: &str, bundle: &Bundle, metrics: &Metrics) -> Result<u64, kube::Error> {
        let encoded = bundle.encode();
        let previous = self.published(instance);
        if let Some(previous) = previous.as_ref().filter(|previous| previous.hash == encoded.hash) {
            return Ok(previous.version);
        }
        let version = previous.map_or(1, |previous| previous.version + 1);
        let labels = |extra: &[(&str, String)]| {
            let mut labels = BTreeMap::from([
                (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
                (INSTANCE_LABEL.to_owned(), instance.to_owned()),
                (VERSION_LABEL.to_owned(), version.to_string()),
                (HASH_LABEL.to_owned(), encoded.hash.clone()),
            ]);
            labels.extend(extra.iter().map(|(key, value)| (key.to_string(), value.clone())));
            labels
        };
        let apply = PatchParams::apply(MANAGER).force();
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(instance)),
                labels: Some(labels(&[])),
                owner_references: self.owners.clone(),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(SECRETS_KEY.to_owned(), ByteString(encoded.secrets.clone()))])),
            type_: Some("Opaque".to_owned()),
            ..Secret::default()
        };
        self.secrets.patch(&secret_name(instance), &apply, &Patch::Apply(&secret)).await?;
        count(metrics, "Secret");
        let shards = encoded.shards.len();
        for (index, shard) in encoded.shards.iter().enumerate() {
            let name = shard_name(instance, index);
            let map = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(labels(&[(SHARD_LABEL, index.to_string()), (SHARDS_LABEL, shards.to_string())])),
                    owner_references: self.owners.clone(),
                    ..ObjectMeta::default()
                },
                binary_data: Some(BTreeMap::from([(SHARD_KEY.to_owned(), ByteString(shard.clone()))])),
                ..ConfigMap::default()
            };
            self.config_maps.patch(&name, &apply, &Patch::Apply(&map)).await?;
            count(metrics, "ConfigMap");
        }
        for stale in self.shards(instance) {
            if label(&stale, SHARD_LABEL).and_then(|index| index.parse::<usize>().ok()).is_some_and(|i| i >= shards) {
                self.delete_config_map(&stale.name_any(), metrics).await?;
            }
        }
        let bytes: usize = encoded.shards.iter().map(Vec::len).sum();
        let labels = InstanceLabels { instance: instance.to_owned() };
        metrics.config_bytes.get_or_create(&labels).set(bytes as i64);
        metrics.config_version.get_or_create(&labels).set(version as i64);
        tracing::info!(instance, version, hash = %encoded.hash, shards, bytes, "config published");
        self.written.insert(instance.to_owned(), Published { version, hash: encoded.hash });
        Ok(version)
    }

    /// Deletes everything published for `instance` (its last group is gone).
    pub async fn remove(&mut self, instance: &str, metrics: &Metrics) -> Result<(), kube::Error> {
        for map in self.shards(instance) {
            self.delete_config_map(&map.name_any(), metrics).await?;
        }
        match self.secrets.delete(&secret_name(instance), &DeleteParams::default()).await {
            Ok(_) => count(metrics, "Secret"),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error),
        }
        // Remembered as published-and-removed (empty hash): until the watch catches up, the
        // store still shows the deleted ConfigMaps, and a group that comes back with the same
        // content must still be published, at a higher version.
        let version = self.published(instance).map_or(0, |published| published.version);
        self.written.insert(instance.to_owned(), Published { version, hash: String::new() });
        tracing::info!(instance, "config removed: no ApiGroup names this instance");
        Ok(())
    }

    fn shards(&self, instance: &str) -> Vec<std::sync::Arc<ConfigMap>> {
        self.store.state().into_iter().filter(|map| label(map, INSTANCE_LABEL) == Some(instance)).collect()
    }

    async fn delete_config_map(&self, name: &str, metrics: &Metrics) -> Result<(), kube::Error> {
        match self.config_maps.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                count(metrics, "ConfigMap");
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error),
        }
    }
}

fn label<'a>(map: &'a ConfigMap, key: &str) -> Option<&'a str> {
    map.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

fn count(metrics: &Metrics, kind: &'static str) {
    metrics.config_writes.get_or_create(&KindLabels { kind }).inc();
}
