//! Alarms as code end to end: the alarms of an ApiGroup and an Api become a PrometheusRule
//! (written by a real operator beside the group, prometheus-operator CRDs installed); Prometheus's
//! own `promtool` takes its rules, and a real Prometheus (Debian's) evaluating them while it
//! scrapes a gateway under a load that fails one Api fires that Api's alert and no other. The
//! same Prometheus answers every query of the chart's Grafana dashboard.

use std::process::Command;
use std::time::{Duration, Instant};

use apigw_e2e::gateway::{GatewayProcess, TestClient, free_port, scratch_dir};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::process::ListeningProcess;
use apigw_e2e::{Cluster, Namespace, echo};
use serde_json::Value;

/// A Prometheus process; killed when dropped.
struct Prometheus {
    _process: ListeningProcess,
    address: std::net::SocketAddr,
}

impl Prometheus {
    /// Prometheus scraping `target`'s /metrics every second and evaluating `rules` every second.
    fn start(target: std::net::SocketAddr, rules: &Value) -> Self {
        let dir = scratch_dir("prometheus");
        std::fs::write(dir.join("rules.yml"), serde_yaml::to_string(rules).unwrap()).unwrap();
        let check = Command::new("promtool").arg("check").arg("rules").arg(dir.join("rules.yml")).output();
        let check = check.expect("promtool runs (Debian's prometheus package, installed by the test set-up)");
        assert!(check.status.success(), "promtool refuses the rules:\n{}", String::from_utf8_lossy(&check.stdout));
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{}]\nscrape_configs:\n- job_name: apigw\n  static_configs: [{{targets: ['{target}']}}]\n",
            dir.join("rules.yml").display()
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let address = free_port();
        let mut command = Command::new("prometheus");
        command
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={address}"));
        Self { _process: ListeningProcess::spawn(command, address, &dir.join("prometheus.log")), address }
    }

    /// The result of the instant query `query` (panics when Prometheus refuses it).
    async fn query(&self, client: &TestClient, query: &str) -> Vec<Value> {
        let encoded: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let answer = client.get(self.address, "prometheus", &format!("/api/v1/query?query={encoded}"), &[]).await;
        assert_eq!(answer.status, 200, "Prometheus refuses {query}: {}", String::from_utf8_lossy(&answer.body));
        answer.json()["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The alerts Prometheus has (pending or firing), empty until it is ready.
    async fn alerts(&self, client: &TestClient) -> Vec<Value> {
        let answer = client.get(self.address, "prometheus", "/api/v1/alerts", &[]).await;
        if answer.status != 200 {
            return Vec::new();
        }
        answer.json()["data"]["alerts"].as_array().cloned().unwrap_or_default()
    }
}

fn manifests(backend: std::net::SocketAddr) -> String {
    let api = |name: &str, path: &str, alarms: &str| {
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: {name}}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n  request: {{method: GET, path: /{name}}}\n  backend: {{type: HTTP, address: 'http://{backend}', path: {path}}}\n{alarms}"
        )
    };
    [
        "---\napiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {name: shop}\nspec:\n  domains: [{host: shop.example.com}]\n  alarms:\n  - {metric: ErrorRate, above: 20, window: 20s, for: 0s, labels: {severity: page, team: shop}}\n".to_owned(),
        api("failing", "/__status/500", ""),
        api("healthy", "/ok", ""),
        api("slow-ok", "/ok", "  alarms:\n  - {name: ShopSlow, metric: LatencyP99, above: 5000, window: 20s, for: 0s}\n"),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_become_a_prometheus_rule_that_fires_for_the_failing_api_only() {
    Cluster::get().install_monitoring_crds();
    let namespace = Namespace::create("alarms");
    let backend = echo::start("shop").await;
    namespace.apply(&manifests(backend)).expect_success("the group and Apis with alarms");
    let _operator = OperatorProcess::start(namespace.name());
    let gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);

    let deadline = Instant::now() + Duration::from_secs(30);
    let rule = loop {
        let found = namespace.kubectl(&["get", "prometheusrule", "apigw-alarms-shop", "-o", "json"]);
        if found.success && namespace.condition("api/slow-ok", "AlarmsReady", "status") == "True" {
            break serde_json::from_str::<Value>(&found.stdout).unwrap();
        }
        assert!(Instant::now() < deadline, "no PrometheusRule within 30 s: {}", found.stderr);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(rule["metadata"]["ownerReferences"][0]["kind"], "ApiGroup");
    assert_eq!(namespace.condition("apigroup/shop", "AlarmsReady", "reason"), "Rendered");
    assert_eq!(namespace.condition("api/failing", "AlarmsReady", "status"), "", "an Api without alarms of its own");
    let names: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["alert"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ApigwErrorRate", "ShopSlow"]);

    let prometheus = Prometheus::start(gateway.admin, &serde_json::json!({"groups": rule["spec"]["groups"]}));
    let client = TestClient::http1();
    let deadline = Instant::now() + Duration::from_secs(60);
    let firing = loop {
        for path in ["/failing", "/healthy", "/slow-ok"] {
            client.get(gateway.http, "shop.example.com", path, &[]).await;
        }
        let alerts = prometheus.alerts(&client).await;
        let firing: Vec<Value> = alerts.into_iter().filter(|alert| alert["state"] == "firing").collect();
        if !firing.is_empty() {
            break firing;
        }
        assert!(Instant::now() < deadline, "no alert fired within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Keep the load on a little longer: the healthy Apis never join.
    for _ in 0..20 {
        for path in ["/failing", "/healthy", "/slow-ok"] {
            client.get(gateway.http, "shop.example.com", path, &[]).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alerts = prometheus.alerts(&client).await;
    let fired: Vec<(&str, &str)> = alerts
        .iter()
        .filter(|alert| alert["state"] == "firing")
        .map(|alert| (alert["labels"]["alertname"].as_str().unwrap(), alert["labels"]["api"].as_str().unwrap()))
        .collect();
    assert_eq!(fired, [("ApigwErrorRate", "failing")], "{alerts:?}");
    let labels = &firing[0]["labels"];
    assert_eq!((labels["severity"].as_str(), labels["team"].as_str()), (Some("page"), Some("shop")), "routing labels");
    assert_eq!(labels["namespace"], namespace.name());
    println!("fired: {}", firing[0]["annotations"]["summary"]);

    // Every query of the Grafana dashboard, its variables set as Grafana would.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(apigw_e2e::repo_root().join("charts/apigw/dashboards/apigw.json")).unwrap(),
    )
    .unwrap();
    let mut by_title = std::collections::BTreeMap::new();
    for panel in dashboard["panels"].as_array().unwrap().iter().filter(|panel| panel["type"] == "timeseries") {
        for target in panel["targets"].as_array().unwrap() {
            let query = target["expr"]
                .as_str()
                .unwrap()
                .replace("$namespace", namespace.name())
                .replace("$group", "shop")
                .replace("$api", ".*")
                .replace("$__rate_interval", "20s");
            by_title.insert(panel["title"].as_str().unwrap().to_owned(), prometheus.query(&client, &query).await);
        }
    }
    let apis = |title: &str| -> Vec<String> {
        by_title[title].iter().map(|series| series["metric"]["api"].as_str().unwrap_or_default().to_owned()).collect()
    };
    let mut called = apis("Requests per second");
    called.sort();
    assert_eq!(called, ["failing", "healthy", "slow-ok"], "the per-Api panels show each Api");
    let errors = &by_title["5xx error rate"];
    let failing = errors.iter().find(|series| series["metric"]["api"] == "failing").unwrap();
    let percent: f64 = failing["value"][1].as_str().unwrap().parse().unwrap();
    assert!((percent - 100.0).abs() < 1e-6, "every request of failing fails: {errors:?}");
    assert!(
        errors.iter().filter(|series| series["metric"]["api"] != "failing").all(|series| series["value"][1] == "0")
    );
}
