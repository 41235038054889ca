//! The chart on a real node (`make node-test`: `make node-up`, then this suite with
//! `APIGW_CLUSTER_DIR` at the node's control plane): the operator and gateway pods start from
//! the locally built images and get Ready through their real probes, the gateway reads its
//! instance's config with its own service-account token, and an Api is served through the
//! gateway's Service to backend pods behind a VpcAccess.

use std::time::{Duration, Instant};

use apigw_e2e::{Cluster, Namespace, repo_root};

fn chart() -> String {
    repo_root().join("charts/apigw").display().to_string()
}

/// `curl` to `url` with `Host: host` from this machine (the Service ranges are routed to the
/// node's bridge); (status, body).
fn curl(url: &str, host: &str) -> (String, String) {
    let output = std::process::Command::new("curl")
        .args(["-s", "--max-time", "3", "-H", &format!("Host: {host}"), "-w", "\n%{http_code}", url])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or_default();
    (status.to_owned(), body.to_owned())
}

/// Polls `check` every 250 ms until it is `Some` or `seconds` pass.
fn eventually<T>(seconds: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} within {seconds} s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "runs pods on the test node: make node-test"]
fn the_chart_runs_on_the_node_and_serves_an_api_to_backend_pods() {
    let cluster = Cluster::get();
    let namespace = Namespace::create("e2e-node-chart");
    let ns = namespace.name();
    let images = "image.registry=localhost/apigw,image.tag=dev,image.pullPolicy=Never";
    let small = "operator.replicas=1,gateway.replicas=1,gateway.podDisruptionBudget.enabled=false";
    // --wait with the default Service type: a cluster without a load-balancer controller.
    let install = ["install", "apigw", &chart(), "--namespace", ns, "--set", images, "--set", small, "--wait"];
    cluster.helm(&[&install[..], &["--timeout", "120s"]].concat()).expect_success("helm install --wait");
    for deployment in ["deployment/apigw-operator", "deployment/apigw-gateway-default"] {
        namespace
            .kubectl(&["rollout", "status", deployment, "--timeout", "120s"])
            .expect_success(&format!("{deployment} Ready through its probes"));
    }

    namespace.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: echo}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: echo}}\n  template:\n    metadata: {labels: {app: echo}}\n    spec:\n      containers:\n      - {name: echo, image: 'localhost/apigw/apigw-echo:dev', imagePullPolicy: Never, ports: [{containerPort: 8080}], readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: echo}\nspec: {selector: {app: echo}, ports: [{name: http, port: 80, targetPort: 8080}]}\n",
    ).expect_success("the echo backend");
    namespace.kubectl(&["rollout", "status", "deployment/echo", "--timeout", "60s"]).expect_success("echo pods Ready");
    namespace.apply(
        "apiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {name: echo}\nspec: {service: {name: echo, port: 80}}\n---\napiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {name: shop}\nspec: {domains: [{host: shop.example.com}]}\n---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {name: items}\nspec:\n  groupRef: shop\n  auth: {type: ANONYMOUS}\n  request: {method: GET, path: /items/*}\n  backend: {type: HTTP-VPC, vpcAccessName: echo}\n",
    ).expect_success("an Api through a VpcAccess");

    let service = namespace.kubectl(&["get", "service", "apigw-gateway-default", "-o", "jsonpath={.spec.clusterIP}"]);
    let address = service.expect_success("the gateway's Service");
    let url = format!("http://{address}/items/1");
    let served = eventually(60, "the Api served by the gateway pod", || {
        let (status, body) = curl(&url, "shop.example.com");
        (status == "200").then_some(body)
    });
    let seen: serde_json::Value = serde_json::from_str(&served).expect("the echo backend's JSON");
    let pods = namespace.kubectl(&["get", "pods", "-l", "app=echo", "-o", "jsonpath={.items[*].metadata.name}"]);
    let pods = pods.expect_success("the echo pods");
    assert!(pods.split(' ').any(|pod| seen["backend"] == pod), "answered by an echo pod ({pods}): {seen}");
    assert_eq!(seen["path"], "/items/1");
    println!("served through the gateway pod by {} ({pods})", seen["backend"]);

    cluster.helm(&["uninstall", "apigw", "--namespace", ns, "--wait"]).expect_success("helm uninstall");
}
