//! Health of backend endpoints. Passive (outlier detection): an endpoint whose requests fail a
//! number of times in a row is ejected for a while, longer each time it is ejected again.
//! Active ([`super::health_check`]): an endpoint that fails its checks gets no requests until it
//! passes them again.
//!
//! An endpoint's health is a fact of this process, not of one config: upstreams compiled from
//! successive configs (and two VpcAccesses reaching the same pod) share the state of the same
//! `host:port`, so a reload neither forgets an ejection nor resets the count.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apigw_core::config::{HealthCheckConfig, OutlierConfig};
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};
use serde::Serialize;

use crate::state::clock::now_ms;
use crate::state::interned::Interned;
use crate::telemetry::metrics::{EndpointLabels, Metrics};

/// The longest ejection, in multiples of the base ejection time.
const MAX_EJECTION_MULTIPLE: u32 = 10;

/// One endpoint's health.
#[derive(Debug)]
pub struct EndpointHealth {
    authority: String,
    consecutive_failures: AtomicU32,
    /// Until when it is ejected, in milliseconds of [`now_ms`] (0: never ejected).
    ejected_until_ms: AtomicU64,
    /// Ejections since it last served a request well after one.
    ejections_in_a_row: AtomicU32,
    ejections: Counter,
    ejected: Gauge,
    /// The gauge's family, which forgets the endpoint when it goes.
    ejected_family: Family<EndpointLabels, Gauge>,
    /// Whether its active checks fail (false while unchecked).
    unhealthy: AtomicBool,
    /// The active checks asked for by the newest upstream holding it, and whether a task runs
    /// them.
    pub(super) checks: Mutex<Checks>,
}

/// An endpoint's active checks.
#[derive(Debug, Default)]
pub(super) struct Checks {
    /// The settings the checking task reads before each check (`None`: stop).
    pub settings: Option<HealthCheckConfig>,
    /// Whether a task is checking.
    pub running: bool,
}

/// What the admin port's `/endpoints` reports of one endpoint.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointReport {
    /// `host:port`.
    pub endpoint: String,
    /// Whether it is ejected now.
    pub ejected: bool,
    /// Milliseconds until it is served again (0 when not ejected).
    pub ejected_for_ms: u64,
    /// Failed requests in a row.
    pub consecutive_failures: u32,
    /// Ejections in a row.
    pub ejections_in_a_row: u32,
    /// What its active checks say (absent when it is not checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

static ENDPOINTS: Interned<EndpointHealth> = Interned::new();

impl EndpointHealth {
    /// The health of `authority`, shared with every upstream that holds it.
    pub fn of(authority: &str, metrics: &Metrics) -> Arc<Self> {
        ENDPOINTS.get_or_make(authority, || {
            let labels = EndpointLabels { endpoint: authority.to_owned() };
            Self {
                authority: authority.to_owned(),
                consecutive_failures: AtomicU32::new(0),
                ejected_until_ms: AtomicU64::new(0),
                ejections_in_a_row: AtomicU32::new(0),
                ejections: metrics.endpoint_ejections.get_or_create(&labels).clone(),
                ejected: metrics.endpoint_ejected.get_or_create(&labels).clone(),
                ejected_family: metrics.endpoint_ejected.clone(),
                unhealthy: AtomicBool::new(false),
                checks: Mutex::default(),
            }
        })
    }

    /// The endpoint's `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Whether requests may go to it: neither ejected nor failing its active checks.
    pub fn is_serveable(&self) -> bool {
        !self.unhealthy.load(Ordering::Relaxed) && !self.is_ejected()
    }

    /// What an active check found: it serves or not from now on.
    pub fn set_healthy(&self, healthy: bool) {
        if self.unhealthy.swap(!healthy, Ordering::Relaxed) == healthy {
            tracing::warn!(endpoint = %self.authority, healthy, "active health check");
        }
    }

    /// Whether requests should stay away from it now.
    pub fn is_ejected(&self) -> bool {
        let until = self.ejected_until_ms.load(Ordering::Relaxed);
        until != 0 && now_ms() < until
    }

