//! remoteAuth end to end: a real authentication service decides, sent what `authParameters`,
//! `passThroughPath` and `passThroughBody` say; its answer's headers replace the client's on the
//! backend request; a refusal gets the configured answer; remembered answers are not asked
//! again; a service that hangs or is down gives a 5xx code, never a pass.

use std::time::{Duration, Instant};

use apigw_e2e::auth_service::AuthService;
use apigw_e2e::echo;
use apigw_e2e::gateway::{Answer, GatewayProcess, TestClient};
use apigw_e2e::manifests::shop_group;
use bytes::Bytes;
use http_body_util::Full;

fn manifests(auth: &AuthService, backend: std::net::SocketAddr) -> String {
    let plugin = |name: &str, extra: &str| {
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {{name: {name}}}\nspec:\n  remoteAuth:\n    parameters: {{status: StatusCode, ok: 'BodyJsonField:$.ok'}}\n    authUriType: HTTP\n    authUri: {{address: 'http://{}', path: /check, timeout: 1000}}\n    trimAuthorizationHeaderPrefix: true\n    authParameters:\n    - {{targetParameterName: x-token, sourceParameterName: Authorization, targetLocation: header, sourceLocation: header}}\n    - {{targetParameterName: tenant, sourceParameterName: tenant, targetLocation: query, sourceLocation: query}}\n    successCondition: \"$status = 200 and $ok = 'yes'\"\n    authResponseHeaders: [X-User-Id]\n{extra}",
            auth.address
        )
    };
    let api = |name: &str, method: &str, plugin: &str| {
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: {name}}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n  request: {{method: {method}, path: '/{name}/[id]'}}\n  parameters: [{{name: id, in: PATH, required: true}}]\n  backend: {{type: HTTP, address: \"http://{backend}\"}}\n  plugins: [{{kind: Plugin, name: {plugin}}}]\n"
        )
    };
    [
        shop_group(""),
        plugin(
            "checked",
            "    passThroughBody: true\n    passThroughPath: true\n    errorStatusCode: 403\n    errorMessage: Not Allowed\n",
        ),
        plugin("remembered", "    cachedTimeBySecond: 60\n"),
        api("orders", "POST", "checked"),
        api("profile", "GET", "remembered"),
    ]
    .concat()
}

async fn post(client: &TestClient, gateway: &GatewayProcess, token: &str, user: Option<&str>) -> Answer {
    let mut request = http::Request::post(format!("http://{}/orders/7?tenant=acme", gateway.http))
        .header("host", "shop.example.com")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/plain");
    if let Some(user) = user {
        request = request.header("x-user-id", user);
    }
    client.send(request.body(Full::new(Bytes::from_static(b"two apples"))).expect("a request")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_decides_and_its_headers_reach_the_backend() {
    let (auth, backend) = (AuthService::start().await, echo::start("backend").await);
    let gateway = GatewayProcess::start(&manifests(&auth, backend), &[]);
    let client = TestClient::http1();

    let answer = post(&client, &gateway, "good-alice", Some("mallory")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let echoed = answer.json();
    assert_eq!(echoed["headers"]["x-user-id"], "alice", "the service's user, never the client's: {echoed}");
    assert_eq!(echoed["body"], "two apples", "the body still reaches the backend");
    let asked = auth.asked();
    let [asked] = asked.as_slice() else { panic!("one request to the service: {asked:?}") };
    assert_eq!((asked.method.as_str(), asked.target.as_str()), ("POST", "/check?tenant=acme"));
    assert_eq!(asked.headers["x-token"], "good-alice", "the Authorization value without its scheme");
    assert_eq!(asked.headers["x-ca-remote-auth-raw-path"], "/orders/7");
    assert_eq!(asked.headers["x-ca-request-id"], answer.header("x-ca-request-id"));
    assert_eq!(&asked.body[..], b"two apples");

    for (token, user) in [("wrong", Some("alice")), ("nobody", None)] {
        let answer = post(&client, &gateway, token, user).await;
        assert_eq!((answer.status.as_u16(), answer.header("x-ca-error-code")), (403, "A403RA"), "{token}");
        assert_eq!(answer.header("x-ca-error-message"), "Not Allowed");
    }

    // The remembered plugin asks once per token within cachedTimeBySecond.
    let before = auth.asked().len();
    for token in ["good-bob", "good-bob", "good-carol", "good-bob"] {
        let authorization = format!("Bearer {token}");
        let answer =
            client.get(gateway.http, "shop.example.com", "/profile/1", &[("authorization", &authorization)]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json()["headers"]["x-user-id"], token.trim_start_matches("good-"));
    }
    assert_eq!(auth.asked().len() - before, 2, "bob asked about once, carol once");
    let answer = client.get(gateway.http, "shop.example.com", "/profile/1", &[]).await;
    assert_eq!((answer.status.as_u16(), answer.header("x-ca-error-code")), (401, "A401RA"), "the default answer");
    assert_eq!(answer.header("x-ca-error-message"), "Remote Authentication Failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_hangs_or_is_down_never_lets_a_request_pass() {
    let (auth, backend) = (AuthService::start().await, echo::start("backend").await);
    let gateway = GatewayProcess::start(&manifests(&auth, backend), &[]);
    let client = TestClient::http1();

    let started = Instant::now();
    let answer = post(&client, &gateway, "slow", None).await;
    assert_eq!((answer.status.as_u16(), answer.header("x-ca-error-code")), (504, "A504RA"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "within the service's 1 s timeout: {:?}", started.elapsed());

    auth.kill();
    let answer = post(&client, &gateway, "good-alice", None).await;
    assert_eq!((answer.status.as_u16(), answer.header("x-ca-error-code")), (502, "A502RA"), "{answer:?}");
    assert!(answer.header("x-ca-error-message").starts_with("Authentication Service Unavailable"));
}
