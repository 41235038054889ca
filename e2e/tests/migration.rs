//! Moving off Alibaba Cloud end to end: plugin documents as the console shows them and an App
//! list go through `kubectl apigw import-plugin` / `import-apps`; the API server takes what they
//! write, and a gateway serving it lets the old credentials in (the BasicAuth password, the
//! AppKey/AppSecret, the backend-signature key) and keeps everyone else out.

use std::process::Command;

use apigw_core::resources::SignatureMethod;
use apigw_core::signature::{ClientRequest, ClientSigner};
use apigw_e2e::gateway::{GatewayProcess, TestClient, binary};
use apigw_e2e::manifests::{shop_api, shop_group};
use apigw_e2e::{Namespace, echo};
use base64::Engine;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

/// Alibaba's BasicAuth template (passwords are numbers to YAML).
const BASIC_AUTH: &str =
    "---\nusers:\n  - username: alice\n    password: 123456\n  - username: bob\n    password: 666666\n";

/// Alibaba's backend-signature template.
const BACKEND_SIGNATURE: &str = "---\ntype: APIGW_BACKEND\nkey: SampleKey\nsecret: SampleSecret\n";

/// The reference document's jwtAuth plugin (chapter 3.2), as it is written there.
const REFERENCE_JWT: &str = "---\nparameter: X-Token\nparameterLocation: header\nclaimParameters:\n - claimName: userId\n   parameterName: userId\n   location: query\njwk:\n   kty: RSA\n   e: AQAB\n   kid: showJwt\n   alg: RS256\n   n: gNHI8tm3lnsdCi09SrBPs9-Oau7Z1SFhIEOT2h5AJ49FSJA0XEyU4OadtV70BLIEy94dzcUK8f0e477AVoUO0RZdcXjztFtpJnA1Ktrzn9zAmKcXb2IuKXrBKkQStcKqoSbBlR84mDElp_gxfNqpmoLy0q08rkmjh1utd8E_S4QMDDaFtQ68ggJcDY-oX5FSiVidKNrKagEzQKpk5SgJFE8wpJOkW-YKouqLsL5lFyqnkgn7J3MvDqEBKqgiCY-zXYaxnkLNfkrAt7jTe4b4a2PiKD0-bHIZwzd2NVhuLGwx4pB1tFL51E-KeewZhTsoUbQ3v_ZerZ2_630WOH7IWQ\n";

/// An App list with DescribeApps' wrapper and DescribeAuthorizedApis' fields.
const APPS: &str = r#"{"Apps": {"AppItem": [
  {"AppId": 110840611, "AppName": "Mobile_App", "AppKey": "203753385", "AppSecret": "mobile-secret",
   "AuthorizedApis": {"AuthorizedApi": [{"GroupName": "shop", "ApiName": "Get_Order", "StageName": "RELEASE"}]}},
  {"AppId": 42, "AppName": "partner", "AppKey": "204000042", "AppSecret": "partner-secret",
   "AuthorizedApis": {"AuthorizedApi": [{"GroupName": "shop", "ApiName": "Get_Order", "StageName": "TEST"}]}}
]}}"#;

/// Runs `kubectl-apigw args... -` with `input` on stdin: (stdout, stderr).
fn kubectl_apigw(args: &[&str], input: &str) -> (String, String) {
    use std::io::Write;
    let mut child = Command::new(binary("kubectl-apigw"))
        .args(args)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl-apigw runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap());
    assert!(output.status.success(), "kubectl-apigw {args:?} failed:\n{stderr}");
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_plugins_and_apps_are_accepted_and_let_the_old_credentials_in() {
    let (basic_auth, moved) = kubectl_apigw(&["import-plugin", "--type", "basicAuth", "--name", "staff"], BASIC_AUTH);
    assert!(moved.contains("moved: basicAuth.users (2 passwords, bcrypt-hashed) -> Secret staff-users"), "{moved}");
    assert!(!basic_auth.contains("123456"), "no password in plain text:\n{basic_auth}");
    let (signature, _) =
        kubectl_apigw(&["import-plugin", "--type", "backendSignature", "--name", "sign"], BACKEND_SIGNATURE);
    let (jwt, _) = kubectl_apigw(&["import-plugin", "--type", "jwtAuth", "--name", "show-jwt"], REFERENCE_JWT);
    let (apps, moved) = kubectl_apigw(&["import-apps"], APPS);
    assert_eq!(moved.matches("moved: App").count(), 2, "{moved}");

    // The API server takes all of it (CRD schemas and rules), and the JWK's `n` is still the
    // modulus: kubectl reads a bare `n:` of the pasted YAML as false.
    let namespace = Namespace::create("migration");
    for (what, yaml) in
        [("basicAuth", &basic_auth), ("backendSignature", &signature), ("jwtAuth", &jwt), ("apps", &apps)]
    {
        namespace.apply(yaml).expect_success(what);
    }
    let modulus = namespace.kubectl(&["get", "plugin", "show-jwt", "-o", "jsonpath={.spec.jwtAuth.jwk.n}"]).stdout;
    assert!(modulus.starts_with("gNHI8tm3"), "{modulus}");
    let app_id = namespace.kubectl(&["get", "app", "mobile-app", "-o", "jsonpath={.spec.appId}"]).stdout;
    assert_eq!(app_id, "110840611");

    // A gateway serving it.
    let backend = echo::start("shop").await;
    let address = format!("{{type: HTTP, address: 'http://{backend}'}}");
    let staff = shop_api("staff-area", "{method: GET, path: /staff}", &address)
        + "  plugins: [{kind: Plugin, name: staff}, {kind: Plugin, name: sign}]\n";
    let order = shop_api("get-order", "{method: GET, path: /order}", &address)
        .replace("auth: {type: ANONYMOUS}", "auth: {type: APP}");
    let manifests = [shop_group(""), staff, order, basic_auth, signature, apps].concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();

    let basic = |user: &str, password: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    };
    let alice =
        client.get(gateway.http, "shop.example.com", "/staff", &[("authorization", &basic("alice", "123456"))]).await;
    assert_eq!(alice.status, 200, "the password of the Alibaba plugin works: {alice:?}");
    assert_eq!(alice.json()["headers"]["x-ca-proxy-signature-secret-key"], "SampleKey", "signed with the moved key");
    let wrong =
        client.get(gateway.http, "shop.example.com", "/staff", &[("authorization", &basic("alice", "666666"))]).await;
    assert_eq!((wrong.status.as_u16(), wrong.header("x-ca-error-code")), (401, "A401BA"));

    let signed = |key: &'static str, secret: &'static str, nonce: &'static str| {
        let signer = ClientSigner { app_key: key, app_secret: secret.as_bytes(), method: SignatureMethod::HmacSHA256 };
        let timestamp_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        let request = ClientRequest {
            method: "GET",
            path: "/order",
            timestamp_ms: timestamp_ms as i64,
            nonce,
            ..ClientRequest::default()
        };
        let mut builder = Request::get(format!("http://{}/order", gateway.http)).header("host", "shop.example.com");
        for (name, value) in signer.headers(&request) {
            builder = builder.header(name, value);
        }
        builder.body(Full::<Bytes>::default()).unwrap()
    };
    let mobile = client.send(signed("203753385", "mobile-secret", "m-1")).await;
    assert_eq!(mobile.status, 200, "the AppKey/AppSecret of the list, authorized for Get_Order: {mobile:?}");
    let partner = client.send(signed("204000042", "partner-secret", "p-1")).await;
    assert_eq!(partner.header("x-ca-error-code"), "A403UA", "authorized on TEST only: {partner:?}");
}