    /// A request it served well: the failure count starts again.
    pub fn succeeded(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
        if self.ejected_until_ms.load(Ordering::Relaxed) != 0 && !self.is_ejected() {
            self.ejected_until_ms.store(0, Ordering::Relaxed);
            self.ejections_in_a_row.store(0, Ordering::Relaxed);
            self.ejected.set(0);
        }
    }

    /// A request it failed (connection error, timeout, 5xx). Ejects it when that makes
    /// `policy.consecutive_failures` in a row and `may_eject` allows one more ejection; returns
    /// whether it did.
    pub fn failed(&self, policy: &OutlierConfig, may_eject: impl FnOnce() -> bool) -> bool {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if policy.consecutive_failures == 0 || failures < policy.consecutive_failures || self.is_ejected() {
            return false;
        }
        if !may_eject() {
            return false;
        }
        let multiple = (self.ejections_in_a_row.fetch_add(1, Ordering::Relaxed) + 1).min(MAX_EJECTION_MULTIPLE);
        let ejection = Duration::from_secs(u64::from(policy.base_ejection_seconds) * u64::from(multiple));
        self.ejected_until_ms
            .store(now_ms() + u64::try_from(ejection.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.ejections.inc();
        self.ejected.set(1);
        tracing::warn!(endpoint = %self.authority, seconds = ejection.as_secs(), failures, "endpoint ejected");
        true
    }

    fn report(&self) -> EndpointReport {
        let until = self.ejected_until_ms.load(Ordering::Relaxed);
        let now = now_ms();
        EndpointReport {
            endpoint: self.authority.clone(),
            ejected: until != 0 && now < until,
            ejected_for_ms: until.saturating_sub(now),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            ejections_in_a_row: self.ejections_in_a_row.load(Ordering::Relaxed),
            healthy: self
                .checks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .running
                .then(|| !self.unhealthy.load(Ordering::Relaxed)),
        }
    }
}

impl Drop for EndpointHealth {
    /// An endpoint no upstream holds any more (its pod is gone) leaves the ejected gauge.
    fn drop(&mut self) {
        self.ejected_family.remove(&EndpointLabels { endpoint: std::mem::take(&mut self.authority) });
    }
}

/// Every endpoint some served upstream holds, by `host:port`.
pub fn report() -> Vec<EndpointReport> {
    let mut reports: Vec<EndpointReport> = ENDPOINTS.alive().iter().map(|(_, health)| health.report()).collect();
    reports.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(consecutive_failures: u32) -> OutlierConfig {
        OutlierConfig { consecutive_failures, base_ejection_seconds: 30, max_ejection_percent: 100 }
    }

    #[test]
    fn failures_in_a_row_eject_and_a_success_starts_the_count_again() {
        let metrics = Metrics::default();
        let health = EndpointHealth::of("10.9.0.1:80", &metrics);
        for _ in 0..4 {
            assert!(!health.failed(&policy(5), || true));
        }
        health.succeeded();
        for _ in 0..4 {
            assert!(!health.failed(&policy(5), || true), "the count started again");
        }
        assert!(health.failed(&policy(5), || true), "the fifth in a row ejects");
        assert!(health.is_ejected());
        let report = report().into_iter().find(|report| report.endpoint == "10.9.0.1:80").expect("reported");
        assert!(report.ejected && report.ejected_for_ms > 29_000, "{report:?}");
    }

    #[test]
    fn an_ejection_the_share_forbids_does_not_happen() {
        let health = EndpointHealth::of("10.9.0.2:80", &Metrics::default());
        assert!(!health.failed(&policy(1), || false));
        assert!(!health.is_ejected());
        assert!(!health.failed(&policy(0), || true), "0 never ejects");
    }

    #[test]
    fn upstreams_share_an_endpoints_health() {
        let metrics = Metrics::default();
        let first = EndpointHealth::of("10.9.0.3:80", &metrics);
        assert!(first.failed(&policy(1), || true));
        assert!(EndpointHealth::of("10.9.0.3:80", &metrics).is_ejected(), "the same state");
        drop(first);
        assert!(!EndpointHealth::of("10.9.0.3:80", &metrics).is_ejected(), "forgotten once no upstream holds it");
    }
}
