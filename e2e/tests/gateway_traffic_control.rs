//! The traffic-control plugin: per-API and per-App limits (with specials), 429 with the reference's
//! message and `Retry-After`.

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};

fn manifests(backend: std::net::SocketAddr) -> String {
    let address = format!("{{type: HTTP, address: 'http://{backend}'}}");
    let limited = shop_api("limited", "{method: GET, path: /limited}", &address)
        + "  plugins: [{kind: Plugin, name: three-per-hour}]\n";
    let per_app = shop_api("per-app", "{method: GET, path: /per-app}", &address)
        .replace("auth: {type: ANONYMOUS}", "auth: {type: APP, appCode: HEADER}")
        + "  plugins: [{kind: Plugin, name: per-app}]\n";
    let app = |name: &str, id: u32| {
        format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData: {{appKey: {name}-key, appSecret: s, appCode: {name}-code}}\n---\napiVersion: apigw.io/v1alpha1\nkind: App\nmetadata: {{name: {name}}}\nspec: {{appId: {id}, credentialsSecretRef: {{name: {name}}}, authorizations: [{{groupRef: shop}}]}}\n"
        )
    };
    let plugin = |name: &str, spec: &str| {
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {{name: {name}}}\nspec: {{trafficControl: {spec}}}\n"
        )
    };
    [
        shop_group(""),
        limited,
        per_app,
        plugin("three-per-hour", "{unit: HOUR, apiDefault: 3}"),
        plugin("per-app", "{unit: HOUR, apiDefault: 100, appDefault: 2, specials: [{type: APP, policies: [{key: 4534463, value: 4}]}]}"),
        app("mobile", 1001),
        app("tester", 4534463),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_per_api_and_per_app() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let client = TestClient::http1();
    for _ in 0..3 {
        assert_eq!(client.get(gateway.http, "shop.example.com", "/limited", &[]).await.status, 200);
    }
    let throttled = client.get(gateway.http, "shop.example.com", "/limited", &[]).await;
    assert_eq!((throttled.status.as_u16(), throttled.header("x-ca-error-code")), (429, "T429TC"));
    assert_eq!(throttled.header("x-ca-error-message"), "Throttled by API Flow Control");
    assert!(throttled.header("retry-after").parse::<u64>().is_ok_and(|seconds| seconds > 0 && seconds <= 3600));

    let call = |code: &'static str| {
        let client = client.clone();
        let address = gateway.http;
        async move { client.get(address, "shop.example.com", "/per-app", &[("authorization", code)]).await }
    };
    let mobile: Vec<u16> = futures_statuses(&call, "APPCODE mobile-code", 3).await;
    assert_eq!(mobile, [200, 200, 429], "appDefault 2");
    assert_eq!(call("APPCODE mobile-code").await.header("x-ca-error-message"), "Throttled by APP Flow Control");
    let tester = futures_statuses(&call, "APPCODE tester-code", 5).await;
    assert_eq!(tester, [200, 200, 200, 200, 429], "the special limit of App 4534463 is 4");
}

async fn futures_statuses<F, Fut>(call: &F, code: &'static str, times: usize) -> Vec<u16>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = apigw_e2e::gateway::Answer>,
{
    let mut statuses = Vec::new();
    for _ in 0..times {
        statuses.push(call(code).await.status.as_u16());
    }
    statuses
}
