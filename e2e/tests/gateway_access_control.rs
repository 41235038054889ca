//! The access-control plugin, with the reference's example: ALLOW passes at once, DENY answers
//! the rule's status, message, headers and body with `${name}` filled in.

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};

fn manifests(backend: std::net::SocketAddr) -> String {
    let api = shop_api(
        "get-user",
        "{method: GET, path: '/users/[userId]'}",
        &format!("{{type: HTTP, address: 'http://{backend}'}}"),
    ) + "  parameters: [{name: userId, in: PATH, type: LONG, required: true}]\n  plugins: [{kind: Plugin, name: user-access}]\n";
    let plugin = r#"---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {name: user-access}
spec:
  accessControl:
    parameters:
      userId: "Query:userId"
      userType: "Header:X-User-Type"
      pathUserId: "path:userId"
    rules:
    - name: admin
      condition: "$userType = 'admin'"
      ifTrue: ALLOW
    - name: user
      condition: "$userId = $pathUserId"
      ifFalse: DENY
      statusCode: 403
      errorMessage: "Path not match ${userId} vs /${pathUserId}"
      responseHeaders: {Content-Type: application/xml}
      responseBody: "<Reason>Path not match ${userId} vs /${pathUserId}</Reason>"
"#;
    [shop_group(""), plugin.to_owned(), api].concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn allows_and_denies_by_rules_in_order() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let client = TestClient::http1();
    let get = |path: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let client = client.clone();
        let address = gateway.http;
        async move { client.get(address, "shop.example.com", path, headers).await }
    };
    assert_eq!(get("/users/8?userId=7", &[("x-user-type", "admin")]).await.status, 200, "admin is allowed at once");
    assert_eq!(get("/users/7?userId=7", &[]).await.status, 200, "a user reads their own path");
    let denied = get("/users/8?userId=7", &[]).await;
    assert_eq!((denied.status.as_u16(), denied.header("x-ca-error-code")), (403, "A403AC"));
    assert_eq!(denied.header("x-ca-error-message"), "Path not match 7 vs /8");
    assert_eq!(denied.header("content-type"), "application/xml");
    assert_eq!(denied.body, "<Reason>Path not match 7 vs /8</Reason>");
    let anonymous = get("/users/8", &[]).await;
    assert_eq!(
        anonymous.header("x-ca-error-message"),
        "Path not match  vs /8",
        "a missing parameter is null: the rule denies"
    );
}
