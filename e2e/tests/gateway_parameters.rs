//! Parameters are extracted, checked and mapped; constant and system parameters and the
//! gateway's own headers reach the backend.

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

fn manifests(backend: std::net::SocketAddr) -> String {
    format!(
        r##"
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {{name: shop}}
spec:
  domains: [{{host: shop.example.com}}]
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: mapped}}
spec:
  groupRef: shop
  auth: {{type: ANONYMOUS}}
  request: {{method: POST, path: "/users/[userId]", mode: MAPPING}}
  parameters:
  - {{name: userId, in: PATH, type: LONG, required: true, minimum: 1, backend: {{name: uid, in: QUERY}}}}
  - {{name: page, in: QUERY, type: INT, default: "1", maximum: 100, backend: {{name: X-Page, in: HEADER}}}}
  - {{name: sort, in: QUERY, enum: [asc, desc]}}
  - {{name: X-Token, in: HEADER, required: true, pattern: "^[a-f0-9]{{8}}$", backend: {{name: token, in: QUERY}}}}
  - {{name: nick, in: FORM, minLength: 2, maxLength: 5, backend: {{name: nickname, in: FORM}}}}
  constantParameters:
  - {{name: host, in: HEADER, value: users.internal}}
  - {{name: source, in: QUERY, value: apigw}}
  systemParameters:
  - {{name: CaClientIp, backend: {{name: X-Real-IP, in: HEADER}}}}
  - {{name: CaApiName, backend: {{name: api, in: QUERY}}}}
  - {{name: CaStage, backend: {{name: X-Stage, in: HEADER}}}}
  - {{name: CaRequestId, backend: {{name: X-Request, in: HEADER}}}}
  backend: {{type: HTTP, address: "http://{backend}", path: /v2/users, method: PUT}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: passthrough}}
spec:
  groupRef: shop
  auth: {{type: ANONYMOUS}}
  request: {{method: GET, path: /search}}
  parameters:
  - {{name: q, in: QUERY, required: true}}
  backend: {{type: HTTP, address: "http://{backend}"}}
"##
    )
}

fn post(
    address: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    form: &'static str,
) -> Request<Full<Bytes>> {
    let mut request = Request::post(format!("http://{address}{path}"))
        .header("host", "shop.example.com")
        .header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Full::new(Bytes::from_static(form.as_bytes()))).expect("a valid request")
}

#[tokio::test(flavor = "multi_thread")]
async fn mapping_mode_relocates_declared_parameters_and_drops_the_rest() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let client = TestClient::http1();
    let answer = client
        .send(post(
            gateway.http,
            "/users/42?page=3&other=x",
            &[("x-token", "0123abcd"), ("x-forwarded-for", "203.0.113.9")],
            "nick=bob&junk=1",
        ))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer);
    let seen = answer.json();
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["path"], "/v2/users");
    let query = seen["query"].as_str().unwrap();
    for expected in ["uid=42", "token=0123abcd", "source=apigw", "api=mapped"] {
        assert!(query.contains(expected), "query {query} lacks {expected}");
    }
    assert!(!query.contains("other") && !query.contains("page"), "undeclared or relocated query kept: {query}");
    let headers = &seen["headers"];
    assert_eq!(headers["x-page"], "3");
    assert_eq!(headers["host"], "users.internal", "constant host header");
    assert_eq!(headers["x-real-ip"], "127.0.0.1");
    assert_eq!(headers["x-stage"], "RELEASE");
    assert_eq!(headers["x-request"], answer.header("x-ca-request-id"));
    assert!(headers.get("x-token").is_none(), "a relocated header is not passed on");
    assert_eq!(seen["body"], "nickname=bob");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "an untrusted client's X-Forwarded-For is replaced");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], "shop.example.com");
    assert_eq!(headers["via"], "gw-e2e");
    assert_eq!(headers["x-ca-request-id"], answer.header("x-ca-request-id"));

    let defaulted = client.send(post(gateway.http, "/users/42", &[("x-token", "0123abcd")], "")).await.json();
    assert_eq!(defaulted["headers"]["x-page"], "1", "default value");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_parameters_are_refused_with_400_naming_the_parameter() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let client = TestClient::http1();
    let token = ("x-token", "0123abcd");
    // (path, headers, form body, X-Ca-Error-Message)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: [Case<'_>; 8] = [
        ("/users/abc", vec![token], "", "Invalid parameter userId: \"abc\" is not a LONG"),
        ("/users/0", vec![token], "", "Invalid parameter userId: less than 1"),
        ("/users/1?page=101", vec![token], "", "Invalid parameter page: greater than 100"),
        ("/users/1?page=x", vec![token], "", "Invalid parameter page: \"x\" is not an INT"),
        ("/users/1?sort=up", vec![token], "", "Invalid parameter sort: must be one of asc, desc"),
        ("/users/1", vec![], "", "Invalid parameter X-Token: required"),
        ("/users/1", vec![("x-token", "XYZ")], "", "Invalid parameter X-Token: does not match ^[a-f0-9]{8}$"),
        ("/users/1", vec![token], "nick=abcdef", "Invalid parameter nick: longer than 5 characters"),
    ];
    for (path, headers, form, message) in cases {
        let answer = client.send(post(gateway.http, path, &headers, form)).await;
        assert_eq!(answer.status, 400, "{path}");
        assert_eq!(answer.header("x-ca-error-code"), "I400PA", "{path}");
        assert_eq!(answer.header("x-ca-error-message"), message, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn passthrough_mode_forwards_the_request_as_it_came_minus_hop_by_hop_headers() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let headers = [("connection", "keep-alive, x-secret"), ("x-secret", "s"), ("x-custom", "c"), ("via", "1.1 edge")];
    let answer = TestClient::http1().get(gateway.http, "shop.example.com", "/search?q=rust&extra=1", &headers).await;
    let seen = answer.json();
    assert_eq!(seen["path"], "/search");
    assert_eq!(seen["query"], "q=rust&extra=1");
    assert_eq!(seen["headers"]["x-custom"], "c");
    assert!(seen["headers"].get("x-secret").is_none(), "a header named by Connection was forwarded");
    assert_eq!(seen["headers"]["via"], "1.1 edge, gw-e2e");
    assert_eq!(seen["headers"]["host"], backend.to_string());

    let missing = TestClient::http1().get(gateway.http, "shop.example.com", "/search", &[]).await;
    assert_eq!(missing.header("x-ca-error-message"), "Invalid parameter q: required");
}
