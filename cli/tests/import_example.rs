//! `kubectl apigw import` of examples/swagger-import/api-docs.json writes exactly the resources
//! committed beside it (examples/swagger-import/swagger-demo.yaml).

use std::process::Command;

use serde::Deserialize;

fn documents(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| serde_yaml::Value::deserialize(document).expect("YAML"))
        .filter(|value| !value.is_null())
        .collect()
}

#[test]
fn importing_the_example_gives_the_committed_resources() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/swagger-import");
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-apigw"))
        .args(["import", "--group", "swagger-demo", "--domain", "swagger-demo.example.com"])
        .arg(format!("{example}/api-docs.json"))
        .output()
        .expect("kubectl-apigw runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let committed = std::fs::read_to_string(format!("{example}/swagger-demo.yaml")).unwrap();
    assert_eq!(documents(&String::from_utf8(output.stdout).unwrap()), documents(&committed));
}

#[test]
fn a_document_without_a_backend_gets_a_mock_on_the_stage_asked_with_warnings() {
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-apigw"))
        .args(["import", "--group", "g", "--stage", "TEST", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let document = b"swagger: '2.0'\nx-aliyun-apigateway-custom: 1\npaths: {/a: {get: {}}}\n";
            child.stdin.take().unwrap().write_all(document)?;
            child.wait_with_output()
        })
        .unwrap();
    let warnings = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{warnings}");
    assert!(warnings.contains("warning: GET /a: no x-aliyun-apigateway-backend; a MOCK"), "{warnings}");
    assert!(warnings.contains("warning: /x-aliyun-apigateway-custom: not imported"), "{warnings}");
    let api: serde_yaml::Value = serde_yaml::from_slice(&output.stdout).unwrap();
    assert_eq!(api["spec"]["backend"]["type"], "MOCK");
    assert_eq!(api["spec"]["stages"][0], "TEST");
}
