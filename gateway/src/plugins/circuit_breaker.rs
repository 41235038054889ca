//! The circuit breaker every Api has (Alibaba's, built in): when its backend timed out 1,000
//! times within 30 s, the breaker opens for 90 s, and every request gets `503 D503CB` at once
//! (or the downgrade backend's answer); then a few requests go through (half open), and the
//! breaker closes when one succeeds, or opens again when one fails. A `circuitBreaker` plugin
//! sets the threshold, window and open time, or counts answers for which a condition over
//! `$StatusCode` holds instead of timeouts.
//!
//! Each gateway pod keeps its own breakers, by Api and stage, across config reloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use apigw_core::condition::{Condition, Parameters};
use apigw_core::config::{BreakerTrip, CircuitBreakerConfig};
use http::StatusCode;

use crate::backend::target::CompiledBackend;
use crate::state::clock::now_ms;
use crate::state::interned::Interned;

/// Alibaba's default: timeouts within the window that open the breaker.
const DEFAULT_TIMEOUTS: u32 = 1000;
/// Alibaba's default window.
const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// Alibaba's default open time.
const DEFAULT_OPEN: Duration = Duration::from_secs(90);
/// Requests let through at once while half open.
const PROBES: u32 = 3;

/// What the breaker counts.
#[derive(Debug)]
enum Trip {
    /// Backend timeouts.
    Timeouts(u32),
    /// Answers (or the gateway's answers for failed calls) the condition holds for.
    Errors { condition: Condition, threshold: u32 },
}

/// An Api's circuit breaker, compiled; its state outlives the config.
#[derive(Debug)]
pub struct CompiledBreaker {
    trip: Trip,
    window_ms: u64,
    open_ms: u64,
    /// The backend that answers while the breaker is open (else `503 D503CB`).
    pub downgrade: Option<Box<CompiledBackend>>,
    state: Arc<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    window_start_ms: AtomicU64,
    trips: AtomicU32,
    /// Until when it is open, on [`now_ms`]'s clock (then half open); 0 while closed.
    open_until_ms: AtomicU64,
    probes: AtomicU32,
}

static BREAKERS: Interned<BreakerState> = Interned::new();

/// Whether a request may go to the backend.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: it goes.
    Closed,
    /// Half open: it goes as one of the few probes; `first` when it is the first since opening.
    Probe {
        /// The breaker just turned half open.
        first: bool,
    },
    /// Open: it does not.
    Open,
}

/// A change of the breaker's state, for its metric.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// It opened (or opened again after a failed probe).
    Opened,
    /// A probe succeeded: it closed.
    Closed,
}

/// How the backend call went, as the breaker sees it.
#[derive(Debug)]
pub struct Outcome {
    /// The status answered: the backend's, or the gateway's when the call failed.
    pub status: StatusCode,
    /// Whether the backend timed out.
    pub timed_out: bool,
}

impl CompiledBreaker {
    /// The breaker of the Api keyed `key` (namespace, group, name, stage): the plugin's
    /// settings, else Alibaba's defaults; `downgrade` is the plugin's downgrade backend, compiled.
    pub fn compile(
        config: Option<&CircuitBreakerConfig>,
        key: &str,
        downgrade: Option<CompiledBackend>,
    ) -> Result<Self, String> {
        let (trip, window, open) = match config {
            None => (Trip::Timeouts(DEFAULT_TIMEOUTS), DEFAULT_WINDOW, DEFAULT_OPEN),
            Some(config) => {
                let trip = match &config.trip {
                    BreakerTrip::Timeouts(threshold) => Trip::Timeouts(*threshold),
                    BreakerTrip::Errors { condition, threshold } => Trip::Errors {
                        condition: Condition::parse(condition)
                            .map_err(|e| format!("circuitBreaker errorCondition: {e}"))?,
                        threshold: *threshold,
                    },
                };
                let seconds = |seconds: u32| Duration::from_secs(u64::from(seconds));
                (trip, seconds(config.window_seconds), seconds(config.open_seconds))
            }
        };
        let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Ok(Self {
            trip,
            window_ms: millis(window),
            open_ms: millis(open),
            downgrade: downgrade.map(Box::new),
            state: BREAKERS.get_or_make(key, BreakerState::default),
        })
    }

