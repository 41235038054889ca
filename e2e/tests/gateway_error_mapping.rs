//! The error-mapping plugin, with the reference's example: a backend's "200 with an error code
//! in the body" becomes the mapped status and `X-Ca-Error-Message`.

use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};

fn mock_api(name: &str, result_code: &str) -> String {
    let backend = format!(
        "{{type: MOCK, statusCode: 200, headers: {{Content-Type: application/json}}, body: '{{\"resultCode\": \"{result_code}\", \"resultId\": \"r-{name}\"}}'}}"
    );
    shop_api(name, &format!("{{method: GET, path: /{name}}}"), &backend) + "  plugins: [{kind: Plugin, name: errors}]\n"
}

const PLUGIN: &str = r#"---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {name: errors}
spec:
  errorMapping:
    parameters:
      statusCode: "StatusCode"
      resultCode: "BodyJsonField:$.resultCode"
      resultId: "BodyJsonField:$.resultId"
    errorCondition: "$statusCode = 200 and $resultCode <> 'OK'"
    errorCode: resultCode
    mappings:
    - {code: ROLE_NOT_EXISTS, statusCode: 404, errorMessage: "Role Not Exists, ResultId=${resultId}"}
    - {code: INVALID_PARAMETER, statusCode: 400, errorMessage: "Invalid Parameter, ResultId=${resultId}"}
    defaultMapping: {statusCode: 500, errorMessage: "Unknown Error, ResultId=${resultId}"}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn maps_backend_error_results_to_statuses_and_messages() {
    let manifests = [
        shop_group(""),
        PLUGIN.to_owned(),
        mock_api("missing", "ROLE_NOT_EXISTS"),
        mock_api("fine", "OK"),
        mock_api("odd", "WHAT"),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    let missing = client.get(gateway.http, "shop.example.com", "/missing", &[]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-ca-error-message"), "Role Not Exists, ResultId=r-missing");
    assert_eq!(missing.json()["resultCode"], "ROLE_NOT_EXISTS", "the body is kept");
    let fine = client.get(gateway.http, "shop.example.com", "/fine", &[]).await;
    assert_eq!((fine.status.as_u16(), fine.header("x-ca-error-message")), (200, ""));
    let odd = client.get(gateway.http, "shop.example.com", "/odd", &[]).await;
    assert_eq!((odd.status.as_u16(), odd.header("x-ca-error-message")), (500, "Unknown Error, ResultId=r-odd"));
}

const BACKEND_DOWN: &str = r#"---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {name: backend-down}
spec:
  errorMapping:
    parameters: {code: "ErrorCode", status: "StatusCode"}
    errorCondition: "$code = 'B502CF'"
    errorCode: code
    mappings:
    - {code: B502CF, statusCode: 503, errorMessage: "Backend down (${code} after ${status}), try later"}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn maps_failed_backend_calls_by_their_gateway_error_code() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let bound = "  plugins: [{kind: Plugin, name: backend-down}]\n";
    let manifests = [
        shop_group(""),
        BACKEND_DOWN.to_owned(),
        shop_api("down", "{method: GET, path: /down}", &format!("{{type: HTTP, address: 'http://{closed}'}}")) + bound,
        shop_api("up", "{method: GET, path: /up}", "{type: MOCK, statusCode: 200, body: ok}") + bound,
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    let down = client.get(gateway.http, "shop.example.com", "/down", &[]).await;
    assert_eq!(down.status, 503, "{down:?}");
    assert_eq!(down.header("x-ca-error-code"), "B502CF", "the gateway's code stays");
    assert_eq!(down.header("x-ca-error-message"), "Backend down (B502CF after 502), try later");
    let up = client.get(gateway.http, "shop.example.com", "/up", &[]).await;
    assert_eq!(
        (up.status.as_u16(), up.header("x-ca-error-message")),
        (200, ""),
        "no ErrorCode when the backend answers"
    );
}
