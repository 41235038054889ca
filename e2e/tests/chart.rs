//! The Helm chart on the real control plane: lint, server-side dry run of what it renders,
//! install and upgrade, and the least privilege of its RBAC checked with `kubectl auth can-i`.

use std::time::{Duration, Instant};

use apigw_e2e::gateway::{GatewayProcess, scratch_dir};
use apigw_e2e::manifests::{shop_api, shop_group};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::{Cluster, Namespace, repo_root};

fn chart() -> String {
    repo_root().join("charts/apigw").to_string_lossy().into_owned()
}

/// Whether the service account `account` of `namespace` may do `request` (kubectl auth can-i).
fn can(namespace: &Namespace, account: &str, request: &[&str]) -> bool {
    let subject = format!("system:serviceaccount:{}:{account}", namespace.name());
    let output = Cluster::get().kubectl(&[&["auth", "can-i", "--as", &subject], request].concat());
    output.stdout.trim() == "yes"
}

#[test]
fn the_chart_lints_and_refuses_bad_values() {
    let cluster = Cluster::get();
    cluster.helm(&["lint", "--strict", &chart()]).expect_success("helm lint");
    let bad = cluster.helm(&["lint", &chart(), "--set", "gateway.service.type=Public"]);
    assert!(!bad.success, "values.schema.json refuses an unknown Service type");
    assert!(bad.stdout.contains("/gateway/service/type"), "{}", bad.stdout);
}

#[test]
fn what_the_chart_renders_is_accepted_by_the_api_server() {
    let cluster = Cluster::get();
    let namespace = Namespace::create("e2e-chart-render");
    let rendered = cluster
        .helm(&[
            "template",
            "render",
            &chart(),
            "--namespace",
            namespace.name(),
            "--kube-version",
            "1.35.0",
            "--set",
            &format!(
                "networkPolicy.enabled=true,gateway.autoscaling.enabled=true,operator.watchNamespace={}",
                namespace.name()
            ),
            "--set",
            "instances[0].name=public,instances[1].name=internal,instances[1].service.type=ClusterIP",
        ])
        .expect_success("helm template");
    for kind in ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Role"] {
        assert!(rendered.contains(&format!("kind: {kind}\n")), "no {kind} rendered");
    }
    cluster
        .kubectl_with_input(&["apply", "--dry-run=server", "-f", "-"], &rendered)
        .expect_success("kubectl apply --dry-run=server of the rendered chart");
}

