//! In a cluster (`--instance NAME` without `--manifests`): the config the operator publishes for
//! the instance (format in [`apigw_core::bundle`]), watched through the API server rather than
//! mounted (mounted ConfigMaps update only every minute or so). A version is installed once every
//! shard its index names and the Secret hold the content the index names; until then the
//! previous version keeps serving. This replica reports the version it serves in a Lease the operator reads.

use std::sync::Arc;
use std::time::Duration;

use apigw_core::bundle::{
    COMPONENT_LABEL, CONTENT_HASH_LABEL, GATEWAY_COMPONENT, INSTANCE_LABEL, IndexedBucket, IndexedVersion,
    LOADED_VERSION_ANNOTATION, MANAGED_BY_LABEL, MANAGER, SECRETS_KEY, decode_secrets, indexed_buckets, label,
    read_index, secret_name,
};
use apigw_core::config::GatewayConfig;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource};
use tokio::sync::watch;

use crate::config::route_table::RouteTable;
use crate::pipeline::Gateway;
use crate::secrets::Secrets;
use crate::source::buckets::{Buckets, Reading};
use crate::source::manifests::{LoadError, install};

/// How often the report Lease is renewed.
const RENEW: Duration = Duration::from_secs(5);
/// How long a report Lease stays valid without renewal.
const LEASE_SECONDS: i32 = 15;

/// Where this gateway reads its config and reports to.
#[derive(Clone)]
pub struct ClusterSource {
    client: Client,
    namespace: String,
    instance: String,
    identity: String,
    /// The pod that owns the report Lease (deleted with it), when known.
    owner: Option<OwnerReference>,
}

/// A version the published objects hold completely.
#[derive(Debug, PartialEq)]
pub enum Assembled<'a> {
    /// Nothing is published for the instance (no ApiGroup names it): serve nothing.
    Nothing,
    /// Every shard of `version`, in order, and the Secret's JSON.
    Version {
        /// The config version.
        version: u64,
        /// Its content hash.
        hash: String,
        /// Its buckets, in index order.
        buckets: Vec<IndexedBucket<'a>>,
        /// The Secret's JSON.
        secrets: &'a [u8],
    },
}

/// The version `instance`'s index names, once its shards and the Secret hold what the index
/// names; `None` while a version is being written (or when objects are malformed).
pub fn assemble<'a>(maps: &'a [Arc<ConfigMap>], secret: Option<&'a Secret>, instance: &str) -> Option<Assembled<'a>> {
    if maps.is_empty() {
        return Some(Assembled::Nothing);
    }
    let IndexedVersion { version, hash, index } = read_index(maps, instance)?;
    let secret = secret.filter(|secret| label(&secret.metadata, CONTENT_HASH_LABEL) == Some(&index.secrets_hash))?;
    let secrets = secret.data.as_ref()?.get(SECRETS_KEY)?.0.as_slice();
    let buckets = indexed_buckets(maps, &index)?;
    Some(Assembled::Version { version, hash, buckets, secrets })
}

/// A version read: its config (without the Apis of `kept`), Secrets and hash, and its buckets.
struct Read {
    config: GatewayConfig,
    secrets: Secrets,
    /// Apis of unchanged buckets, served on as compiled.
    kept: Vec<String>,
    buckets: Buckets,
    hash: Option<String>,
}

/// Reads `assembled` against `buckets`, what the buckets of the version `served` was compiled
/// from held: only changed buckets are decoded (see [`Buckets::read`]).
fn read(
    assembled: Assembled,
    buckets: &Buckets,
    served: Option<&RouteTable>,
    instance: &str,
) -> Result<Read, LoadError> {
    let Assembled::Version { buckets: published, secrets, hash, .. } = assembled else {
        let config = GatewayConfig::empty(instance);
        return Ok(Read { config, secrets: Secrets::new(), kept: Vec::new(), buckets: Buckets::default(), hash: None });
    };
    let secrets = decode_secrets(secrets)?;
    let reading = buckets.read(&published, &secrets, served)?;
    tracing::debug!(decoded = reading.decoded, buckets = published.len(), kept = reading.kept.len(), "version read");
    let Reading { config, kept, next, .. } = reading;
    Ok(Read { config, secrets, kept, buckets: next, hash: Some(hash) })
}

