//! Alarms as code: what an Api (or every Api of a group) is alarmed on. The operator renders them
//! as prometheus-operator `PrometheusRule` objects over the gateway's metrics.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One alarm: a metric of an Api over a window, above or below a threshold.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.above) != has(self.below)").message("set exactly one of above or below"),
    validation = Rule::new("self.metric == 'RequestRate' || has(self.above)")
        .message("only RequestRate has a floor (below)").field_path(".below"),
    validation = Rule::new("!has(self.labels) || self.labels.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$') && !(k in ['alertname', 'namespace', 'group', 'api']))")
        .message("label names are Prometheus label names, other than alertname, namespace, group and api").field_path(".labels"),
)]
pub struct Alarm {
    /// The alert's name (default `Apigw` and the metric: `ApigwErrorRate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"))]
    pub name: Option<String>,
    /// What is measured, per Api.
    pub metric: AlarmMetric,
    /// Alarm when the value is above this: a percentage for ErrorRate and ThrottledRate,
    /// milliseconds for LatencyP99, requests per second for RequestRate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub above: Option<f64>,
    /// RequestRate only: alarm when fewer requests per second than this arrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub below: Option<f64>,
    /// The window the metric is computed over (Prometheus duration: `30s`, `5m`, `1h`).
    #[serde(default = "default_window")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,4}[smh]$"))]
    pub window: String,
    /// How long the condition must hold before the alarm fires (`0s`: at once).
    #[serde(default = "default_for", rename = "for")]
    #[schemars(regex(pattern = r"^[0-9]{1,5}[smh]$"))]
    pub for_duration: String,
    /// Labels on the alert, to route it (`severity`, `team`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub labels: BTreeMap<String, String>,
}

fn default_window() -> String {
    "5m".to_owned()
}

fn default_for() -> String {
    "1m".to_owned()
}

/// What an alarm measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum AlarmMetric {
    /// The percentage of answers with a 5xx status.
    ErrorRate,
    /// The 99th percentile of the time to the answer's headers, in milliseconds.
    LatencyP99,
    /// The percentage of requests refused with 429 (traffic control).
    ThrottledRate,
    /// Requests per second.
    RequestRate,
}

impl AlarmMetric {
    /// The metric's name in alert names (`ErrorRate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ErrorRate => "ErrorRate",
            Self::LatencyP99 => "LatencyP99",
            Self::ThrottledRate => "ThrottledRate",
            Self::RequestRate => "RequestRate",
        }
    }
}
