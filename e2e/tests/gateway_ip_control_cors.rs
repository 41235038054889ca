//! The IP-control and CORS plugins.

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};

fn manifests(backend: std::net::SocketAddr) -> String {
    let api = |name: &str, plugin: &str| {
        shop_api(
            name,
            &format!("{{method: GET, path: /{name}}}"),
            &format!("{{type: HTTP, address: 'http://{backend}'}}"),
        ) + &format!("  plugins: [{{kind: Plugin, name: {plugin}}}]\n")
    };
    let plugin = |name: &str, spec: &str| {
        format!("---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {{name: {name}}}\nspec: {spec}\n")
    };
    [
        shop_group(""),
        plugin("office", "{ipControl: {type: ALLOW, resource: 'XFF:-1', items: [{blocks: [10.0.0.0/8, '2001:db8::/32']}]}}"),
        plugin("no-loopback", "{ipControl: {type: REFUSE, items: [{blocks: [127.0.0.0/8]}]}}"),
        plugin("one-app-only", "{ipControl: {type: ALLOW, items: [{blocks: [10.0.0.0/8], appId: 42}]}}"),
        plugin("web", "{cors: {allowOrigins: 'https://app.example.com, *.foo.com', allowCredentials: true, exposeHeaders: X-Ca-Request-Id, maxAge: 600}}"),
        api("office", "office"),
        api("refused", "no-loopback"),
        api("scoped", "one-app-only"),
        api("cors", "web"),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_control_allows_and_refuses_by_address() {
    let backend = echo::start("backend").await;
    let manifests = manifests(backend);
    // Loopback is the trusted proxy here, as an Ingress controller's pods are on a node.
    let gateway = GatewayProcess::start(&manifests, &["--trusted-proxies", "127.0.0.1/32"]);
    let client = TestClient::http1();
    let get = |address, path: &'static str, forwarded: &'static str| {
        let client = client.clone();
        async move { client.get(address, "shop.example.com", path, &[("x-forwarded-for", forwarded)]).await }
    };
    let office = |path, forwarded| get(gateway.http, path, forwarded);
    assert_eq!(
        office("/office", "203.0.113.1, 10.1.2.3").await.status,
        200,
        "the last X-Forwarded-For entry is in 10/8"
    );
    let outside = office("/office", "10.1.2.3, 203.0.113.1").await;
    assert_eq!((outside.status.as_u16(), outside.header("x-ca-error-code")), (403, "A403IP"));
    assert_eq!(outside.header("x-ca-error-message"), "Access Denied by IP Control");
    assert_eq!(office("/office", "2001:db8::7").await.status, 200, "IPv6");
    assert_eq!(office("/refused", "10.0.0.1").await.status, 200, "behind a trusted proxy the client is 10.0.0.1");
    assert_eq!(office("/refused", "10.0.0.1, 127.0.0.1").await.status, 200, "trusted hops are skipped");
    assert_eq!(office("/scoped", "203.0.113.1").await.status, 200, "items for one App leave other callers alone");

    let untrusting = GatewayProcess::start(&manifests, &[]);
    let direct = |path, forwarded| get(untrusting.http, path, forwarded);
    let spoofed = direct("/office", "203.0.113.1, 10.1.2.3").await;
    assert_eq!(spoofed.status, 403, "an untrusted client's X-Forwarded-For is not believed");
    assert_eq!(direct("/refused", "10.0.0.1").await.status, 403, "the connection's address is 127.0.0.1");
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_answers_preflights_and_marks_responses() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let client = TestClient::http1();
    let preflight = |origin: &'static str| {
        let client = client.clone();
        let request = http::Request::builder()
            .method("OPTIONS")
            .uri(format!("http://{}/cors", gateway.http))
            .header("host", "shop.example.com")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "X-Custom")
            .body(Default::default())
            .unwrap();
        async move { client.send(request).await }
    };
    let allowed = preflight("https://app.example.com").await;
    assert_eq!(allowed.status, 204);
    assert_eq!(allowed.header("access-control-allow-origin"), "https://app.example.com");
    assert!(allowed.header("access-control-allow-methods").contains("GET"));
    assert_eq!(allowed.header("access-control-allow-headers"), "X-Custom");
    assert_eq!(allowed.header("access-control-max-age"), "600");
    assert_eq!(allowed.header("access-control-allow-credentials"), "true");
    assert_eq!(preflight("https://evil.example.net").await.status, 403);

    let actual = client.get(gateway.http, "shop.example.com", "/cors", &[("origin", "https://shop.foo.com")]).await;
    assert_eq!(actual.status, 200);
    assert_eq!(actual.header("access-control-allow-origin"), "https://shop.foo.com");
    assert_eq!(actual.header("access-control-expose-headers"), "X-Ca-Request-Id");
    let foreign =
        client.get(gateway.http, "shop.example.com", "/cors", &[("origin", "https://evil.example.net")]).await;
    assert_eq!((foreign.status.as_u16(), foreign.header("access-control-allow-origin")), (200, ""));
}
