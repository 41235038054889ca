//! Backend signatures: APIGW_FRONTEND lets an API call another APP-authenticated API of the
//! gateway (the reference document's self-invocation: a distribution API routed to a business
//! API); APIGW_BACKEND adds `X-Ca-Proxy-Signature*`, checked here by a verifier of the test's own.

use std::collections::BTreeMap;

use apigw_core::resources::SignatureMethod;
use apigw_core::signature::sign;
use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};

fn manifests(gateway: std::net::SocketAddr, backend: std::net::SocketAddr) -> String {
    format!(
        r##"
apiVersion: v1
kind: Secret
metadata: {{name: distributor-app}}
stringData: {{appKey: TESTKEY, appSecret: TESTSECRET}}
---
apiVersion: v1
kind: Secret
metadata: {{name: backend-key}}
stringData: {{appKey: SampleKey, appSecret: SampleSecret}}
---
apiVersion: apigw.io/v1alpha1
kind: App
metadata: {{name: distributor}}
spec: {{appId: 1001, credentialsSecretRef: {{name: distributor-app}}, authorizations: [{{groupRef: business}}]}}
---
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {{name: business}}
spec: {{domains: [{{host: business.example.com}}]}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: business1}}
spec:
  groupRef: business
  request: {{method: GET, path: /business1}}
  auth: {{type: APP}}
  backend: {{type: HTTP, address: "http://{backend}", path: /business1}}
---
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {{name: distribution}}
spec: {{domains: [{{host: distribution.example.com}}]}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: distribute}}
spec:
  groupRef: distribution
  request: {{method: GET, path: /distributeAPI}}
  auth: {{type: ANONYMOUS}}
  parameters: [{{name: target, in: QUERY, required: true}}]
  backend: {{type: MOCK, statusCode: 400, body: unknown target}}
  plugins: [{{kind: RoutingPlugin, name: distribute}}, {{kind: Plugin, name: distributor-signature}}]
---
apiVersion: apigw.io/v1alpha1
kind: RoutingPlugin
metadata: {{name: distribute}}
spec:
  parameters: {{target: "Query:target"}}
  routes:
  - name: backend1
    condition: "$target = 'resource1'"
    backend: {{type: HTTP, address: "http://{gateway}", path: /business1}}
    constantParameters: [{{name: host, location: header, value: business.example.com}}]
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: distributor-signature}}
spec:
  backendSignature: {{type: APIGW_FRONTEND, credentialsSecretRef: {{name: distributor-app}}}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: verified}}
spec:
  groupRef: distribution
  request: {{method: GET, path: /verified}}
  auth: {{type: ANONYMOUS}}
  backend: {{type: HTTP, address: "http://{backend}"}}
  plugins: [{{kind: Plugin, name: gateway-signature}}]
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: gateway-signature}}
spec:
  backendSignature: {{type: APIGW_BACKEND, credentialsSecretRef: {{name: backend-key}}}}
"##
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn frontend_signatures_call_app_apis_and_backend_signatures_verify() {
    let backend = echo::start("business").await;
    let gateway = GatewayProcess::start("", &[]);
    std::fs::write(gateway.manifests().join("apis.yaml"), manifests(gateway.http, backend)).unwrap();
    let client = TestClient::http1();
    gateway.wait_until(|| std::net::TcpStream::connect(gateway.http).is_ok());
    let mut answer = None;
    for _ in 0..100 {
        let attempt =
            client.get(gateway.http, "distribution.example.com", "/distributeAPI?target=resource1", &[]).await;
        if attempt.header("x-ca-error-code") != "I503NR" && attempt.header("x-ca-error-code") != "I404DO" {
            answer = Some(attempt);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let answer = answer.expect("the config loads");
    assert_eq!(answer.status, 200, "{answer:?}");
    let seen = answer.json();
    assert_eq!(seen["path"], "/business1");
    assert_eq!(seen["headers"]["x-ca-key"], "TESTKEY", "the business API saw the distributor's signature");
    let unsigned = client.get(gateway.http, "business.example.com", "/business1", &[]).await;
    assert_eq!(unsigned.header("x-ca-error-code"), "A400IK", "the business API needs a signature");

    let verified = client.get(gateway.http, "distribution.example.com", "/verified?b=2&a=1", &[]).await.json();
    let headers = verified["headers"].as_object().unwrap();
    let text = |name: &str| headers.get(name).and_then(|value| value.as_str()).unwrap_or_default().to_owned();
    // The verifier of the reference's backend-signature demo: lower-cased x-ca-* headers, sorted.
    let signed: BTreeMap<String, String> = headers
        .iter()
        .filter(|(name, _)| name.starts_with("x-ca-") && !name.starts_with("x-ca-proxy-signature"))
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let mut string_to_sign = format!("GET\n{}\n", text("content-md5"));
    for (name, value) in &signed {
        string_to_sign.push_str(&format!("{name}:{value}\n"));
    }
    string_to_sign.push_str("/verified?a=1&b=2");
    assert_eq!(text("x-ca-proxy-signature-secret-key"), "SampleKey");
    assert_eq!(text("x-ca-proxy-signature-headers"), signed.keys().cloned().collect::<Vec<_>>().join(","));
    assert_eq!(text("x-ca-proxy-signature"), sign(SignatureMethod::HmacSHA256, b"SampleSecret", &string_to_sign));
}
