//! Self-invocation inside the process (the reference document's first chapter, as
//! examples/self-invocation writes it): the distribution API routes to the business groups'
//! internal domains, which this same gateway serves without a network hop; the business APIs
//! authenticate the APIGW_FRONTEND signature; the request id and `Via` carry through; a loop is
//! cut off with `508 I508LD`.

use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::{echo, repo_root};

/// examples/self-invocation, in the manifests' default namespace, with local business backends.
fn example(business1: std::net::SocketAddr, business2: std::net::SocketAddr) -> String {
    let folder = repo_root().join("examples/self-invocation");
    let read = |file: &str| std::fs::read_to_string(folder.join(file)).unwrap();
    [read("business-apis.yaml"), read("distribution-api.yaml"), read("distributor-app.yaml")]
        .join("\n---\n")
        .replace(".demo.apigw.internal", ".default.apigw.internal")
        .replace("http://backend1.example.com:8080", &format!("http://{business1}"))
        .replace("http://backend2.example.com:8080", &format!("http://{business2}"))
}

/// A group whose Api calls its own internal domain: every call loops.
const LOOP: &str = "
---
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {name: loop}
spec: {domains: [{host: loop.example.com}], internalDomain: true}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {name: again}
spec:
  groupRef: loop
  request: {method: GET, path: /again}
  auth: {type: ANONYMOUS}
  backend: {type: HTTP, address: 'http://loop.default.apigw.internal', path: /again}
";

#[tokio::test(flavor = "multi_thread")]
async fn internal_domains_are_served_in_process_with_the_request_id_and_a_hop_limit() {
    let (business1, business2) = (echo::start("business1").await, echo::start("business2").await);
    let gateway = GatewayProcess::start(&(example(business1, business2) + LOOP), &[]);
    let client = TestClient::http1();
    let get = |host: &'static str, path: &'static str| {
        let client = client.clone();
        let address = gateway.http;
        async move { client.get(address, host, path, &[]).await }
    };

    let first = get("distribution.example.com", "/distributeAPI?target=resource1").await;
    assert_eq!(first.status, 200, "{first:?}");
    let seen = first.json();
    assert_eq!(seen["backend"], "business1");
    assert_eq!(seen["path"], "/business1");
    assert_eq!(seen["headers"]["x-ca-key"], "TESTKEY", "signed as the distributor App");
    assert_eq!(
        seen["headers"]["x-ca-request-id"].as_str(),
        Some(first.header("x-ca-request-id")),
        "one request id from the client to the business backend"
    );
    let via = seen["headers"]["via"].as_str().unwrap_or_default();
    assert_eq!(via.matches("gw-e2e").count(), 2, "both passes through the gateway are in Via: {via}");
    let second = get("distribution.example.com", "/distributeAPI?target=resource2").await;
    assert_eq!(second.json()["backend"], "business2");

    let unsigned = get("business1.default.apigw.internal", "/business1").await;
    assert_eq!(unsigned.header("x-ca-error-code"), "I404DO", "internal domains are not served publicly");

    let looped = get("loop.example.com", "/again").await;
    assert_eq!((looped.status.as_u16(), looped.header("x-ca-error-code")), (508, "I508LD"), "{looped:?}");
    assert!(looped.header("x-ca-error-message").starts_with("Self-invocation Loop"));
}
