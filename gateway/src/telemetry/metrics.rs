//! Prometheus metrics of the data plane, served on the admin port's `/metrics`.

use std::sync::{Arc, OnceLock, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram};
use prometheus_client::registry::Registry;

/// Labels of a served request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Group namespace ("" when no API matched).
    pub namespace: Arc<String>,
    /// Group name.
    pub group: Arc<String>,
    /// API name.
    pub api: Arc<String>,
    /// Stage.
    pub stage: Arc<String>,
    /// HTTP status code.
    pub code: u16,
}

/// Labels of an API.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// Group namespace.
    pub namespace: Arc<String>,
    /// Group name.
    pub group: Arc<String>,
    /// API name.
    pub api: Arc<String>,
    /// Stage.
    pub stage: Arc<String>,
}

/// Labels of a backend error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendErrorLabels {
    /// Group namespace.
    pub namespace: Arc<String>,
    /// Group name.
    pub group: Arc<String>,
    /// API name.
    pub api: Arc<String>,
    /// The `X-Ca-Error-Code`.
    pub code: &'static str,
}

/// Labels of a backend endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// `host:port`.
    pub endpoint: String,
}

/// Labels of a config load.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `loaded` or `refused`.
    pub result: &'static str,
}

/// Every metric of the gateway.
pub struct Metrics {
    registry: Registry,
    /// Requests by API, stage and status code.
    pub requests: Family<RequestLabels, Counter>,
    /// End-to-end latency by API.
    pub latency: Family<ApiLabels, Histogram, fn() -> Histogram>,
    /// Backend latency by API.
    pub backend_latency: Family<ApiLabels, Histogram, fn() -> Histogram>,
    /// Backend failures (connect, timeout, bad function answer) by API.
    pub backend_errors: Family<BackendErrorLabels, Counter>,
    /// Backend requests tried again, by API.
    pub backend_retries: Family<ApiLabels, Counter>,
    /// An API's circuit breaker: 0 closed, 1 open, 2 half open.
    pub circuit_breaker_state: Family<ApiLabels, Gauge>,
    /// Times an API's circuit breaker opened.
    pub circuit_breaker_openings: Family<ApiLabels, Counter>,
    /// Times an endpoint was ejected by passive health.
    pub endpoint_ejections: Family<EndpointLabels, Counter>,
    /// Whether an endpoint is ejected now.
    pub endpoint_ejected: Family<EndpointLabels, Gauge>,
    /// Requests the caching plugin answered from the cache.
    pub cache_hits: Counter,
    /// Requests of cached Apis that went to the backend.
    pub cache_misses: Counter,
    /// Config loads by result.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Open client connections.
    pub connections: Gauge,
    /// Client connections refused because a listener held `--max-connections`.
    pub refused_connections: Counter,
    /// APIs in the served config.
    pub apis: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("apigw_gateway");
        let requests = Family::default();
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let backend_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let backend_errors = Family::default();
        let reloads = Family::default();
        let (backend_retries, circuit_breaker_state, circuit_breaker_openings) =
            (Family::default(), Family::default(), Family::default());
        let (endpoint_ejections, endpoint_ejected) = (Family::default(), Family::default());
        let (cache_hits, cache_misses) = (Counter::default(), Counter::default());
        let connections = Gauge::default();
        let refused_connections = Counter::default();
        let apis = Gauge::default();
        registry.register("requests", "Requests by group, API, stage and status code", requests.clone());
        registry.register("request_duration_seconds", "Time from request to response headers", latency.clone());
        registry.register("backend_duration_seconds", "Time the backend took to answer", backend_latency.clone());
        registry.register(
            "backend_errors",
            "Backend connect failures, timeouts and bad answers",
            backend_errors.clone(),
        );
        registry.register("backend_retries", "Backend requests tried again, by API", backend_retries.clone());
        registry.register(
            "circuit_breaker_state",
            "An API's circuit breaker: 0 closed, 1 open, 2 half open (this pod's)",
            circuit_breaker_state.clone(),
        );
        registry.register(
            "circuit_breaker_openings",
            "Times an API's circuit breaker opened",
            circuit_breaker_openings.clone(),
        );
        registry.register("endpoint_ejections", "Times passive health ejected an endpoint", endpoint_ejections.clone());
        registry.register(
            "endpoint_ejected",
            "Whether passive health ejected an endpoint now (1)",
            endpoint_ejected.clone(),
        );
        registry.register("cache_hits", "Requests the caching plugin answered from the cache", cache_hits.clone());
        registry.register("cache_misses", "Requests of cached Apis that went to the backend", cache_misses.clone());
        registry.register("config_loads", "Config loads by result (loaded, refused)", reloads.clone());
        registry.register("connections", "Open client connections", connections.clone());
        registry.register(
            "refused_connections",
            "Client connections refused at a listener's --max-connections",
            refused_connections.clone(),
        );
        registry.register("apis", "APIs in the served config", apis.clone());
        Self {
            registry,
            requests,
            latency,
            backend_latency,
            backend_errors,
            backend_retries,
            circuit_breaker_state,
            circuit_breaker_openings,
            endpoint_ejections,
            endpoint_ejected,
            cache_hits,
            cache_misses,
            reloads,
            connections,
            refused_connections,
            apis,
        }
    }
}

