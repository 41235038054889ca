//! HTTP/1.1 and HTTP/2 to backends, and https backends verified against trusted roots.

use apigw_e2e::certificates::issue;
use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient, scratch_dir};
use apigw_e2e::manifests::{shop_api, shop_group};

fn manifests(plain: std::net::SocketAddr, tls: std::net::SocketAddr) -> String {
    let any = |name: &str| format!("{{method: ANY, path: /{name}}}");
    [
        shop_group(""),
        shop_api("http1", &any("http1"), &format!("{{type: HTTP, address: 'http://{plain}'}}")),
        shop_api("h2c", &any("h2c"), &format!("{{type: HTTP, address: 'http://{plain}', protocol: HTTP2}}")),
        shop_api("https", &any("https"), &format!("{{type: HTTP, address: 'https://localhost:{}'}}", tls.port())),
    ]
    .concat()
}

/// A gateway trusting the test CA, in front of a plain echo backend and a TLS one (for
/// `localhost`); returns it with the backends' addresses.
async fn gateway_with_backends(name: &str) -> (GatewayProcess, std::net::SocketAddr, std::net::SocketAddr) {
    let dir = scratch_dir(name);
    let (certificate, key) = issue(&dir, "backend", &["localhost"]);
    let (plain, tls) =
        (echo::start("plain").await, echo::start_tls("tls", certificate.as_bytes(), key.as_bytes()).await);
    let ca = dir.join("ca.crt");
    let gateway = GatewayProcess::start(&manifests(plain, tls), &["--backend-ca-file", ca.to_str().unwrap()]);
    (gateway, plain, tls)
}

#[tokio::test(flavor = "multi_thread")]
async fn speaks_http1_http2_and_tls_to_backends() {
    let (gateway, plain, tls) = gateway_with_backends("backend-tls").await;
    let client = TestClient::http1();
    let version = |answer: apigw_e2e::gateway::Answer| {
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()["version"].as_str().unwrap().to_owned()
    };
    assert_eq!(version(client.get(gateway.http, "shop.example.com", "/http1", &[]).await), "HTTP/1.1");
    assert_eq!(version(client.get(gateway.http, "shop.example.com", "/h2c", &[]).await), "HTTP/2.0");
    assert_eq!(version(client.get(gateway.http, "shop.example.com", "/https", &[]).await), "HTTP/2.0", "ALPN h2");
    let over_h2 = TestClient::http2().get(gateway.http, "shop.example.com", "/http1", &[]).await;
    assert_eq!(version(over_h2), "HTTP/1.1", "an HTTP/2 client, an HTTP/1.1 backend");

    let untrusting = GatewayProcess::start(&manifests(plain, tls), &[]);
    let refused = client.get(untrusting.http, "shop.example.com", "/https", &[]).await;
    assert_eq!((refused.status.as_u16(), refused.header("x-ca-error-code")), (502, "B502CF"));
    assert!(refused.header("x-ca-error-message").contains("certificate"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reuses_backend_connections() {
    let plain = echo::start("plain").await;
    let gateway = GatewayProcess::start(&manifests(plain, plain), &["--workers", "1"]);
    let client = TestClient::http1();
    let mut peers = std::collections::BTreeSet::new();
    for path in ["/http1", "/http1", "/h2c", "/http1", "/h2c"] {
        let answer = client.get(gateway.http, "shop.example.com", path, &[]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        peers.insert((path, answer.json()["peer"].as_str().unwrap().to_owned()));
    }
    assert_eq!(peers.len(), 2, "one pooled connection per protocol: {peers:?}");
}

/// Uploads from an HTTP/1.1 client reach every kind of backend whole, and the client's connection
/// carries the next request: the body is read off the client connection by whichever task
/// sends it on (the request's own for HTTP/1.1 backends, hyper's connection task for the others).
#[tokio::test(flavor = "multi_thread")]
async fn streams_uploads_to_every_kind_of_backend_on_one_client_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (gateway, ..) = gateway_with_backends("backend-uploads").await;
    let mut client = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
    for (path, framing) in [("/http1", "length"), ("/h2c", "chunked"), ("/https", "length"), ("/h2c", "length")] {
        let head = format!("POST {path} HTTP/1.1\r\nHost: shop.example.com\r\n");
        let request = match framing {
            "length" => format!("{head}Content-Length: 12\r\n\r\nhello {framing}"),
            _ => format!("{head}Transfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n7\r\nchunked\r\n0\r\n\r\n"),
        };
        client.write_all(request.as_bytes()).await.unwrap();
        let answer = read_answer(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        assert!(!answer.contains("connection: close"), "{path} kept the connection: {answer}");
        let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["body"], format!("hello {framing}"), "{path}: {answer}");
        assert_eq!(body["method"], "POST", "{path}: {answer}");
    }

    async fn read_answer(client: &mut tokio::net::TcpStream) -> String {
        let mut seen = Vec::new();
        loop {
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length: "))
                    .map(|length| length.parse::<usize>().unwrap());
                if length.is_some_and(|length| body.len() >= length) {
                    return text;
                }
            }
            let mut data = [0u8; 4096];
            let read = client.read(&mut data).await.unwrap();
            assert_ne!(read, 0, "the gateway closed the connection: {text}");
            seen.extend_from_slice(&data[..read]);
        }
    }
}