impl ClusterSource {
    /// The source of `instance` in `namespace`; `identity` names this replica's Lease, which
    /// names the pod of UID `pod_uid` (called `identity`) as its owner when given.
    pub fn new(client: Client, namespace: &str, instance: &str, identity: &str, pod_uid: Option<&str>) -> Self {
        let owner = pod_uid.map(|uid| OwnerReference {
            api_version: "v1".to_owned(),
            kind: "Pod".to_owned(),
            name: identity.to_owned(),
            uid: uid.to_owned(),
            ..OwnerReference::default()
        });
        let (namespace, instance, identity) = (namespace.to_owned(), instance.to_owned(), identity.to_owned());
        Self { client, namespace, instance, identity, owner }
    }

    /// Watches and installs published versions forever.
    pub async fn run(self, gateway: Arc<Gateway>) {
        let (loaded, loaded_changes) = watch::channel(None);
        tokio::spawn(self.clone().report(loaded_changes));
        let selector = format!("{INSTANCE_LABEL}={},{MANAGED_BY_LABEL}={MANAGER}", self.instance);
        let by_name = format!("metadata.name={}", secret_name(&self.instance));
        let (maps, maps_writer) = reflector::store::<ConfigMap>();
        let (secrets, secrets_writer) = reflector::store::<Secret>();
        let map_events = watcher(self.api(), watcher::Config::default().labels(&selector))
            .default_backoff()
            .reflect(maps_writer)
            .map(|event| event.map(|_| ()));
        let secret_events = watcher(self.api(), watcher::Config::default().fields(&by_name))
            .default_backoff()
            .reflect(secrets_writer)
            .map(|event| event.map(|_| ()));
        let mut events = std::pin::pin!(futures::stream::select(map_events, secret_events));
        let mut installed: Option<u64> = None;
        let mut served_buckets = Buckets::default();
        while let Some(event) = events.next().await {
            if let Err(error) = event {
                tracing::warn!(%error, "watching the published config failed; retrying with backoff");
                continue;
            }
            let synced =
                maps.wait_until_ready().now_or_never().is_some() && secrets.wait_until_ready().now_or_never().is_some();
            if !synced {
                continue;
            }
            let (maps, secret) = (maps.state(), secrets.state());
            let Some(assembled) = assemble(&maps, secret.first().map(Arc::as_ref), &self.instance) else { continue };
            let version = match &assembled {
                Assembled::Nothing => 0,
                Assembled::Version { version, .. } => *version,
            };
            // Events of a version already installed (its stale shards deleted, say) decode nothing.
            if installed == Some(version) {
                continue;
            }
            installed = Some(version);
            let started = std::time::Instant::now();
            let served = gateway.live.current();
            let read = read(assembled, &served_buckets, served.as_deref().map(|served| &served.table), &self.instance);
            drop(served);
            let (config, kept, buckets, hash) = match read {
                Ok(Read { config, secrets, kept, buckets, hash }) => (Ok((config, secrets)), kept, buckets, hash),
                Err(error) => (Err(error), Vec::new(), Buckets::default(), None),
            };
            if install(&gateway, config, &kept, version, hash, started).is_ok() {
                served_buckets = buckets;
                let _ = loaded.send(Some(version));
            }
        }
    }

    /// Keeps this replica's Lease renewed with the version it serves, once it serves one.
    async fn report(self, mut loaded: watch::Receiver<Option<u64>>) {
        loop {
            let version = *loaded.borrow_and_update();
            if let Some(version) = version
                && let Err(error) = self.renew(version).await
            {
                tracing::warn!(%error, "reporting the loaded version failed");
            }
            tokio::select! {
                changed = loaded.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(RENEW) => {}
            }
        }
    }