/// One API's metric handles, taken from the families at the API's first request (an API never
/// requested has no series and costs no memory for them), so that later requests record without
/// hashing their labels.
#[derive(Debug)]
pub struct ApiMetrics {
    labels: ApiLabels,
    /// End-to-end and backend latency.
    latencies: OnceLock<(Histogram, Histogram)>,
    /// Request counters by status code, added as codes are first seen.
    requests: RwLock<Vec<(u16, Counter)>>,
}

impl ApiMetrics {
    /// The handles of the API with `labels`, none taken yet.
    pub fn new(labels: ApiLabels) -> Self {
        Self { labels, latencies: OnceLock::new(), requests: RwLock::new(Vec::new()) }
    }

    /// Records one request: its status, total seconds and backend seconds (0 when none).
    pub fn observe(&self, metrics: &Metrics, status: u16, seconds: f64, backend_seconds: f64) {
        let (latency, backend_latency) = self.latencies.get_or_init(|| {
            let latency = metrics.latency.get_or_create(&self.labels).clone();
            (latency, metrics.backend_latency.get_or_create(&self.labels).clone())
        });
        latency.observe(seconds);
        if backend_seconds > 0.0 {
            backend_latency.observe(backend_seconds);
        }
        let known = self
            .requests
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .find(|(code, _)| *code == status)
            .map(|(_, counter)| counter.clone());
        let counter = known.unwrap_or_else(|| {
            let counter = metrics.requests.get_or_create(&self.request_labels(status)).clone();
            self.requests.write().unwrap_or_else(|poisoned| poisoned.into_inner()).push((status, counter.clone()));
            counter
        });
        counter.inc();
    }

    /// Counts backend requests tried again (rare: the labels are hashed then).
    pub fn retried(&self, metrics: &Metrics, retries: u8) {
        metrics.backend_retries.get_or_create(&self.labels).inc_by(u64::from(retries));
    }

    /// Records the circuit breaker's new state (0 closed, 1 open, 2 half open), counting
    /// openings.
    pub fn circuit_breaker(&self, metrics: &Metrics, state: i64) {
        metrics.circuit_breaker_state.get_or_create(&self.labels).set(state);
        if state == 1 {
            metrics.circuit_breaker_openings.get_or_create(&self.labels).inc();
        }
    }

    /// Removes the API's series: it is no longer served.
    pub fn forget(&self, metrics: &Metrics) {
        metrics.latency.remove(&self.labels);
        metrics.backend_latency.remove(&self.labels);
        metrics.backend_retries.remove(&self.labels);
        metrics.circuit_breaker_state.remove(&self.labels);
        metrics.circuit_breaker_openings.remove(&self.labels);
        for (code, _) in self.requests.read().unwrap_or_else(|poisoned| poisoned.into_inner()).iter() {
            metrics.requests.remove(&self.request_labels(*code));
        }
    }

    fn request_labels(&self, code: u16) -> RequestLabels {
        let ApiLabels { namespace, group, api, stage } = self.labels.clone();
        RequestLabels { namespace, group, api, stage, code }
    }
}

impl Metrics {
    /// Registers the access log's count of lines dropped because stdout did not keep up.
    pub fn register_access_log(&mut self, dropped: Counter) {
        let help = "Access-log lines dropped because stdout did not keep up";
        self.registry.register("access_log_dropped_lines", help, dropped);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}
