//! HTTP/1.1 and HTTP/2 to backends, and https backends verified against trusted roots.

use apigw_e2e::certificates::issue;
use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient, scratch_dir};
use apigw_e2e::manifests::{shop_api, shop_group};

fn manifests(plain: std::net::SocketAddr, tls: std::net::SocketAddr) -> String {
    let get = |name: &str| format!("{{method: GET, path: /{name}}}");
    [
        shop_group(""),
        shop_api("http1", &get("http1"), &format!("{{type: HTTP, address: 'http://{plain}'}}")),
        shop_api("h2c", &get("h2c"), &format!("{{type: HTTP, address: 'http://{plain}', protocol: HTTP2}}")),
        shop_api("https", &get("https"), &format!("{{type: HTTP, address: 'https://localhost:{}'}}", tls.port())),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn speaks_http1_http2_and_tls_to_backends() {
    let dir = scratch_dir("backend-tls");
    let (certificate, key) = issue(&dir, "backend", &["localhost"]);
    let (plain, tls) =
        (echo::start("plain").await, echo::start_tls("tls", certificate.as_bytes(), key.as_bytes()).await);
    let ca = dir.join("ca.crt");
    let gateway = GatewayProcess::start(&manifests(plain, tls), &["--backend-ca-file", ca.to_str().unwrap()]);
    let client = TestClient::http1();
    let version = |answer: apigw_e2e::gateway::Answer| {
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()["version"].as_str().unwrap().to_owned()
    };
    assert_eq!(version(client.get(gateway.http, "shop.example.com", "/http1", &[]).await), "HTTP/1.1");
    assert_eq!(version(client.get(gateway.http, "shop.example.com", "/h2c", &[]).await), "HTTP/2.0");
    assert_eq!(version(client.get(gateway.http, "shop.example.com", "/https", &[]).await), "HTTP/2.0", "ALPN h2");
    let over_h2 = TestClient::http2().get(gateway.http, "shop.example.com", "/http1", &[]).await;
    assert_eq!(version(over_h2), "HTTP/1.1", "an HTTP/2 client, an HTTP/1.1 backend");

    let untrusting = GatewayProcess::start(&manifests(plain, tls), &[]);
    let refused = client.get(untrusting.http, "shop.example.com", "/https", &[]).await;
    assert_eq!((refused.status.as_u16(), refused.header("x-ca-error-code")), (502, "B502CF"));
    assert!(refused.header("x-ca-error-message").contains("certificate"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reuses_backend_connections() {
    let plain = echo::start("plain").await;
    let gateway = GatewayProcess::start(&manifests(plain, plain), &["--workers", "1"]);
    let client = TestClient::http1();
    let mut peers = std::collections::BTreeSet::new();
    for path in ["/http1", "/http1", "/h2c", "/http1", "/h2c"] {
        let answer = client.get(gateway.http, "shop.example.com", path, &[]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        peers.insert((path, answer.json()["peer"].as_str().unwrap().to_owned()));
    }
    assert_eq!(peers.len(), 2, "one pooled connection per protocol: {peers:?}");
}
