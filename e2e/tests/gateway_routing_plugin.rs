//! The routing plugin: the first route whose condition holds picks the backend (laid over the
//! Api's), adds `X-Ca-Routing-Name` and its constants; no match keeps the Api's own backend.

use std::net::SocketAddr;

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};

fn manifests(stable: SocketAddr, canary: SocketAddr) -> String {
    let get_user = shop_api(
        "get-user",
        "{method: GET, path: '/users/[userId]'}",
        "{type: HTTP, address: '#stable#', path: '/users/[userId]'}",
    ) + "  parameters: [{name: userId, in: PATH, type: LONG, required: true}]\n  plugins: [{kind: RoutingPlugin, name: grey}]\n";
    let mocked = shop_api("mocked", "{method: GET, path: /mocked}", "{type: MOCK, statusCode: 200}")
        + "  plugins: [{kind: RoutingPlugin, name: incomplete}]\n";
    [
        shop_group(&format!("stages: {{RELEASE: {{variables: {{stable: 'http://{stable}'}}}}}}")),
        format!("---\napiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {{name: canary}}\nspec: {{address: 127.0.0.1, port: {}}}\n", canary.port()),
        r#"---
apiVersion: apigw.io/v1alpha1
kind: RoutingPlugin
metadata: {name: grey}
spec:
  parameters:
    clientVersion: "Query:clientVersion"
    user: "Parameter:userId"
    last: "XFF:-1"
  routes:
  - name: oldVersionClient
    condition: "$clientVersion < '2.0.5'"
    backend: {type: MOCK, statusCode: 400, body: "This version is not supported"}
  - name: canaryUsers
    condition: "$user like '%0' or $user like '%1'"
    backend: {type: HTTP-VPC, vpcAccessName: canary, path: /canary}
    constantParameters:
    - {name: x-route-blue-green, location: header, value: route-blue-green}
    - {name: lane, location: query, value: blue}
  - name: office
    condition: "$last in_cidr '203.0.113.0/24' and $CaStage = 'RELEASE'"
    backend: {type: HTTP, path: /office}
---
apiVersion: apigw.io/v1alpha1
kind: RoutingPlugin
metadata: {name: incomplete}
spec:
  routes:
  - {name: always, condition: "1 = 1", backend: {type: HTTP, path: /x}}
"#
        .to_owned(),
        get_user,
        mocked,
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_by_conditions_and_falls_through_to_the_apis_backend() {
    let (stable, canary) = (echo::start("stable").await, echo::start("canary").await);
    // Loopback is a trusted proxy, so that the office condition may read X-Forwarded-For.
    let gateway = GatewayProcess::start(&manifests(stable, canary), &["--trusted-proxies", "127.0.0.1/32"]);
    let client = TestClient::http1();
    let get = |path: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let client = client.clone();
        let address = gateway.http;
        async move { client.get(address, "shop.example.com", path, headers).await }
    };

    let old = get("/users/42?clientVersion=1.9", &[]).await;
    assert_eq!((old.status.as_u16(), &old.body[..]), (400, &b"This version is not supported"[..]));
    assert_eq!(old.header("x-ca-error-code"), "", "a MOCK route is an answer, not a gateway error");

    let canary_user = get("/users/40?clientVersion=3.0", &[]).await;
    assert_eq!(canary_user.header("x-echo-name"), "canary");
    let seen = canary_user.json();
    assert_eq!(seen["path"], "/canary");
    assert!(seen["query"].as_str().unwrap().contains("lane=blue"), "{seen}");
    assert_eq!(seen["headers"]["x-route-blue-green"], "route-blue-green");
    assert_eq!(seen["headers"]["x-ca-routing-name"], "canaryUsers");

    let office = get("/users/42", &[("x-forwarded-for", "198.51.100.1, 203.0.113.9")]).await.json();
    assert_eq!(
        (office["backend"].as_str(), office["path"].as_str()),
        (Some("stable"), Some("/office")),
        "the address comes from the Api"
    );
    assert_eq!(office["headers"]["x-ca-routing-name"], "office");

    let none = get("/users/42", &[("x-ca-routing-name", "spoofed")]).await.json();
    assert_eq!((none["backend"].as_str(), none["path"].as_str()), (Some("stable"), Some("/users/42")));
    assert!(none["headers"].get("x-ca-routing-name").is_none(), "a client's X-Ca-Routing-Name is not passed on");

    let incomplete = get("/mocked", &[]).await;
    assert_eq!((incomplete.status.as_u16(), incomplete.header("x-ca-error-code")), (504, "I504RB"));
    assert_eq!(incomplete.header("x-ca-error-message"), "Backend Incomplete: route always");
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_by_json_body_fields_and_form_fields() {
    let plugin = r#"---
apiVersion: apigw.io/v1alpha1
kind: RoutingPlugin
metadata: {name: by-body}
spec:
  parameters: {tier: "BodyJsonField:$.customer.tier", channel: "Form:channel"}
  routes:
  - {name: gold, condition: "$tier = 'gold'", backend: {type: MOCK, statusCode: 200, body: gold}}
  - {name: app, condition: "$channel = 'app'", backend: {type: MOCK, statusCode: 200, body: app}}
"#;
    let api = shop_api("orders", "{method: POST, path: /orders}", "{type: MOCK, statusCode: 200, body: default}")
        + "  plugins: [{kind: RoutingPlugin, name: by-body}]\n";
    let gateway = GatewayProcess::start(&[shop_group(""), plugin.to_owned(), api].concat(), &[]);
    let client = TestClient::http1();
    let post = |content_type: &'static str, body: &'static str| {
        let client = client.clone();
        let request = http::Request::post(format!("http://{}/orders", gateway.http))
            .header("host", "shop.example.com")
            .header("content-type", content_type)
            .body(http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes())))
            .unwrap();
        async move { client.send(request).await.body }
    };
    assert_eq!(post("application/json", r#"{"customer": {"tier": "gold"}}"#).await, "gold");
    assert_eq!(post("application/x-www-form-urlencoded", "channel=app&x=1").await, "app");
    assert_eq!(post("application/json", r#"{"customer": {"tier": "silver"}}"#).await, "default");
    assert_eq!(post("text/plain", "channel=app").await, "default", "form fields only from form bodies");
}
