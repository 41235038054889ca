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
