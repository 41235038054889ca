//! The operator's Prometheus metrics (prometheus-client), served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of per-kind series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The object kind.
    pub kind: &'static str,
}

/// Labels of per-instance series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceLabels {
    /// The gateway instance.
    pub instance: String,
}

/// Labels of reconcile outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: &'static str,
}

/// Every series the operator exports.
pub struct Metrics {
    registry: Registry,
    /// Reconcile passes by result.
    pub reconciles: Family<ResultLabels, Counter>,
    /// Duration of reconcile passes.
    pub reconcile_seconds: Histogram,
    /// Watch events received since start, by kind.
    pub events: Family<KindLabels, Counter>,
    /// Change events waiting for the next pass.
    pub queue_depth: Gauge,
    /// Objects in the cache, by kind.
    pub objects: Family<KindLabels, Gauge>,
    /// Compressed config bytes, by instance.
    pub config_bytes: Family<InstanceLabels, Gauge>,
    /// Config version published, by instance.
    pub config_version: Family<InstanceLabels, Gauge>,
    /// Writes of ConfigMaps and Secrets (applies and deletes), by kind.
    pub config_writes: Family<KindLabels, Counter>,
    /// Data bytes written into ConfigMaps and Secrets (applies), by kind.
    pub config_written_bytes: Family<KindLabels, Counter>,
    /// Status writes, by kind.
    pub status_writes: Family<KindLabels, Counter>,
    /// Problems reported on objects' status in the last pass.
    pub problems: Gauge,
    /// 1 while this replica leads.
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("apigw_operator"),
            reconciles: Family::default(),
            reconcile_seconds: Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            events: Family::default(),
            queue_depth: Gauge::default(),
            objects: Family::default(),
            config_bytes: Family::default(),
            config_version: Family::default(),
            config_writes: Family::default(),
            config_written_bytes: Family::default(),
            status_writes: Family::default(),
            problems: Gauge::default(),
            leader: Gauge::default(),
        };
        let registry = &mut metrics.registry;
        registry.register("reconciles", "Reconcile passes, by result", metrics.reconciles.clone());
        registry.register("reconcile_duration_seconds", "Reconcile pass duration", metrics.reconcile_seconds.clone());
        registry.register("watch_events", "Watch events received, by kind", metrics.events.clone());
        registry.register("queue_depth", "Change events waiting for the next pass", metrics.queue_depth.clone());
        registry.register("objects", "Objects in the cache, by kind", metrics.objects.clone());
        registry.register("config_bytes", "Compressed config size, by instance", metrics.config_bytes.clone());
        registry.register("config_version", "Published config version, by instance", metrics.config_version.clone());
        registry.register("config_writes", "ConfigMap and Secret writes, by kind", metrics.config_writes.clone());
        registry.register(
            "config_written_bytes",
            "Data bytes of ConfigMap and Secret applies, by kind",
            metrics.config_written_bytes.clone(),
        );
        registry.register("status_writes", "Status writes, by kind", metrics.status_writes.clone());
        registry.register("problems", "Problems reported in the last pass", metrics.problems.clone());
        registry.register("leader", "1 while this replica leads", metrics.leader.clone());
        metrics
    }
}

impl Metrics {
    /// Records how many objects of `kind` the cache holds.
    pub fn set_objects(&self, kind: &'static str, count: usize) {
        self.objects.get_or_create(&KindLabels { kind }).set(count as i64);
    }

    /// The OpenMetrics text of every series.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
