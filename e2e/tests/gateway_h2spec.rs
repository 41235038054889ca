//! HTTP/2 conformance: h2spec (built from its Go module by `e2e/controlplane/build-h2spec.sh`)
//! in strict mode against the gateway, over h2c (prior knowledge) and over TLS (ALPN), every
//! test case passing.

use std::process::Command;

use apigw_e2e::Cluster;
use apigw_e2e::certificates::issue;
use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, scratch_dir};

fn indent(pem: &str) -> String {
    pem.lines().map(|line| format!("    {line}\n")).collect()
}

/// A group for `localhost` (h2spec's host: its TLS client sends it as SNI) with a certificate,
/// and an Api sending every path to `backend`.
fn manifests(certificate: &(String, String), backend: std::net::SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: local-tls}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}---\napiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: local}}\nspec: {{domains: [{{host: localhost, tlsSecretRef: {{name: local-tls}}}}]}}\n---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: everything}}\nspec:\n  groupRef: local\n  auth: {{type: ANONYMOUS}}\n  request: {{method: ANY, path: /*, protocols: [HTTP, HTTPS]}}\n  backend: {{type: HTTP, address: 'http://{backend}'}}\n",
        indent(&certificate.0),
        indent(&certificate.1)
    )
}

/// Runs strict h2spec against `port` (over TLS when `tls`); returns its summary line.
fn h2spec(port: u16, tls: bool) -> String {
    let mut command = Command::new(Cluster::get().file("bin/h2spec"));
    command.args(["-h", "localhost", "-p", &port.to_string(), "-S", "-o", "5"]);
    if tls {
        command.args(["-t", "-k"]);
    }
    let output = command.output().expect("h2spec runs (built by e2e/controlplane/build-h2spec.sh)");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    let summary = report.lines().rev().find(|line| line.contains("tests,")).unwrap_or_default().trim().to_owned();
    assert!(output.status.success() && summary.contains(" 0 failed"), "h2spec (tls: {tls}) failed:\n{report}");
    summary
}

#[tokio::test(flavor = "multi_thread")]
async fn h2spec_passes_in_strict_mode_over_h2c_and_tls() {
    let backend = echo::start("backend").await;
    let dir = scratch_dir("h2spec");
    let certificate = issue(&dir, "localhost", &["localhost"]);
    let gateway = GatewayProcess::start(&manifests(&certificate, backend), &[]);
    for (port, tls) in [(gateway.http.port(), false), (gateway.https.port(), true)] {
        let summary = h2spec(port, tls);
        println!("h2spec -S ({}): {summary}", if tls { "TLS" } else { "h2c" });
        assert!(summary.starts_with("146 tests, 146 passed"), "{summary}");
    }
}
