//! basicAuth end to end: users in a Secret key in htpasswd format (bcrypt and SHA-512-crypt
//! lines), `401` with `WWW-Authenticate` without valid credentials, the user as the system
//! parameter `CaBasicAuthUser` for the backend and for conditions, the `Authorization` header
//! kept from the backend.

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::shop_group;
use base64::Engine;

/// `alice:wonderland` (bcrypt, `htpasswd -B`) and `bob:builder` (`openssl passwd -6`).
const USERS: &str = "alice:$2y$04$nTask4/B/53krpFjQMue0uPEjV3tMHWOq.Uezuw1jyukaIfcmSYgO\nbob:$6$saltsalt$AMApe3UxKRHFGgpM1NDN5e0tMZ6laQYyoi896lWiBlxd7Nwbszp8z77oH.h4MAG5Y14p5yLYfTD/sjuLtHEDG/\n";

fn basic(credentials: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

#[tokio::test(flavor = "multi_thread")]
async fn users_of_the_secret_pass_and_everyone_else_is_asked_for_credentials() {
    let backend = echo::start("backend").await;
    let secret = serde_json::json!({"htpasswd": USERS}).to_string();
    let manifests = [
        shop_group(""),
        format!("---\napiVersion: v1\nkind: Secret\nmetadata: {{name: staff}}\nstringData: {secret}\n"),
        "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {name: staff}\nspec: {basicAuth: {secretRef: {name: staff, key: htpasswd}, realm: staff area}}\n".to_owned(),
        "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {name: alice-only}\nspec: {accessControl: {parameters: {user: 'System:CaBasicAuthUser'}, rules: [{name: alice, condition: \"$user = 'alice'\", ifFalse: DENY}]}}\n".to_owned(),
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: reports}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n  request: {{method: GET, path: /reports}}\n  systemParameters: [{{name: CaBasicAuthUser, backend: {{name: X-User, in: HEADER}}}}]\n  backend: {{type: HTTP, address: \"http://{backend}\"}}\n  plugins: [{{kind: Plugin, name: staff}}]\n"
        ),
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: payroll}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n  request: {{method: GET, path: /payroll}}\n  backend: {{type: HTTP, address: \"http://{backend}\"}}\n  plugins: [{{kind: Plugin, name: staff}}, {{kind: Plugin, name: alice-only}}]\n"
        ),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    let get = |path: &'static str, authorization: Option<String>| {
        let client = &client;
        let address = gateway.http;
        async move {
            let headers: Vec<(&str, &str)> =
                authorization.as_deref().map(|value| vec![("authorization", value)]).unwrap_or_default();
            client.get(address, "shop.example.com", path, &headers).await
        }
    };

    for credentials in
        [None, Some(basic("alice:Wonderland")), Some(basic("mallory:wonderland")), Some("Bearer x".to_owned())]
    {
        let answer = get("/reports", credentials.clone()).await;
        assert_eq!((answer.status.as_u16(), answer.header("x-ca-error-code")), (401, "A401BA"), "{credentials:?}");
        assert_eq!(answer.header("www-authenticate"), "Basic realm=\"staff area\", charset=\"UTF-8\"");
    }
    for (credentials, user) in [("alice:wonderland", "alice"), ("bob:builder", "bob")] {
        let answer = get("/reports", Some(basic(credentials))).await;
        assert_eq!(answer.status, 200, "{credentials}: {answer:?}");
        let echoed = answer.json();
        assert_eq!(echoed["headers"]["x-user"], user, "the user reaches the backend as CaBasicAuthUser");
        assert!(echoed["headers"].get("authorization").is_none(), "the password does not: {echoed}");
    }
    assert_eq!(get("/payroll", Some(basic("alice:wonderland"))).await.status, 200);
    let answer = get("/payroll", Some(basic("bob:builder"))).await;
    assert_eq!(answer.status, 403, "a condition over $CaBasicAuthUser refuses bob: {answer:?}");
}
