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
fn a_document_without_a_backend_is_refused_with_the_operation() {
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-apigw"))
        .args(["import", "--group", "g", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"swagger: '2.0'\npaths: {/a: {get: {}}}\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("GET /a: no backend"), "{error}");
}
