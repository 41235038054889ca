//! Alibaba Cloud API Gateway's official Node.js SDK (npm `aliyun-api-gateway`, pinned in
//! `e2e/clients/node`, installed by `e2e/clients/node/install.sh`) calls an APP-authenticated Api
//! unchanged: GET with a query, POST form, POST JSON with Content-MD5, an extra signed header and
//! an AppCode pass; requests changed after signing and a wrong secret get Alibaba's error codes.

use std::collections::BTreeMap;
use std::process::Command;

use apigw_e2e::Cluster;
use apigw_e2e::echo;
use apigw_e2e::gateway::GatewayProcess;
use apigw_e2e::manifests::{shop_api, shop_group};
use serde_json::Value;

const APP: &str = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: node-app}\nstringData: {appKey: '203753385', appSecret: node-secret, appCode: node-code}\n---\napiVersion: apigw.io/v1alpha1\nkind: App\nmetadata: {name: node}\nspec: {appId: 1001, credentialsSecretRef: {name: node-app}, authorizations: [{groupRef: shop}]}\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_official_node_sdk_signs_requests_the_gateway_accepts() {
    let backend = echo::start("profile").await;
    let api =
        shop_api("profile", "{method: ANY, path: /profile}", &format!("{{type: HTTP, address: 'http://{backend}'}}"))
            .replace("auth: {type: ANONYMOUS}", "auth: {type: APP, appCode: HEADER_QUERY}")
            + "  systemParameters: [{name: CaAppId, backend: {name: X-App-Id, in: HEADER}}]\n";
    let gateway = GatewayProcess::start(&[shop_group(""), api, APP.to_owned()].concat(), &[]);

    let script = apigw_e2e::repo_root().join("e2e/clients/node/official-sdk.js");
    let output = Command::new("node")
        .arg(script)
        .args([
            &format!("http://shop.example.com:{}", gateway.http.port()),
            &gateway.http.ip().to_string(),
            "203753385",
            "node-secret",
            "node-code",
        ])
        .env("NODE_PATH", Cluster::get().file("node_modules"))
        .output()
        .expect("node runs (Node.js is on the test machine)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the SDK script failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let answers: BTreeMap<String, Value> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .map(|answer| (answer["name"].as_str().unwrap().to_owned(), answer))
        .collect();
    println!("{stdout}");
    let passed = |name: &str| {
        let answer = &answers[name];
        assert_eq!(answer["status"], 200, "{name}: {answer}");
        answer["echo"].clone()
    };
    let refused = |name: &str| {
        let answer = &answers[name];
        (answer["status"].as_u64().unwrap(), answer["errorCode"].as_str().unwrap().to_owned())
    };

    let query = passed("get-with-query");
    assert_eq!(query["headers"]["x-app-id"], "1001", "{query}");
    assert_eq!(query["query"], "name=a%20b&city=Z%C3%BCrich&page=2", "sent as the SDK encodes it");
    let form = passed("post-form");
    assert_eq!(
        (form["query"].as_str(), form["body"].as_str()),
        (Some("from=sdk"), Some("item=tea%20%26%20cake&count=3"))
    );
    let json = passed("post-json");
    assert_eq!(json["body"], r#"{"order":42,"note":"signed with Content-MD5"}"#);
    assert!(json["headers"]["content-md5"].is_string(), "the SDK sent Content-MD5: {json}");
    assert_eq!(passed("signed-header")["headers"]["x-tenant"], "blue");
    assert_eq!(passed("app-code")["headers"]["x-app-id"], "1001");

    assert_eq!(refused("tampered-query"), (403, "A403IS".to_owned()), "a query changed after signing");
    assert_eq!(refused("tampered-json"), (400, "A400CM".to_owned()), "a body changed after signing");
    assert_eq!(refused("wrong-secret"), (403, "A403IS".to_owned()));
    assert!(
        answers["wrong-secret"]["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Signature, Server StringToSign:"),
        "the SDK's debug output compares this with its own: {}",
        answers["wrong-secret"]
    );
}
