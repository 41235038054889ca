//! The chart's monitoring objects against the real prometheus-operator CRDs (pinned in
//! `e2e/controlplane/build-monitoring.sh`), and its alert rules against the metrics apigw really
//! exports: every expression parses with Prometheus's own PromQL parser, and every series and
//! label it reads exists on a running gateway's or operator's `/metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{mock_api, shop_group};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::{Cluster, Namespace, repo_root};
use std::io::Write;

const MONITORING: &str = "monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.grafanaDashboard.enabled=true";

/// A Helm release, uninstalled when dropped (its ClusterRoles outlive a failed test otherwise).
struct Release {
    name: String,
    namespace: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        Cluster::get().helm(&["uninstall", &self.name, "--namespace", &self.namespace]);
    }
}

/// Label names of every series, by metric name, in Prometheus text exposition.
fn series_labels(exposition: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in exposition.lines().filter(|line| !line.starts_with('#') && !line.is_empty()) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = series.entry(line[..name_end].to_owned()).or_default();
        if let Some(set) = line[name_end..].strip_prefix('{').and_then(|rest| rest.split_once('}')) {
            // Label values here never hold `,` or `=`: names, codes, numbers.
            labels.extend(set.0.split(',').filter_map(|pair| Some(pair.split_once('=')?.0.to_owned())));
        }
    }
    series
}

/// promql-check's report of every rule of the rendered chart (one JSON object per rule).
fn rule_reports(rendered: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new(Cluster::get().file("bin/promql-check"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promql-check runs (built by e2e/controlplane/build-monitoring.sh)");
    child.stdin.take().unwrap().write_all(rendered.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "an alert rule does not parse: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn service_monitor_and_alert_rules_fit_prometheus_operator_and_the_exported_metrics() {
    let cluster = Cluster::get();
    cluster.install_monitoring_crds();

    let namespace = Namespace::create("e2e-chart-monitoring");
    let ns = namespace.name();
    let release = format!("mon{}", std::process::id());
    let chart = repo_root().join("charts/apigw");
    let chart = chart.to_str().unwrap();
    let rendered = cluster
        .helm(&["template", &release, chart, "--namespace", ns, "--kube-version", "1.35.0", "--set", MONITORING])
        .expect_success("helm template");
    // Strict: a field the CRDs do not know is an error, not silently pruned.
    cluster
        .kubectl_with_input(&["apply", "--dry-run=server", "--validate=strict", "-f", "-"], &rendered)
        .expect_success("the monitoring objects are valid for the prometheus-operator CRDs");
    cluster.helm(&["install", &release, chart, "--namespace", ns, "--set", MONITORING]).expect_success("helm install");
    let _installed = Release { name: release.clone(), namespace: ns.to_owned() };
    let dashboard = namespace
        .kubectl(&["get", "configmap", &format!("{release}-apigw-dashboard"), "-o", "jsonpath={.data.apigw\\.json}"])
        .expect_success("the dashboard ConfigMap");
    let committed = std::fs::read_to_string(repo_root().join("charts/apigw/dashboards/apigw.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON"),
        serde_json::from_str::<serde_json::Value>(&committed).unwrap()
    );
    let sidecar = namespace.kubectl(&["get", "configmaps", "-l", "grafana_dashboard=1", "-o", "name"]).stdout;
    assert!(sidecar.contains("-apigw-dashboard"), "Grafana's sidecar finds it by its label: {sidecar}");
    let monitor = format!("servicemonitor/{release}-apigw");
    let stored = namespace.kubectl(&["get", "servicemonitors,prometheusrules", "-o", "name"]).expect_success("list");
    assert_eq!(
        stored.lines().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            format!("servicemonitor.monitoring.coreos.com/{release}-apigw").as_str(),
            format!("prometheusrule.monitoring.coreos.com/{release}-apigw").as_str()
        ])
    );

    // The ServiceMonitor's selector finds the admin Services of the operator and the gateway,
    // and each has the port it scrapes.
    let selector = namespace
        .kubectl(&[
            "get",
            &monitor,
            "-o",
            "go-template={{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}",
        ])
        .expect_success("the ServiceMonitor's selector");
    let port = namespace
        .kubectl(&["get", &monitor, "-o", "jsonpath={.spec.endpoints[0].port}"])
        .expect_success("the scraped port");
    let scraped = namespace
        .kubectl(&[
            "get",
            "services",
            "-l",
            selector.trim_end_matches(','),
            "-o",
            "go-template={{range .items}}{{.metadata.name}}:{{range .spec.ports}}{{.name}} {{end}}\n{{end}}",
        ])
        .expect_success("Services the ServiceMonitor selects");
    for service in [format!("{release}-apigw-operator-admin"), format!("{release}-apigw-gateway-default-admin")] {
        let line = scraped.lines().find(|line| line.starts_with(&format!("{service}:")));
        let line = line.unwrap_or_else(|| panic!("{service} not selected by the ServiceMonitor:\n{scraped}"));
        assert!(line.split([':', ' ']).any(|name| name == port), "{service} has no port {port}: {line}");
    }

    // What a running gateway (after a request) and operator export.
    let gateway = GatewayProcess::start(&[shop_group(""), mock_api("hello", "/hello", 200)].concat(), &[]);
    let client = TestClient::http1();
    assert_eq!(client.get(gateway.http, "shop.example.com", "/hello", &[]).await.status, 200);
    let gateway_metrics = client.get(gateway.admin, "localhost", "/metrics", &[]).await;
    let operator = OperatorProcess::start(ns);
    let mut exported = series_labels(&String::from_utf8_lossy(&gateway_metrics.body));
    exported.extend(series_labels(&operator.get("/metrics").1));

    let reports = rule_reports(&rendered);
    assert!(reports.len() >= 6, "every alarm of the chart is checked: {reports:?}");
    for report in &reports {
        let alert = report["alert"].as_str().unwrap();
        let mut read_labels = BTreeSet::new();
        for selector in report["selectors"].as_array().unwrap() {
            let metric = selector["metric"].as_str().unwrap();
            let labels = exported
                .get(metric)
                .unwrap_or_else(|| panic!("{alert} reads {metric}, which neither gateway nor operator exports"));
            for label in selector["labels"].as_array().unwrap() {
                let label = label.as_str().unwrap();
                assert!(labels.contains(label), "{alert} matches {metric} on `{label}`, which it does not have");
            }
            read_labels.extend(labels.iter().cloned());
        }
        for label in report["by"].as_array().unwrap() {
            let label = label.as_str().unwrap();
            assert!(read_labels.contains(label), "{alert} aggregates by `{label}`, which no series it reads has");
        }
    }
    operator.stop();
}