    async fn renew(&self, version: u64) -> Result<(), kube::Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.lease_name()),
                labels: Some(
                    [
                        (COMPONENT_LABEL.to_owned(), GATEWAY_COMPONENT.to_owned()),
                        (INSTANCE_LABEL.to_owned(), self.instance.clone()),
                    ]
                    .into(),
                ),
                annotations: Some([(LOADED_VERSION_ANNOTATION.to_owned(), version.to_string())].into()),
                owner_references: self.owner.clone().map(|owner| vec![owner]),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(LEASE_SECONDS),
                renew_time: Some(MicroTime(jiff::Timestamp::now())),
                ..LeaseSpec::default()
            }),
        };
        let apply = PatchParams::apply("apigw-gateway").force();
        self.api::<Lease>().patch(&self.lease_name(), &apply, &Patch::Apply(&lease)).await.map(drop)
    }

    /// Deletes this replica's Lease (on shutdown: it no longer serves).
    pub async fn withdraw(&self) {
        match self.api::<Lease>().delete(&self.lease_name(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => tracing::warn!(%error, "deleting the report Lease"),
        }
    }

    fn api<K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// `apigw-gateway-<instance>-<identity>`, as a valid object name.
    fn lease_name(&self) -> String {
        let name = format!("apigw-gateway-{}-{}", self.instance, self.identity).to_lowercase();
        let name: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect();
        name.chars().take(253).collect::<String>().trim_end_matches(['-', '.']).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_core::bundle::{HASH_LABEL, INDEX_KEY, Index, IndexEntry, SHARD_KEY, VERSION_LABEL, index_name};
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn shard(name: &str, hash: &str, data: &[u8]) -> Arc<ConfigMap> {
        Arc::new(ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(BTreeMap::from([(CONTENT_HASH_LABEL.to_owned(), hash.to_owned())])),
                ..ObjectMeta::default()
            },
            binary_data: Some(BTreeMap::from([(SHARD_KEY.to_owned(), ByteString(data.to_vec()))])),
            ..ConfigMap::default()
        })
    }

    fn index(version: u64, shards: &[(&str, &str)], secrets_hash: &str) -> Arc<ConfigMap> {
        let index = Index {
            buckets: 2,
            shards: shards
                .iter()
                .map(|(name, hash)| IndexEntry { name: name.to_string(), hash: hash.to_string() })
                .collect(),
            secrets_hash: secrets_hash.to_owned(),
        };
        Arc::new(ConfigMap {
            metadata: ObjectMeta {
                name: Some(index_name("default")),
                labels: Some(BTreeMap::from([
                    (VERSION_LABEL.to_owned(), version.to_string()),
                    (HASH_LABEL.to_owned(), "hash".to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(INDEX_KEY.to_owned(), serde_json::to_string(&index).unwrap())])),
            ..ConfigMap::default()
        })
    }

    fn secret(hash: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                labels: Some(BTreeMap::from([(CONTENT_HASH_LABEL.to_owned(), hash.to_owned())])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(SECRETS_KEY.to_owned(), ByteString(b"{}".to_vec()))])),
            ..Secret::default()
        }
    }

    #[test]
    fn a_version_is_assembled_only_when_every_shard_and_the_secret_hold_what_its_index_names() {
        let names = [("c-1-0", "h1"), ("c-1-1", "h2"), ("c-0-0", "h0")];
        let maps =
            [shard("c-0-0", "h0", b"a"), index(3, &names, "s"), shard("c-1-0", "h1", b"b"), shard("c-1-1", "h2", b"c")];
        let current = secret("s");
        let Some(Assembled::Version { version, hash, buckets, .. }) = assemble(&maps, Some(&current), "default") else {
            panic!("complete")
        };
        assert_eq!((version, hash.as_str()), (3, "hash"));
        let bucket =
            |content: &str, parts: &[&'static [u8]]| IndexedBucket { content: content.into(), parts: parts.to_vec() };
        assert_eq!(
            buckets,
            vec![bucket("h1+h2", &[b"b", b"c"]), bucket("h0", &[b"a"])],
            "by bucket, in the index's order"
        );

        let half_written = [
            shard("c-0-0", "h0", b"a"),
            index(4, &names, "s"),
            shard("c-1-0", "old", b"b"),
            shard("c-1-1", "h2", b"c"),
        ];
        assert_eq!(assemble(&half_written, Some(&secret("s")), "default"), None, "shard 1 still holds old content");
        assert_eq!(assemble(&maps, Some(&secret("old")), "default"), None, "the Secret is not yet rewritten");
        assert_eq!(assemble(&maps, None, "default"), None, "no Secret yet");
        assert_eq!(assemble(&maps[..1], Some(&secret("s")), "default"), None, "no index yet");
    }

    #[test]
    fn no_published_objects_means_an_empty_config() {
        assert_eq!(assemble(&[], None, "default"), Some(Assembled::Nothing));
    }
}
