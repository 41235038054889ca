//! Distributed tracing end to end against a real OpenTelemetry Collector (`e2e/tools/otelcol`:
//! the OTLP receiver and the file exporter, built from the collector's Go modules): the spans
//! arrive with their parent/child links and attributes, the backend joins the trace through
//! `traceparent`, the client's context is joined only when trusted, sampling holds, the access
//! log names the trace, and the operator sends a span of every reconcile pass.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use apigw_e2e::gateway::{GatewayProcess, TestClient, free_port, scratch_dir};
use apigw_e2e::manifests::{shop_api, shop_group};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::process::ListeningProcess;
use apigw_e2e::{Cluster, Namespace, echo};
use serde_json::Value;

/// The client's trace context (the W3C specification's example).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// A collector writing what it receives to a file; killed when dropped.
struct Collector {
    _process: ListeningProcess,
    /// The OTLP/HTTP traces endpoint.
    endpoint: String,
    spans: PathBuf,
}

impl Collector {
    fn start() -> Self {
        let dir = scratch_dir("otelcol");
        let (address, spans) = (free_port(), dir.join("spans.json"));
        let config = format!(
            "receivers:\n  otlp:\n    protocols:\n      http: {{endpoint: '{address}'}}\nexporters:\n  file: {{path: '{}', flush_interval: 100ms}}\nservice:\n  telemetry: {{metrics: {{level: none}}}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [file]}}\n",
            spans.display()
        );
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        // Built by e2e/controlplane/build-otelcol.sh.
        let mut command = Command::new(Cluster::get().file("bin/otelcol"));
        command.arg(format!("--config=file:{}", dir.join("config.yaml").display()));
        let process = ListeningProcess::spawn(command, address, &dir.join("otelcol.log"));
        Self { _process: process, endpoint: format!("http://{address}/v1/traces"), spans }
    }

