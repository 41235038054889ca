//! A steady, bounded load for the tests that change a running gateway (rollouts, pod deletions,
//! scaling): requests at a fixed rate from a thread of its own, every answer checked, until
//! stopped or its time limit passes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How connections are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connections {
    /// Kept alive and reused, as browsers and SDK clients do.
    KeepAlive,
    /// A new connection per request.
    PerRequest,
}

/// What a load saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Requests sent.
    pub sent: usize,
    /// The failures: what went wrong with each (status and error code, or the client error).
    pub failures: Vec<String>,
    /// TCP connects to the address that failed: the request reached nothing (on the test node,
    /// no pod behind the balancer address), kept apart from the failures.
    pub unreached: Vec<String>,
}

/// What went wrong with one request.
enum Outcome {
    /// It was answered wrongly, reset, or not answered in time.
    Failed(String),
    /// Its connection was never made.
    Unreached(String),
}

/// A running load; [`Load::stop`] ends it and reports.
pub struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<LoadReport>,
}

/// Workers sharing the rate; each waits for its answer before its next request.
const WORKERS: usize = 8;

impl Load {
    /// Sends `GET path` with `Host: host` to `address`, `rate` requests a second, for at most
    /// `limit`. An answer counts as good when it is 200 and `good` accepts its body.
    pub fn start(
        address: SocketAddr,
        host: &str,
        path: &str,
        rate: u32,
        connections: Connections,
        limit: Duration,
        good: fn(&[u8]) -> bool,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (host, uri) = (host.to_owned(), format!("http://{address}{path}"));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
            runtime.expect("a runtime for the load").block_on(async move {
                let mut builder = Client::builder(TokioExecutor::new());
                if connections == Connections::PerRequest {
                    builder.pool_max_idle_per_host(0);
                }
                let client: Client<_, Full<Bytes>> = builder.build_http();
                let interval = Duration::from_secs_f64(WORKERS as f64 / f64::from(rate.max(1)));
                let deadline = tokio::time::Instant::now() + limit;
                let mut workers = tokio::task::JoinSet::new();
                for worker in 0..WORKERS {
                    let (client, host, uri, stopping) = (client.clone(), host.clone(), uri.clone(), stopping.clone());
                    workers.spawn(async move {
                        let mut report = LoadReport::default();
                        let start = tokio::time::Instant::now() + interval.mul_f64(worker as f64 / WORKERS as f64);
                        let mut ticks = tokio::time::interval_at(start, interval);
                        while !stopping.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
                            ticks.tick().await;
                            report.sent += 1;
                            match one(&client, &host, &uri, good).await {
                                Ok(()) => {}
                                Err(Outcome::Failed(failure)) => report.failures.push(failure),
                                Err(Outcome::Unreached(error)) => report.unreached.push(error),
                            }
                        }
                        report
                    });
                }
                let mut total = LoadReport::default();
                while let Some(report) = workers.join_next().await {
                    let report = report.expect("a load worker");
                    total.sent += report.sent;
                    total.failures.extend(report.failures);
                    total.unreached.extend(report.unreached);
                }
                total
            })
        });
        Self { stop, thread }
    }

    /// Stops the load and reports what it saw.
    pub fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the load thread")
    }
}

/// One request, checked; what went wrong otherwise.
async fn one(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    host: &str,
    uri: &str,
    good: fn(&[u8]) -> bool,
) -> Result<(), Outcome> {
    let request = Request::get(uri).header("host", host).body(Full::new(Bytes::new())).expect("a request");
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        let response = client.request(request).await.map_err(|error| match error.is_connect() {
            true => Outcome::Unreached(format!("{error:?}")),
            false => Outcome::Failed(format!("{error:?}")),
        })?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|error| Outcome::Failed(format!("reading the body: {error}")))?;
        Ok::<_, Outcome>((parts, body.to_bytes()))
    });
    let (parts, body) = answer.await.map_err(|_| Outcome::Failed("no answer within 10 s".to_owned()))??;
    if parts.status != 200 || !good(&body) {
        let code = parts.headers.get("x-ca-error-code").and_then(|value| value.to_str().ok()).unwrap_or_default();
        let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
        return Err(Outcome::Failed(format!("{} {code} {text}", parts.status)));
    }
    Ok(())
}
