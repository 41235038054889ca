//! Chapter 4's access layer on the test node, with `examples/kubernetes-*` applied as they are
//! written: the chart's gateway in front of a real Ingress controller pod (Traefik, standing
//! where the example expects ingress-nginx), which routes by the constant `host` header to the
//! application's pods; and the same application reached through its own LoadBalancer Service's
//! endpoints. The examples' `tomcat:10` image is the echo backend, tagged so by `make node-up`
//! (nothing is pulled).

use std::time::{Duration, Instant};

use apigw_e2e::{Cluster, Namespace, Release, repo_root};

/// The Service ClusterIP of `namespace/name`.
fn cluster_ip(cluster: &Cluster, namespace: &str, name: &str) -> String {
    let args = ["-n", namespace, "get", "service", name, "-o", "jsonpath={.spec.clusterIP}"];
    cluster.kubectl(&args).expect_success("a Service's ClusterIP")
}

/// A GET with `Host: host` through the gateway at `address`: the echo backend's JSON, once
/// served (within `seconds`).
fn served(address: &str, host: &str, path: &str, seconds: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let output = std::process::Command::new("curl")
            .args(["-s", "--max-time", "3", "-H", &format!("Host: {host}"), &format!("http://{address}{path}")])
            .output()
            .expect("curl runs");
        if let Ok(seen) = serde_json::from_slice::<serde_json::Value>(&output.stdout)
            && seen["backend"].is_string()
        {
            return seen;
        }
        assert!(Instant::now() < deadline, "{host}{path} served within {seconds} s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "runs pods on the test node: make node-test"]
fn the_kubernetes_examples_run_as_written_behind_an_ingress_controller_and_a_load_balancer() {
    let cluster = Cluster::get();
    let system = Namespace::create("e2e-node-examples");
    let images = "image.registry=localhost/apigw,image.tag=dev,image.pullPolicy=Never";
    let release = Release::install(cluster, "apigw", system.name(), &[images]);
    let gateway = cluster_ip(cluster, system.name(), "apigw-gateway-default");

    let controller = repo_root().join("e2e/node/ingress-controller.yaml").display().to_string();
    cluster.kubectl(&["apply", "-f", &controller]).expect_success("the Ingress controller");
    let wait = ["-n", "ingress-nginx", "rollout", "status", "deployment/ingress-nginx-controller", "--timeout", "120s"];
    cluster.kubectl(&wait).expect_success("the Ingress controller Ready");

    // Section 4.1: through the Ingress controller, as examples/kubernetes-ingress/README.md says.
    let demo = Namespace::create("e2e-demo-ingress");
    let consent = format!("apigw.io/allow-vpc-access-from={}", demo.name());
    let annotate = ["-n", "ingress-nginx", "annotate", "--overwrite", "service", "ingress-nginx-controller", &consent];
    cluster.kubectl(&annotate).expect_success("the controller's Service consents");
    let example = repo_root().join("examples/kubernetes-ingress").display().to_string();
    demo.kubectl(&["apply", "--server-side", "-f", &example]).expect_success("examples/kubernetes-ingress");
    demo.kubectl(&["rollout", "status", "deployment/tomcat-demo", "--timeout", "120s"]).expect_success("tomcat pods");
    let seen = served(&gateway, "tomcat-api.example.com", "/index.jsp", 60);
    assert_eq!(seen["headers"]["host"], "tomcat.example.com", "the constant host header the Ingress rule routes by");
    assert_eq!(seen["path"], "/index.jsp");
    let via = seen["headers"]["x-forwarded-server"].as_str().or(seen["headers"]["x-forwarded-host"].as_str());
    assert!(via.is_some(), "the answer came through the Ingress controller: {seen}");
    println!("through the Ingress controller: answered by {}", seen["backend"]);

    // Section 4.2: the application's own LoadBalancer Service, reached by its endpoints.
    let direct = Namespace::create("e2e-demo-lb");
    let example = repo_root().join("examples/kubernetes-loadbalancer").display().to_string();
    direct.kubectl(&["apply", "--server-side", "-f", &example]).expect_success("examples/kubernetes-loadbalancer");
    direct.kubectl(&["rollout", "status", "deployment/tomcat-demo", "--timeout", "120s"]).expect_success("tomcat pods");
    let seen = served(&gateway, "tomcat-direct.example.com", "/service/index.jsp", 60);
    assert_eq!(seen["path"], "/index.jsp", "the matched rest carried over");
    // The example's other Api (`/slb/*`) names the reference document's SLB address, 10.0.3.12,
    // which is not on this node: it is never called (tests reach local addresses only).
    println!("through the LoadBalancer Service's endpoints: answered by {}", seen["backend"]);

    release.uninstall();
    cluster.kubectl(&["delete", "-f", &controller, "--wait=false"]).expect_success("removing the Ingress controller");
}
