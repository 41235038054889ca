//! The endpoints of a VpcAccess, balanced by the power of two choices over in-flight requests,
//! keeping away from endpoints that passive health ejected or that fail their active checks.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use apigw_core::config::{OutlierConfig, UpstreamConfig};
use http::uri::Authority;

use super::health::EndpointHealth;
use super::health_check;
use crate::telemetry::metrics::Metrics;

/// The ready endpoints HTTP-VPC requests may go to.
#[derive(Debug)]
pub struct Upstream {
    endpoints: Vec<Endpoint>,
    outlier: OutlierConfig,
}

#[derive(Debug)]
struct Endpoint {
    authority: Authority,
    /// The authority as the `Host` header, made once.
    host: http::HeaderValue,
    in_flight: AtomicUsize,
    health: Arc<EndpointHealth>,
}

/// An endpoint chosen for one request; it counts as in flight until dropped.
#[derive(Debug)]
pub struct InFlight {
    upstream: Arc<Upstream>,
    index: usize,
}

impl InFlight {
    /// The endpoint's `host:port`.
    pub fn authority(&self) -> &Authority {
        &self.endpoint().authority
    }

    /// The endpoint's `host:port` as a `Host` header.
    pub fn host(&self) -> &http::HeaderValue {
        &self.endpoint().host
    }

    /// Another endpoint than this one, for a request to try again; `None` when there is no
    /// other.
    pub fn other(&self) -> Option<InFlight> {
        let count = self.upstream.endpoints.len();
        if count < 2 {
            return None;
        }
        let index = self.upstream.choose(|index| index != self.index);
        Some(self.upstream.hold(index.unwrap_or((self.index + 1) % count)))
    }

    /// The endpoint served the request well.
    pub fn succeeded(&self) {
        self.endpoint().health.succeeded();
    }

    /// The endpoint failed the request (connection error, timeout, 5xx): counted by passive
    /// health, which may eject it.
    pub fn failed(&self) {
        let upstream = &self.upstream;
        upstream.endpoints[self.index].health.failed(&upstream.outlier, || upstream.may_eject_one_more());
    }

    fn endpoint(&self) -> &Endpoint {
        &self.upstream.endpoints[self.index]
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.endpoint().in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Upstream {
    /// The upstream of a config entry, its endpoints' health shared with earlier configs'
    /// upstreams; fails on an endpoint that is not `host:port`.
    pub fn from_config(config: &UpstreamConfig, metrics: &Metrics) -> Result<Self, String> {
        let endpoints = config
            .endpoints
            .iter()
            .map(|endpoint| {
                let authority: Authority = endpoint.parse().map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
                let host = http::HeaderValue::try_from(authority.as_str())
                    .map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
                let health = EndpointHealth::of(authority.as_str(), metrics);
                health_check::check(&health, config.health_check.as_ref());
                Ok(Endpoint { authority, host, in_flight: AtomicUsize::new(0), health })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { endpoints, outlier: config.outlier.clone() })
    }

    /// Picks the less loaded of two random endpoints that are not ejected (any endpoint when
    /// all are); `None` when there is no endpoint.
    pub fn pick(self: &Arc<Self>) -> Option<InFlight> {
        let index = match self.endpoints.len() {
            0 => return None,
            1 => 0,
            count => self.choose(|_| true).unwrap_or_else(|| fastrand::usize(..count)),
        };
        Some(self.hold(index))
    }

    /// The less loaded of two random endpoints that `allowed` allows and are not ejected,
    /// else the first such endpoint from a random start; `None` when there is none.
    fn choose(&self, allowed: impl Fn(usize) -> bool) -> Option<usize> {
        let count = self.endpoints.len();
        let serveable = |index: usize| allowed(index) && self.endpoints[index].health.is_serveable();
        let first = fastrand::usize(..count);
        let second = (first + 1 + fastrand::usize(..count - 1)) % count;
        let load = |index: usize| self.endpoints[index].in_flight.load(Ordering::Relaxed);
        match (serveable(first), serveable(second)) {
            (true, true) => Some(if load(second) < load(first) { second } else { first }),
            (true, false) => Some(first),
            (false, true) => Some(second),
            (false, false) => (0..count).map(|offset| (first + offset) % count).find(|index| serveable(*index)),
        }
    }

    /// Whether ejecting one more endpoint keeps the ejected share within the policy's.
    fn may_eject_one_more(&self) -> bool {
        let ejected = self.endpoints.iter().filter(|endpoint| endpoint.health.is_ejected()).count();
        (ejected + 1) * 100 <= usize::from(self.outlier.max_ejection_percent) * self.endpoints.len()
    }

    fn hold(self: &Arc<Self>, index: usize) -> InFlight {
        self.endpoints[index].in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { upstream: self.clone(), index }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(endpoints: &[&str]) -> Arc<Upstream> {
        let config = UpstreamConfig {
            endpoints: endpoints.iter().map(|endpoint| (*endpoint).to_owned()).collect(),
            outlier: OutlierConfig { consecutive_failures: 1, ..OutlierConfig::default() },
            health_check: None,
        };
        Arc::new(Upstream::from_config(&config, &Metrics::default()).expect("valid endpoints"))
    }

    #[test]
    fn prefers_the_endpoint_with_fewer_requests_in_flight() {
        let upstream = upstream(&["10.0.0.1:80", "10.0.0.2:80"]);
        let busy = upstream.pick().expect("an endpoint");
        for _ in 0..20 {
            let next = upstream.pick().expect("an endpoint");
            assert_ne!(next.authority(), busy.authority(), "picked the busy endpoint");
        }
        drop(busy);
        assert_eq!(upstream.endpoints.iter().map(|e| e.in_flight.load(Ordering::Relaxed)).sum::<usize>(), 0);
    }

    #[test]
    fn another_endpoint_is_never_the_failed_one() {
        let upstream = upstream(&["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]);
        for _ in 0..30 {
            let failed = upstream.pick().expect("an endpoint");
            let other = failed.other().expect("another endpoint");
            assert_ne!(other.authority(), failed.authority());
        }
        assert!(self::upstream(&["10.0.0.1:80"]).pick().expect("one").other().is_none());
    }

    #[test]
    fn has_nothing_to_pick_without_endpoints() {
        assert!(upstream(&[]).pick().is_none());
        let bad = UpstreamConfig { endpoints: vec!["not an authority!".to_owned()], ..UpstreamConfig::default() };
        assert!(Upstream::from_config(&bad, &Metrics::default()).is_err());
    }

    #[test]
    fn an_ejected_endpoint_gets_no_requests_while_half_the_endpoints_still_serve() {
        let upstream = upstream(&["10.8.0.1:80", "10.8.0.2:80", "10.8.0.3:80", "10.8.0.4:80"]);
        let failing = upstream.pick().expect("an endpoint");
        failing.failed();
        let ejected = failing.authority().clone();
        drop(failing);
        for _ in 0..40 {
            assert_ne!(upstream.pick().expect("an endpoint").authority(), &ejected, "an ejected endpoint was picked");
        }
        // A second ejection is within 50 % of four; a third is not.
        let mut ejections = 1;
        for _ in 0..40 {
            let chosen = upstream.pick().expect("an endpoint");
            if !chosen.endpoint().health.is_ejected() {
                chosen.failed();
            }
            ejections = upstream.endpoints.iter().filter(|endpoint| endpoint.health.is_ejected()).count();
        }
        assert_eq!(ejections, 2, "at most half the endpoints are ejected");
    }
}