    /// Whether a request may go to the backend now.
    pub fn admit(&self) -> Admission {
        let open_until = self.state.open_until_ms.load(Ordering::Relaxed);
        if open_until == 0 {
            return Admission::Closed;
        }
        if now_ms() < open_until {
            return Admission::Open;
        }
        match self.state.probes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < PROBES).then_some(n + 1)) {
            Ok(before) => Admission::Probe { first: before == 0 },
            Err(_) => Admission::Open,
        }
    }

    /// Counts how an admitted request's backend call went; returns the state change, if any.
    pub fn record(&self, admission: &Admission, outcome: &Outcome) -> Option<Change> {
        let tripped = match &self.trip {
            Trip::Timeouts(_) => outcome.timed_out,
            Trip::Errors { condition, .. } => condition.evaluate(&StatusParameter(outcome.status.as_str())),
        };
        let state = &self.state;
        match admission {
            Admission::Open => None,
            Admission::Probe { .. } => {
                state.probes.fetch_sub(1, Ordering::Relaxed);
                if tripped {
                    state.open_until_ms.store(now_ms().saturating_add(self.open_ms), Ordering::Relaxed);
                    Some(Change::Opened)
                } else {
                    let was_open = state.open_until_ms.swap(0, Ordering::Relaxed) != 0;
                    state.trips.store(0, Ordering::Relaxed);
                    was_open.then_some(Change::Closed)
                }
            }
            Admission::Closed if !tripped => None,
            Admission::Closed => {
                let now = now_ms();
                let start = state.window_start_ms.load(Ordering::Relaxed);
                if now.saturating_sub(start) >= self.window_ms {
                    state.window_start_ms.store(now, Ordering::Relaxed);
                    state.trips.store(0, Ordering::Relaxed);
                }
                let trips = state.trips.fetch_add(1, Ordering::Relaxed) + 1;
                let threshold = match &self.trip {
                    Trip::Timeouts(threshold) | Trip::Errors { threshold, .. } => *threshold,
                };
                let until = now.saturating_add(self.open_ms);
                let opened = trips >= threshold
                    && state.open_until_ms.compare_exchange(0, until, Ordering::Relaxed, Ordering::Relaxed).is_ok();
                opened.then(|| {
                    state.trips.store(0, Ordering::Relaxed);
                    Change::Opened
                })
            }
        }
    }
}

/// `$StatusCode`, the one parameter of an error condition.
struct StatusParameter<'a>(&'a str);

impl Parameters for StatusParameter<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        (name == "StatusCode").then_some(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(key: &str, trip: BreakerTrip) -> CompiledBreaker {
        let config = CircuitBreakerConfig {
            plugin: "breaker".to_owned(),
            trip,
            window_seconds: 10,
            open_seconds: 15,
            downgrade: None,
        };
        CompiledBreaker::compile(Some(&config), key, None).expect("compiles")
    }

    fn timed_out() -> Outcome {
        Outcome { status: StatusCode::GATEWAY_TIMEOUT, timed_out: true }
    }

    #[test]
    fn the_threshold_of_timeouts_opens_it_and_a_reload_keeps_it_open() {
        let first = breaker("ns/g/a/RELEASE", BreakerTrip::Timeouts(3));
        for expected in [None, None, Some(Change::Opened)] {
            assert_eq!(first.admit(), Admission::Closed);
            assert_eq!(first.record(&Admission::Closed, &timed_out()), expected);
        }
        assert_eq!(first.admit(), Admission::Open);
        let reloaded = breaker("ns/g/a/RELEASE", BreakerTrip::Timeouts(3));
        assert_eq!(reloaded.admit(), Admission::Open, "the state outlives the config");
        assert_eq!(breaker("ns/g/a/TEST", BreakerTrip::Timeouts(3)).admit(), Admission::Closed, "per stage");
    }

    #[test]
    fn half_open_a_few_probes_go_and_one_success_closes_it() {
        let breaker = breaker("ns/g/b/RELEASE", BreakerTrip::Timeouts(1));
        assert_eq!(breaker.record(&Admission::Closed, &timed_out()), Some(Change::Opened));
        // As if the open time had passed.
        breaker.state.open_until_ms.store(1, Ordering::Relaxed);
        let probes: Vec<Admission> = (0..PROBES + 1).map(|_| breaker.admit()).collect();
        assert_eq!(probes[0], Admission::Probe { first: true });
        assert_eq!(probes[PROBES as usize], Admission::Open, "only {PROBES} probes at once");
        let ok = Outcome { status: StatusCode::OK, timed_out: false };
        assert_eq!(breaker.record(&probes[0], &ok), Some(Change::Closed));
        assert_eq!(breaker.admit(), Admission::Closed);
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let breaker = breaker("ns/g/c/RELEASE", BreakerTrip::Timeouts(1));
        breaker.record(&Admission::Closed, &timed_out());
        breaker.state.open_until_ms.store(1, Ordering::Relaxed);
        let probe = breaker.admit();
        assert_eq!(breaker.record(&probe, &timed_out()), Some(Change::Opened));
        assert_eq!(breaker.admit(), Admission::Open);
    }

    #[test]
    fn error_mode_counts_the_answers_its_condition_holds_for() {
        let trip = BreakerTrip::Errors { condition: "$StatusCode == 503".to_owned(), threshold: 2 };
        let breaker = breaker("ns/g/d/RELEASE", trip);
        let answer = |status: u16| Outcome { status: StatusCode::from_u16(status).unwrap(), timed_out: false };
        assert_eq!(breaker.record(&Admission::Closed, &answer(500)), None);
        assert_eq!(breaker.record(&Admission::Closed, &answer(503)), None);
        assert_eq!(breaker.record(&Admission::Closed, &answer(503)), Some(Change::Opened));
    }

    #[test]
    fn without_a_plugin_it_takes_alibabas_defaults() {
        let breaker = CompiledBreaker::compile(None, "ns/g/e/RELEASE", None).expect("compiles");
        assert!(matches!(breaker.trip, Trip::Timeouts(1000)));
        assert_eq!((breaker.window_ms, breaker.open_ms), (30_000, 90_000));
    }
}
