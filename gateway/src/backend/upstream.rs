//! The endpoints of a VpcAccess, balanced by the power of two choices over in-flight requests.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use apigw_core::config::UpstreamConfig;
use http::uri::Authority;

/// The ready endpoints HTTP-VPC requests may go to.
#[derive(Debug)]
pub struct Upstream {
    endpoints: Vec<Endpoint>,
}

#[derive(Debug)]
struct Endpoint {
    authority: Authority,
    in_flight: AtomicUsize,
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
        &self.upstream.endpoints[self.index].authority
    }

    /// Another endpoint than this one (at random), for a request this one could not be
    /// connected for; `None` when there is no other.
    pub fn other(&self) -> Option<InFlight> {
        let count = self.upstream.endpoints.len();
        (count > 1).then(|| self.upstream.hold((self.index + 1 + fastrand::usize(..count - 1)) % count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.upstream.endpoints[self.index].in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Upstream {
    /// The upstream of a config entry; fails on an endpoint that is not `host:port`.
    pub fn from_config(config: &UpstreamConfig) -> Result<Self, String> {
        let endpoints = config
            .endpoints
            .iter()
            .map(|endpoint| {
                let authority: Authority = endpoint.parse().map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
                Ok(Endpoint { authority, in_flight: AtomicUsize::new(0) })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { endpoints })
    }

    /// Picks the less loaded of two random endpoints; `None` when there is no endpoint.
    pub fn pick(self: &Arc<Self>) -> Option<InFlight> {
        let count = self.endpoints.len();
        let index = match count {
            0 => return None,
            1 => 0,
            _ => {
                let first = fastrand::usize(..count);
                let second = (first + 1 + fastrand::usize(..count - 1)) % count;
                let load = |index: usize| self.endpoints[index].in_flight.load(Ordering::Relaxed);
                if load(second) < load(first) { second } else { first }
            }
        };
        Some(self.hold(index))
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
        let config = UpstreamConfig { endpoints: endpoints.iter().map(|endpoint| (*endpoint).to_owned()).collect() };
        Arc::new(Upstream::from_config(&config).expect("valid endpoints"))
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
        assert!(Upstream::from_config(&UpstreamConfig { endpoints: vec!["not an authority!".to_owned()] }).is_err());
    }
}