#[test]
fn the_chart_installs_upgrades_and_grants_only_what_is_needed() {
    let cluster = Cluster::get();
    let namespace = Namespace::create("e2e-chart");
    let ns = namespace.name();
    let release = format!("gw{}", std::process::id());
    cluster.helm(&["install", &release, &chart(), "--namespace", ns]).expect_success("helm install");
    let objects = namespace
        .kubectl(&["get", "deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets", "-o", "name"])
        .expect_success("listing the release's objects");
    let operator = format!("{release}-apigw-operator");
    let gateway = format!("{release}-apigw-gateway");
    for expected in [
        format!("deployment.apps/{operator}"),
        format!("deployment.apps/{gateway}-default"),
        format!("service/{gateway}-default"),
        format!("service/{gateway}-default-internal"),
        format!("serviceaccount/{gateway}"),
        format!("role.rbac.authorization.k8s.io/{operator}-write"),
        format!("poddisruptionbudget.policy/{gateway}-default"),
    ] {
        assert!(objects.lines().any(|line| line == expected), "{expected} missing from:\n{objects}");
    }
    let service_type =
        || namespace.kubectl(&["get", &format!("service/{gateway}-default"), "-o", "jsonpath={.spec.type}"]);
    assert_eq!(service_type().stdout, "NodePort", "helm install --wait completes without a load-balancer controller");

    let values = "gateway.service.type=LoadBalancer,gateway.replicas=3";
    cluster.helm(&["upgrade", &release, &chart(), "--namespace", ns, "--set", values]).expect_success("helm upgrade");
    let replicas =
        namespace.kubectl(&["get", &format!("deployment/{gateway}-default"), "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas.stdout, "3");
    assert_eq!(service_type().stdout, "LoadBalancer");

    // The operator: reads everywhere, writes status, writes config only in its namespace.
    assert!(can(&namespace, &operator, &["list", "apis.apigw.io", "--all-namespaces"]));
    assert!(can(&namespace, &operator, &["patch", "apis.apigw.io", "--subresource=status", "-n", "shop"]));
    assert!(!can(&namespace, &operator, &["patch", "apis.apigw.io", "-n", "shop"]), "never the spec");
    assert!(can(&namespace, &operator, &["watch", "endpointslices.discovery.k8s.io", "--all-namespaces"]));
    assert!(can(&namespace, &operator, &["create", "configmaps", "-n", ns]));
    assert!(!can(&namespace, &operator, &["create", "configmaps", "-n", "shop"]));
    assert!(!can(&namespace, &operator, &["create", "secrets", "-n", "shop"]));
    assert!(can(&namespace, &operator, &["update", "leases.coordination.k8s.io", "-n", ns]));
    assert!(!can(&namespace, &operator, &["delete", "deployments", "-n", ns]));
    // The gateway: its instance's config and its report Lease, nothing else.
    assert!(can(&namespace, &gateway, &["watch", "configmaps", "-n", ns]));
    assert!(can(&namespace, &gateway, &["get", "secrets/apigw-default-secrets", "-n", ns]));
    assert!(!can(&namespace, &gateway, &["get", "secrets/other", "-n", ns]), "only its own Secret");
    assert!(!can(&namespace, &gateway, &["list", "secrets", "-n", "shop"]), "no Secret outside its namespace");
    assert!(!can(&namespace, &gateway, &["list", "apis.apigw.io", "--all-namespaces"]));
    assert!(can(&namespace, &gateway, &["create", "leases.coordination.k8s.io", "-n", ns]));
    assert!(!can(&namespace, &gateway, &["create", "configmaps", "-n", ns]));

    // And for real, with the service accounts' own tokens: the operator reconciles an Api (status
    // and ConfigMaps written), the gateway reads the config, serves it and reports its Lease.
    let operating = OperatorProcess::start_as(&service_account_kubeconfig(&namespace, &operator), ns);
    let serving =
        GatewayProcess::start_in_cluster_as(&service_account_kubeconfig(&namespace, &gateway), ns, "default", &[]);
    namespace
        .apply(
            &[shop_group(""), shop_api("hello", "{method: GET, path: /hello}", "{type: MOCK, statusCode: 200}")]
                .concat(),
        )
        .expect_success("applying an Api");
    let started = Instant::now();
    let programmed = || namespace.condition("api/hello", "Programmed", "status") == "True";
    while !(lease_reported(&namespace) && programmed()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "operator and gateway did not work with their own accounts"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop((operating, serving));

    cluster.helm(&["uninstall", &release, "--namespace", ns]).expect_success("helm uninstall");
}

/// A kubeconfig with a token of the service account `account` of `namespace`.
fn service_account_kubeconfig(namespace: &Namespace, account: &str) -> std::path::PathBuf {
    let token = namespace.kubectl(&["create", "token", account]).expect_success("a service-account token");
    let view = |path: &str| {
        Cluster::get()
            .kubectl(&["config", "view", "--raw", "-o", &format!("jsonpath={path}")])
            .expect_success("kubeconfig")
    };
    let (server, ca) =
        (view("{.clusters[0].cluster.server}"), view("{.clusters[0].cluster.certificate-authority-data}"));
    let file = scratch_dir("chart-sa").join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\", certificate-authority-data: {ca}}}}}]\nusers: [{{name: u, user: {{token: {}}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u, namespace: {}}}}}]\ncurrent-context: x\n",
        token.trim(),
        namespace.name()
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// Whether a gateway Lease of instance `default` exists in `namespace`.
fn lease_reported(namespace: &Namespace) -> bool {
    let leases = namespace.kubectl(&["get", "leases", "-l", "apigw.io/instance=default", "-o", "name"]);
    leases.success && !leases.stdout.trim().is_empty()
}
