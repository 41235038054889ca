//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go does it: the holder renews
//! the Lease every [`RETRY`]; others take it over only once it has not been renewed for its
//! duration. Every write carries the resourceVersion read, so two replicas racing for the Lease
//! cannot both win. A leader that cannot renew within [`RENEW_DEADLINE`] (the API server is away)
//! or finds the Lease taken stops leading and becomes a candidate again. Candidates also watch
//! the Lease, so that one a leader releases on shutdown is taken within moments, not at the
//! next [`RETRY`].
//!
//! Written here rather than taken from a crate: the Lease crates for kube-rs pin older kube
//! versions, which would build a second kube.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a Lease stays valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long the leader keeps leading without a successful renewal.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often candidates and the leader try.
pub const RETRY: Duration = Duration::from_secs(2);

/// How often a release is tried when the Lease changes under it (409 Conflict).
const RELEASE_ATTEMPTS: usize = 3;

/// A candidate for the Lease `namespace/name`.
pub struct Elector {
    leases: Api<Lease>,
    name: String,
    identity: String,
    owner: Option<OwnerReference>,
}

impl Elector {
    /// A candidate called `identity`; a Lease it creates names `owner`.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, owner: Option<OwnerReference>) -> Self {
        let (name, identity) = (name.to_owned(), identity.to_owned());
        Self { leases: Api::namespaced(client, namespace), name, identity, owner }
    }

    /// Campaigns for the Lease in a task until resigned: `leading` turns true while this
    /// candidate holds the Lease.
    pub fn campaign(self: Arc<Self>, leading: watch::Sender<bool>) -> Campaign {
        let task = tokio::spawn({
            let elector = self.clone();
            async move { elector.run(leading).await }
        });
        Campaign { elector: self, task }
    }

    /// Runs forever: `leading` turns true while this candidate holds the Lease.
    async fn run(&self, leading: watch::Sender<bool>) {
        let mut renewed: Option<Instant> = None;
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.name));
        let mut lease_changes = std::pin::pin!(watcher(self.leases.clone(), config).default_backoff());
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    if renewed.is_none() {
                        tracing::info!(identity = %self.identity, lease = %self.name, "became the leader");
                        let _ = leading.send(true);
                    }
                    renewed = Some(Instant::now());
                }
                Ok(false) => {
                    if renewed.take().is_some() {
                        tracing::error!(lease = %self.name, "another replica took the Lease; following");
                        let _ = leading.send(false);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, lease = %self.name, "Lease request failed");
                    if renewed.is_some_and(|at| at.elapsed() > RENEW_DEADLINE) {
                        tracing::error!(lease = %self.name, "could not renew the Lease in time; following");
                        renewed = None;
                        let _ = leading.send(false);
                    }
                }
            }
            let retry = tokio::time::sleep(RETRY);
            if renewed.is_some() {
                retry.await;
            } else {
                // A candidate tries again at once when the Lease changes (released, expired).
                tokio::select! {
                    () = retry => {}
                    _ = lease_changes.next() => {}
                }
            }
        }
    }

    /// Gives the Lease up if this candidate holds it, so that another takes over at once
    /// instead of after [`LEASE_DURATION`]. A write that lost a race (the last renewal's answer
    /// landing late) is tried again on the Lease read anew.
    async fn release(&self) -> Result<(), kube::Error> {
        let mut attempt = 1;
        loop {
            match self.try_release().await {
                Err(kube::Error::Api(status)) if status.code == 409 && attempt < RELEASE_ATTEMPTS => attempt += 1,
                result => return result,
            }
        }
    }

    async fn try_release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.leases.get_opt(&self.name).await? else { return Ok(()) };
        let Some(spec) = lease.spec.as_mut().filter(|spec| spec.holder_identity.as_ref() == Some(&self.identity))
        else {
            return Ok(());
        };
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        self.leases.replace(&self.name, &PostParams::default(), &lease).await?;
        tracing::info!(lease = %self.name, "released the Lease");
        Ok(())
    }

    /// One attempt: whether this candidate holds the Lease afterwards.
    async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = jiff::Timestamp::now();
        let Some(mut lease) = self.leases.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    owner_references: self.owner.clone().map(|owner| vec![owner]),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None, 0)),
            };
            return conflict_is_false(self.leases.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|holder| !holder.is_empty());
        let ours = holder == Some(self.identity.as_str());
        let duration = spec.lease_duration_seconds.map_or(LEASE_DURATION.as_secs() as i64, i64::from);
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| renewed.0.as_second() + duration < now.as_second());
        if !ours && holder.is_some() && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquired = if ours { spec.acquire_time.clone() } else { None };
        lease.spec = Some(self.spec(now, acquired, transitions));
        // The resourceVersion read is kept: a concurrent writer makes this fail with 409.
        conflict_is_false(self.leases.replace(&self.name, &PostParams::default(), &lease).await)
    }

    fn spec(&self, now: jiff::Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

/// A running [`Elector::campaign`].
pub struct Campaign {
    elector: Arc<Elector>,
    task: JoinHandle<()>,
}

impl Campaign {
    /// Stops campaigning, then gives the Lease up if this candidate holds it.
    pub async fn resign(self) -> Result<(), kube::Error> {
        self.task.abort();
        let _ = self.task.await;
        self.elector.release().await
    }
}

/// A write that lost a race (409 Conflict) means "not the holder", not an error.
fn conflict_is_false(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}
