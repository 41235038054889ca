//! Active health checks: for each checked endpoint a task sends `GET path` every interval (on
//! the runtime that compiled the config, the gateway's control thread, never a worker's) and
//! marks the endpoint unhealthy after `unhealthyThreshold` failed checks in a row, healthy again
//! after `healthyThreshold` passed ones. A check passes on a 2xx or 3xx answer within
//! `timeoutSeconds`. The task ends when no served upstream holds the endpoint any more, or the
//! newest one asks for no checks.

use std::sync::{Arc, Weak};
use std::time::Duration;

use apigw_core::config::HealthCheckConfig;
use http::{HeaderMap, HeaderValue, Method, header, uri::Authority};
use http_body_util::{Either, Full};
use tokio::time::Instant;

use super::direct;
use super::health::EndpointHealth;

/// Checks `health`'s endpoint as `settings` say from now on (`None`: no more checks, and it
/// serves); starts the checking task when none runs.
pub fn check(health: &Arc<EndpointHealth>, settings: Option<&HealthCheckConfig>) {
    let mut checks = health.checks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    checks.settings = settings.cloned();
    if checks.running || settings.is_none() {
        return;
    }
    // Without a runtime (unit tests compiling configs) nothing is checked.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    checks.running = true;
    runtime.spawn(run(Arc::downgrade(health)));
}

async fn run(endpoint: Weak<EndpointHealth>) {
    let (mut passed, mut failed) = (0, 0);
    loop {
        let Some(health) = endpoint.upgrade() else { return };
        let settings = {
            let mut checks = health.checks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if checks.settings.is_none() {
                checks.running = false;
                drop(checks);
                health.set_healthy(true);
                return;
            }
            checks.settings.clone()
        };
        let Some(settings) = settings else { return };
        let Ok(authority) = health.authority().parse::<Authority>() else { return };
        // Not held while waiting: an endpoint no upstream holds ends its task.
        drop(health);
        let healthy = probe(&authority, &settings).await;
        let Some(health) = endpoint.upgrade() else { return };
        if healthy {
            (passed, failed) = (passed + 1, 0);
            if passed >= settings.healthy_threshold {
                health.set_healthy(true);
            }
        } else {
            (passed, failed) = (0, failed + 1);
            if failed >= settings.unhealthy_threshold {
                health.set_healthy(false);
            }
        }
        drop(health);
        tokio::time::sleep(Duration::from_secs(u64::from(settings.interval_seconds))).await;
    }
}

/// One check: whether `GET path` is answered 2xx or 3xx in time.
async fn probe(authority: &Authority, settings: &HealthCheckConfig) -> bool {
    let mut headers = HeaderMap::new();
    if let Ok(host) = HeaderValue::try_from(authority.as_str()) {
        headers.insert(header::HOST, host);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::USER_AGENT, HeaderValue::from_static("apigw-health-check"));
    let deadline = Instant::now() + Duration::from_secs(u64::from(settings.timeout_seconds));
    let sent =
        direct::send(authority, &Method::GET, &settings.path, &headers, Either::Right(Full::default()), deadline);
    match sent.await {
        Ok(response) => {
            let status = response.status();
            status.is_success() || status.is_redirection()
        }
        Err(_) => false,
    }
}
