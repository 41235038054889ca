//! The gateway process routes by host, stage, method and path, and answers unknown routes with
//! the documented errors.

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};

fn manifests(backend: std::net::SocketAddr) -> String {
    format!(
        r##"
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {{name: shop}}
spec:
  domains: [{{host: shop.example.com}}, {{host: "*.shop.example.com"}}]
  basePath: /v1
  internalDomain: true
  stages:
    RELEASE: {{variables: {{backend: "http://{backend}"}}}}
    TEST: {{variables: {{backend: "http://{backend}/test"}}}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: user-by-id}}
spec:
  groupRef: shop
  stages: [RELEASE, TEST]
  auth: {{type: ANONYMOUS}}
  request: {{method: GET, path: "/users/[id]"}}
  backend: {{type: HTTP, address: "#backend#", path: "/u/[id]"}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: user-me}}
spec:
  groupRef: shop
  auth: {{type: ANONYMOUS}}
  request: {{method: GET, path: /users/me}}
  backend: {{type: MOCK, statusCode: 200, body: me}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: order}}
spec:
  groupRef: shop
  auth: {{type: ANONYMOUS}}
  request: {{method: ANY, path: "/orders/{{orderId}}"}}
  backend: {{type: MOCK, statusCode: 202, body: any}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: static}}
spec:
  groupRef: shop
  auth: {{type: ANONYMOUS}}
  request: {{method: GET, path: "/static/*"}}
  backend: {{type: HTTP, address: "#backend#", path: "/files/*"}}
"##
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_by_host_stage_method_and_path() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let client = TestClient::http1();
    let get = |host: &'static str, path: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let client = client.clone();
        let address = gateway.http;
        async move { client.get(address, host, path, headers).await }
    };

    let found = get("shop.example.com", "/v1/users/42", &[]).await;
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["path"], "/u/42");
    assert!(!found.header("x-ca-request-id").is_empty());

    let wildcard = get("api.shop.example.com:8080", "/v1/users/7", &[]).await;
    assert_eq!(wildcard.json()["path"], "/u/7", "wildcard host with a port");

    let test_stage = get("shop.example.com", "/v1/users/7", &[("x-ca-stage", "TEST")]).await;
    assert_eq!(test_stage.json()["path"], "/test/u/7", "TEST stage variable");

    let unpublished = get("shop.example.com", "/v1/users/me", &[("x-ca-stage", "TEST")]).await;
    assert_eq!((unpublished.status.as_u16(), unpublished.header("x-ca-error-code")), (400, "I400SG"));
    assert_eq!(unpublished.header("x-ca-error-message"), "Invalid Stage");

    let specific = get("shop.example.com", "/v1/users/me", &[]).await;
    assert_eq!(specific.body, "me", "a static segment wins over a parameter");

    let any = client
        .send(
            http::Request::delete(format!("http://{}/v1/orders/9", gateway.http))
                .header("host", "shop.example.com")
                .body(Default::default())
                .unwrap(),
        )
        .await;
    assert_eq!(any.status, 202, "ANY takes DELETE");

    let prefix = get("shop.example.com", "/v1/static/css/site.css", &[]).await;
    assert_eq!(prefix.json()["path"], "/files/css/site.css", "a trailing * carries the rest over");

    let wrong_method = client
        .send(
            http::Request::post(format!("http://{}/v1/users/42", gateway.http))
                .header("host", "shop.example.com")
                .body(Default::default())
                .unwrap(),
        )
        .await;
    assert_eq!((wrong_method.status.as_u16(), wrong_method.header("x-ca-error-code")), (404, "I404NF"));

    let no_base = get("shop.example.com", "/users/42", &[]).await;
    assert_eq!(no_base.header("x-ca-error-code"), "I404NF", "the base path is part of every API path");

    let unknown_host = get("other.example.com", "/v1/users/42", &[]).await;
    assert_eq!((unknown_host.status.as_u16(), unknown_host.header("x-ca-error-code")), (404, "I404DO"));
    assert_eq!(unknown_host.header("x-ca-error-message"), "Invalid Domain");
}

#[tokio::test(flavor = "multi_thread")]
async fn internal_domains_are_served_on_the_internal_listener_only() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let client = TestClient::http1();
    let internal_host = "shop.default.apigw.internal";
    let inside = client.get(gateway.internal, internal_host, "/v1/users/1", &[]).await;
    assert_eq!(inside.status, 200);
    let public_refuses = client.get(gateway.http, internal_host, "/v1/users/1", &[]).await;
    assert_eq!(public_refuses.header("x-ca-error-code"), "I404DO");
    let internal_refuses_public = client.get(gateway.internal, "shop.example.com", "/v1/users/1", &[]).await;
    assert_eq!(internal_refuses_public.header("x-ca-error-code"), "I404DO");
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_http2_with_prior_knowledge() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let answer = TestClient::http2().get(gateway.http, "shop.example.com", "/v1/users/5", &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["path"], "/u/5");
}