    /// Every span received so far, each with `service` (its resource's service.name) added.
    fn spans(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.spans).unwrap_or_default();
        let mut spans = Vec::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let batch: Value = serde_json::from_str(line).expect("the file exporter writes JSON lines");
            for resource in batch["resourceSpans"].as_array().into_iter().flatten() {
                let service = attribute(&resource["resource"], "service.name");
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        let mut span = span.clone();
                        span["service"] = service.clone();
                        spans.push(span);
                    }
                }
            }
        }
        spans
    }

    /// The spans once `enough` says so (within 20 s).
    async fn wait_for(&self, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans();
            if enough(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "the spans did not arrive within 20 s: {spans:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The value of OTLP attribute `key` of `holder` (a span or a resource), as JSON.
fn attribute(holder: &Value, key: &str) -> Value {
    let found = holder["attributes"].as_array().into_iter().flatten().find(|attribute| attribute["key"] == key);
    let Some(value) = found.map(|attribute| &attribute["value"]) else { return Value::Null };
    ["stringValue", "intValue", "boolValue"].iter().find_map(|kind| value.get(*kind)).cloned().unwrap_or(Value::Null)
}

fn manifests(backend: std::net::SocketAddr) -> String {
    [
        shop_group(""),
        shop_api("orders", "{method: GET, path: /orders}", &format!("{{type: HTTP, address: 'http://{backend}'}}")),
    ]
    .concat()
}

/// The backend's view of a request: its `traceparent` split into (trace id, parent id, flags).
fn seen_traceparent(answer: &Value) -> (String, String, String) {
    let header = answer["headers"]["traceparent"].as_str().unwrap_or_else(|| panic!("no traceparent: {answer}"));
    let parts: Vec<&str> = header.split('-').collect();
    assert_eq!((parts.len(), parts[0]), (4, "00"), "{header}");
    (parts[1].to_owned(), parts[2].to_owned(), parts[3].to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_client_trace_gets_server_and_backend_spans_linked_to_it() {
    let collector = Collector::start();
    let backend = echo::start("orders").await;
    let (gateway, log) = GatewayProcess::start_logged(
        &manifests(backend),
        &["--otlp-endpoint", &collector.endpoint, "--trace-sampling-ratio", "0", "--trust-traceparent", "true"],
    );
    let client = TestClient::http1();
    let sampled = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let answer = client
        .get(gateway.http, "shop.example.com", "/orders", &[("traceparent", &sampled), ("tracestate", "vendor=blue")])
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let (trace_id, backend_parent, flags) = seen_traceparent(&answer.json());
    assert_eq!((trace_id.as_str(), flags.as_str()), (TRACE_ID, "01"), "the backend joins the client's trace");
    assert_ne!(backend_parent, CLIENT_SPAN, "under the gateway's span, not the client's");
    assert_eq!(answer.json()["headers"]["tracestate"], "vendor=blue", "a trusted tracestate goes on");

    // A client that did not sample: its trace goes on to the backend, no span is recorded.
    let unsampled_trace = "0af7651916cd43dd8448eb211c80319c";
    let unsampled = format!("00-{unsampled_trace}-b7ad6b7169203331-00");
    let answer = client.get(gateway.http, "shop.example.com", "/orders", &[("traceparent", &unsampled)]).await;
    let (trace_id, _, flags) = seen_traceparent(&answer.json());
    assert_eq!((trace_id.as_str(), flags.as_str()), (unsampled_trace, "00"));

    let spans = collector.wait_for(|spans| spans.len() >= 2).await;
    let server = spans.iter().find(|span| span["kind"] == 2).expect("a server span");
    let child = spans.iter().find(|span| span["kind"] == 3).expect("a client (backend) span");
    assert_eq!(server["traceId"], TRACE_ID);
    assert_eq!(server["parentSpanId"], CLIENT_SPAN, "the server span's parent is the client's span");
    assert_eq!(server["name"], "GET shop/orders");
    assert_eq!(child["parentSpanId"], server["spanId"], "the backend call is a child of the server span");
    assert_eq!(child["spanId"], backend_parent.as_str(), "the backend's traceparent names the backend span");
    assert_eq!(server["service"], "apigw-gateway");
    assert_eq!(attribute(server, "apigw.api"), "orders");
    assert_eq!(attribute(server, "apigw.group"), "shop");
    assert_eq!(attribute(server, "http.response.status_code"), "200");
    assert_eq!(attribute(child, "server.address"), backend.to_string());
    let events: Vec<&str> =
        server["events"].as_array().unwrap().iter().map(|event| event["name"].as_str().unwrap()).collect();
    assert_eq!(events, ["routed", "authenticated", "admitted"], "the pipeline's phases");
    assert!(spans.iter().all(|span| span["traceId"] != unsampled_trace), "nothing recorded for the unsampled trace");

    // Access-log lines reach the file within a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    let traced: Vec<Value> = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        if lines.len() >= 2 {
            break lines;
        }
        assert!(Instant::now() < deadline, "{} access-log lines after 5 s", lines.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(gateway);
    // Each worker has a buffer of its own: lines of two workers come in either order.
    let mut ids: Vec<&str> = traced.iter().map(|line| line["traceId"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, [unsampled_trace, TRACE_ID], "the access log names each request's trace");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_client_trace_is_not_joined_and_the_ratio_decides() {
    let collector = Collector::start();
    let backend = echo::start("orders").await;
    let everything = GatewayProcess::start(
        &manifests(backend),
        &["--otlp-endpoint", &collector.endpoint, "--trace-sampling-ratio", "1"],
    );
    let nothing = GatewayProcess::start(
        &manifests(backend),
        &["--otlp-endpoint", &collector.endpoint, "--trace-sampling-ratio", "0"],
    );
    let client = TestClient::http1();
    let sampled = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let headers = [("traceparent", sampled.as_str()), ("tracestate", "vendor=blue")];
    let answer = client.get(everything.http, "shop.example.com", "/orders", &headers).await.json();
    let (trace_id, _, flags) = seen_traceparent(&answer);
    assert_ne!(trace_id, TRACE_ID, "a client cannot pick the trace");
    assert_eq!(flags, "01", "ratio 1 records every request");
    assert!(answer["headers"].get("tracestate").is_none(), "nor pass its tracestate on");
    for _ in 0..20 {
        let answer = client.get(nothing.http, "shop.example.com", "/orders", &headers).await.json();
        assert_eq!(seen_traceparent(&answer).2, "00", "ratio 0 records none, even for a sampling client");
    }
    let spans = collector.wait_for(|spans| spans.len() >= 2).await;
    let server = spans.iter().find(|span| span["kind"] == 2).unwrap();
    assert_eq!(server["traceId"], trace_id.as_str());
    assert!(server.get("parentSpanId").is_none_or(|parent| parent == ""), "a root span: {server}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(collector.spans().len(), 2, "the ratio-0 gateway sent nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_sends_a_span_of_every_reconcile_pass() {
    let collector = Collector::start();
    let namespace = Namespace::create("traced");
    namespace.apply(&shop_group("")).expect_success("a group");
    let _operator = OperatorProcess::start_with(
        Cluster::get().kubeconfig(),
        namespace.name(),
        &["--otlp-endpoint", &collector.endpoint],
    );
    let spans = collector.wait_for(|spans| spans.iter().any(|span| span["name"] == "reconcile")).await;
    let pass = spans.iter().find(|span| span["name"] == "reconcile").unwrap();
    assert_eq!(pass["service"], "apigw-operator");
    assert_eq!(attribute(pass, "apigw.translated"), true);
    assert_eq!(attribute(pass, "apigw.instances"), "1");
}
