//! When a backend request is tried again: the policy of its backend and a budget that keeps
//! retries a small share of the requests, so that they never multiply an overload.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use apigw_core::config::RetryConfig;
use http::{Method, StatusCode};

use crate::state::clock::now_ms;

/// A backend's retry policy, compiled.
#[derive(Debug)]
pub struct RetryPolicy {
    /// Tries after the first.
    pub attempts: u8,
    on_status: Vec<StatusCode>,
    /// The time each try of an idempotent request may take.
    pub per_try_timeout: Option<Duration>,
    budget: RetryBudget,
}

impl RetryPolicy {
    /// The policy of a backend's config.
    pub fn compile(config: &RetryConfig) -> Result<Self, String> {
        let on_status = config
            .on_status
            .iter()
            .map(|code| StatusCode::from_u16(*code).map_err(|error| format!("retries.onStatus {code}: {error}")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            attempts: config.attempts,
            on_status,
            per_try_timeout: config.per_try_timeout_ms.map(|ms| Duration::from_millis(u64::from(ms))),
            budget: RetryBudget::default(),
        })
    }

    /// Whether an idempotent request that got `status` is tried again.
    pub fn retries_answer(&self, status: StatusCode) -> bool {
        self.on_status.contains(&status)
    }

    /// Counts a request sent to the backend (a first try), which lets retries through.
    pub fn count_request(&self) {
        self.budget.count_request();
    }

    /// Whether the budget has room for one more retry; takes it when it has.
    pub fn take_retry(&self) -> bool {
        self.budget.take_retry()
    }
}

/// Whether a request may be sent twice with the same effect (RFC 9110 §9.2.2; TRACE is never
/// proxied on).
pub fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE)
}

/// Retries allowed per window whatever the traffic, so that a quiet backend still gets them.
const MIN_RETRIES_PER_WINDOW: u32 = 10;
/// The share of a window's requests that may be retried.
const RETRY_PERCENT: u32 = 20;
/// The window the budget counts in.
const WINDOW: Duration = Duration::from_secs(10);

/// Retries within at most [`RETRY_PERCENT`] % of the requests of the last window, plus
/// [`MIN_RETRIES_PER_WINDOW`] (as Linkerd's and Finagle's retry budgets). One per backend of
/// each compiled config: a reload starts a new window.
#[derive(Debug, Default)]
struct RetryBudget {
    /// The window's number on [`now_ms`]'s clock.
    window: AtomicU64,
    requests: AtomicU32,
    retries: AtomicU32,
}

impl RetryBudget {
    fn roll(&self) {
        let now = now_ms() / u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX);
        if self.window.load(Ordering::Relaxed) != now {
            self.window.store(now, Ordering::Relaxed);
            self.requests.store(0, Ordering::Relaxed);
            self.retries.store(0, Ordering::Relaxed);
        }
    }

    fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn take_retry(&self) -> bool {
        self.roll();
        let allowed = MIN_RETRIES_PER_WINDOW + self.requests.load(Ordering::Relaxed) * RETRY_PERCENT / 100;
        self.retries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |taken| (taken < allowed).then_some(taken + 1))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_a_fifth_of_the_requests_plus_ten() {
        let policy = RetryPolicy::compile(&RetryConfig::default()).expect("compiles");
        let taken = (0..100).filter(|_| policy.take_retry()).count();
        assert_eq!(taken, 10, "ten retries without traffic");
        for _ in 0..100 {
            policy.count_request();
        }
        let taken = (0..100).filter(|_| policy.take_retry()).count();
        assert!(taken == 20 || taken == 30, "twenty more after 100 requests (30 if a window ended): {taken}");
    }

    #[test]
    fn only_the_listed_answers_of_idempotent_methods_are_retried() {
        let config = RetryConfig { attempts: 2, on_status: vec![503], per_try_timeout_ms: Some(250) };
        let policy = RetryPolicy::compile(&config).expect("compiles");
        assert!(policy.retries_answer(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!policy.retries_answer(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(policy.per_try_timeout, Some(Duration::from_millis(250)));
        assert!(is_idempotent(&Method::PUT) && is_idempotent(&Method::GET));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
    }
}
