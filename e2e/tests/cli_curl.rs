//! `kubectl apigw curl` signs as the official SDKs do: a real gateway with APP authentication
//! accepts its requests (GET with a query, POST with a form), refuses a wrong secret with the
//! gateway's message, and `-v` shows the StringToSign.

use std::process::{Command, Output};

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, binary};
use apigw_e2e::manifests::{shop_api, shop_group};

fn curl(args: &[&str]) -> Output {
    Command::new(binary("kubectl-apigw")).arg("curl").args(args).output().expect("kubectl-apigw runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_requests_pass_app_authentication() {
    let backend = echo::start("orders").await;
    let app = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: mobile-app}\nstringData: {appKey: '203753385', appSecret: mobile-secret}\n---\napiVersion: apigw.io/v1alpha1\nkind: App\nmetadata: {name: mobile}\nspec: {appId: 1001, credentialsSecretRef: {name: mobile-app}, authorizations: [{groupRef: shop}]}\n";
    let api =
        shop_api("orders", "{method: ANY, path: /orders}", &format!("{{type: HTTP, address: 'http://{backend}'}}"))
            .replace("auth: {type: ANONYMOUS}", "auth: {type: APP}");
    let gateway = GatewayProcess::start(&[shop_group(""), api, app.to_owned()].concat(), &[]);
    let url = format!("http://{}/orders?b=2&a=1", gateway.http);
    let credentials = ["--app-key", "203753385", "--app-secret", "mobile-secret", "--host", "shop.example.com"];

    let get = curl(&[&credentials[..], &["-v", &url]].concat());
    let stderr = String::from_utf8_lossy(&get.stderr);
    assert!(get.status.success(), "{stderr}");
    let seen: serde_json::Value = serde_json::from_slice(&get.stdout).unwrap();
    assert_eq!(seen["headers"]["x-ca-key"], "203753385");
    assert!(stderr.contains("StringToSign (newlines as #): GET####"), "{stderr}");
    assert!(stderr.contains("/orders?a=1&b=2"), "sorted query in the StringToSign: {stderr}");

    let post = curl(&[&credentials[..], &["--hmac-sha1", "-d", "name=tea&size=large", &url]].concat());
    assert!(post.status.success(), "{}", String::from_utf8_lossy(&post.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&post.stdout).unwrap();
    assert_eq!((seen["method"].as_str(), seen["body"].as_str()), (Some("POST"), Some("name=tea&size=large")));

    let wrong = curl(&["--app-key", "203753385", "--app-secret", "guess", "--host", "shop.example.com", &url]);
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("403") && stderr.contains("Invalid Signature, Server StringToSign:"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_is_trusted_with_the_given_ca_only() {
    let dir = apigw_e2e::gateway::scratch_dir("cli-tls");
    let (certificate, key) = apigw_e2e::certificates::issue(&dir, "backend", &["localhost"]);
    let backend = echo::start_tls("tls", certificate.as_bytes(), key.as_bytes()).await;
    let url = format!("https://localhost:{}/signed", backend.port());
    let ca = dir.join("ca.crt");
    let ca = ca.to_str().unwrap();
    let credentials = ["--app-key", "k", "--app-secret", "s"];

    let trusted = curl(&[&credentials[..], &["--cacert", ca, &url]].concat());
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&trusted.stdout).unwrap();
    assert_eq!(seen["headers"]["x-ca-key"], "k");

    let untrusted = curl(&[&credentials[..], &[url.as_str()]].concat());
    assert!(!untrusted.status.success());
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("UnknownIssuer"),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );

    let import = |extra: &[&str]| {
        Command::new(binary("kubectl-apigw")).args(["import", "--group", "g"]).args(extra).arg(&url).output().unwrap()
    };
    let fetched = import(&["--cacert", ca]);
    let stderr = String::from_utf8_lossy(&fetched.stderr);
    assert!(stderr.contains("not a Swagger 2.0 or OpenAPI 3 document"), "fetched over TLS, then refused: {stderr}");
    let refused = import(&[]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("UnknownIssuer"));
}
