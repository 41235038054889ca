//! The caching plugin end to end: a counted backend shows hits never reaching it; keys vary by
//! the parameters and headers named; the backend's Cache-Control is obeyed; clients allowed to
//! may refresh an answer; only GET is cached.

use apigw_e2e::faulty::Faulty;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::shop_group;
use bytes::Bytes;
use http_body_util::Full;

fn manifests(backend: &Faulty, uncached: &Faulty) -> String {
    let caching = "{varyByParameters: [lang], varyByHeaders: [Accept], duration: 60, clientCacheControl: {mode: all}, cacheableHeaders: [X-Price-Source]}";
    let api = |name: &str, path: &str, backend: &Faulty| {
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: {name}}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n  request: {{method: ANY, path: '{path}'}}\n  parameters: [{{name: sku, in: PATH, required: true}}, {{name: lang, in: QUERY}}]\n  backend: {{type: HTTP, address: \"http://{}\"}}\n  plugins: [{{kind: Plugin, name: prices}}]\n",
            backend.address
        )
    };
    [
        shop_group(""),
        format!("---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {{name: prices}}\nspec: {{caching: {caching}}}\n"),
        api("prices", "/prices/[sku]", backend),
        api("stock", "/stock/[sku]", uncached),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn hits_never_reach_the_backend_and_keys_vary_as_named() {
    let (backend, uncached) = (Faulty::start("price").await, Faulty::start("stock").await);
    backend.answer_header("X-Price-Source", "catalog");
    backend.answer_header("X-Debug", "not kept");
    uncached.answer_header("Cache-Control", "no-store");
    let gateway = GatewayProcess::start(&manifests(&backend, &uncached), &[]);
    let client = TestClient::http1();
    let get = |path: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let client = &client;
        let address = gateway.http;
        async move { client.get(address, "shop.example.com", path, headers).await }
    };

    let first = get("/prices/7?lang=en", &[]).await;
    assert_eq!((first.status.as_u16(), first.header("x-ca-cache")), (200, "MISS"));
    let hit = get("/prices/7?lang=en", &[]).await;
    assert_eq!((hit.status.as_u16(), hit.header("x-ca-cache"), &hit.body[..]), (200, "HIT", &b"price"[..]));
    assert_eq!(hit.header("x-price-source"), "catalog", "a cacheable header is kept");
    assert_eq!(hit.header("x-debug"), "", "other headers are not");
    assert!(!hit.header("age").is_empty() && !hit.header("x-ca-request-id").is_empty());
    assert_eq!(backend.requests(), 1, "the hit never reached the backend");

    // Another parameter value or Accept is another answer; an undeclared query is not.
    assert_eq!(get("/prices/7?lang=zh", &[]).await.header("x-ca-cache"), "MISS");
    assert_eq!(get("/prices/7?lang=en", &[("accept", "text/html")]).await.header("x-ca-cache"), "MISS");
    assert_eq!(get("/prices/8?lang=en", &[]).await.header("x-ca-cache"), "MISS", "another path");
    assert_eq!(backend.requests(), 4);
    assert_eq!(get("/prices/7?lang=en&utm=x", &[]).await.header("x-ca-cache"), "HIT");

    // A client may refresh (clientCacheControl all); the refreshed answer is kept.
    assert_eq!(get("/prices/7?lang=en", &[("cache-control", "no-cache")]).await.header("x-ca-cache"), "MISS");
    assert_eq!(backend.requests(), 5);
    assert_eq!(get("/prices/7?lang=en", &[]).await.header("x-ca-cache"), "HIT");

    // Only GET: a POST goes to the backend.
    let post = http::Request::post(format!("http://{}/prices/7?lang=en", gateway.http))
        .header("host", "shop.example.com")
        .body(Full::new(Bytes::from_static(b"{}")))
        .expect("a request");
    let answer = client.send(post).await;
    assert_eq!((answer.status.as_u16(), answer.header("x-ca-cache")), (200, ""));
    assert_eq!(backend.requests(), 6);

    // The backend's Cache-Control: no-store is obeyed.
    for _ in 0..3 {
        assert_eq!(get("/stock/7", &[]).await.header("x-ca-cache"), "MISS");
    }
    assert_eq!(uncached.requests(), 3);

    let metrics = client.get(gateway.admin, "localhost", "/metrics", &[]).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.lines().any(|line| line == "apigw_gateway_cache_hits_total 3"), "{text}");
}
