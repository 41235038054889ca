//! HTTPS: one certificate per host by SNI (exact and wildcard) from `kubernetes.io/tls` Secrets,
//! HTTP/2 and HTTP/1.1 by ALPN, and a renewed certificate served without a restart.

use std::{path::Path, process::Command};

use apigw_e2e::certificates::issue;
use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, scratch_dir};

fn indent(pem: &str) -> String {
    pem.lines().map(|line| format!("    {line}\n")).collect()
}

fn manifests(backend: std::net::SocketAddr, shop: &(String, String), wildcard: &(String, String)) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: shop-tls}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: wildcard-tls}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}---\napiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: shop}}\nspec:\n  domains:\n  - {{host: shop.example.com, tlsSecretRef: {{name: shop-tls}}}}\n  - {{host: '*.api.example.com', tlsSecretRef: {{name: wildcard-tls}}}}\n---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: hello}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n  request: {{method: GET, path: /hello, protocols: [HTTPS]}}\n  backend: {{type: HTTP, address: 'http://{backend}'}}\n",
        indent(&shop.0),
        indent(&shop.1),
        indent(&wildcard.0),
        indent(&wildcard.1)
    )
}

/// curl over TLS to `host` at the gateway's HTTPS port; returns (HTTP version, status, body).
fn curl(ca: &Path, gateway: &GatewayProcess, host: &str, extra: &[&str]) -> Result<(String, String), String> {
    let port = gateway.https.port();
    let output = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &format!("{host}:{port}:127.0.0.1"),
        ])
        .args(["-w", "\n%{http_version} %{http_code}"])
        .args(extra)
        .arg(format!("https://{host}:{port}/hello"))
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let (body, status) = stdout.rsplit_once('\n').unwrap_or_default();
    Ok((status.to_owned(), body.to_owned()))
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_each_host_its_certificate_over_h2_and_http1() {
    let backend = echo::start("backend").await;
    let dir = scratch_dir("tls");
    let shop = issue(&dir, "shop", &["shop.example.com"]);
    let wildcard = issue(&dir, "wildcard", &["*.api.example.com"]);
    let gateway = GatewayProcess::start(&manifests(backend, &shop, &wildcard), &[]);
    let ca = dir.join("ca.crt");

    let (status, body) = curl(&ca, &gateway, "shop.example.com", &[]).expect("TLS to shop.example.com");
    assert_eq!(status, "2 200", "HTTP/2 by ALPN");
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    assert_eq!(curl(&ca, &gateway, "shop.example.com", &["--http1.1"]).expect("HTTP/1.1 over TLS").0, "1.1 200");
    assert_eq!(curl(&ca, &gateway, "v2.api.example.com", &[]).expect("the wildcard certificate").0, "2 200");
    let unknown = curl(&ca, &gateway, "other.example.com", &[]);
    assert!(unknown.is_err(), "a host without a certificate got one: {unknown:?}");

    let plain = apigw_e2e::gateway::TestClient::http1().get(gateway.http, "shop.example.com", "/hello", &[]).await;
    assert_eq!((plain.status.as_u16(), plain.header("x-ca-error-code")), (403, "I403PT"), "the API is HTTPS only");

    // A renewed certificate is served by the next handshake, without a restart.
    let renewed = issue(&dir, "renewed", &["shop.example.com"]);
    std::fs::write(gateway.manifests().join("apis.yaml"), manifests(backend, &renewed, &wildcard)).unwrap();
    let renewed_serial = String::from_utf8(
        Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(dir.join("renewed.crt"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    gateway.wait_until(|| {
        let served = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -connect 127.0.0.1:{} -servername shop.example.com </dev/null 2>/dev/null | openssl x509 -noout -serial",
                gateway.https.port()
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&served.stdout) == renewed_serial
    });
}

/// Sends one HTTP/1.1 request over a new TLS connection of `client` and reads the answer (TLS 1.3
/// tickets arrive after the handshake); how the handshake went.
async fn handshake(client: &tokio_rustls::TlsConnector, gateway: &GatewayProcess) -> rustls::HandshakeKind {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(gateway.https).await.expect("connecting");
    let name = rustls::pki_types::ServerName::try_from("shop.example.com").expect("a name");
    let mut tls = client.connect(name, tcp).await.expect("a TLS handshake");
    tls.write_all(b"GET /hello HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.expect("the answer");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    tls.get_ref().1.handshake_kind().expect("a finished handshake")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_returning_client_resumes_its_session_with_a_ticket() {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let backend = echo::start("backend").await;
    let dir = scratch_dir("tls-resume");
    let shop = issue(&dir, "shop", &["shop.example.com"]);
    let wildcard = issue(&dir, "wildcard", &["*.api.example.com"]);
    let gateway = GatewayProcess::start(&manifests(backend, &shop, &wildcard), &[]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(dir.join("ca.crt")).expect("the CA")).expect("a root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    for versions in [&[&rustls::version::TLS13], &[&rustls::version::TLS12]] {
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .expect("TLS versions")
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        let client = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        assert_eq!(handshake(&client, &gateway).await, rustls::HandshakeKind::Full, "{versions:?}: the first");
        for _ in 0..3 {
            assert_eq!(handshake(&client, &gateway).await, rustls::HandshakeKind::Resumed, "{versions:?}: the next");
        }
    }
}
