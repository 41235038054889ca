//! A small HTTP backend for tests, the demo and benchmarks. It answers every request with a JSON
//! description of what it received (method, path, query, headers, body), with `X-Echo-Name` set
//! to its name; `GET /__status/NNN` answers status NNN and `GET /__sleep/MS` waits first.
//! Named `fixed`, it answers a fixed 13-byte body instead (the benchmarks' trivial backend).

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Serves on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, name: String) {
    let name = Arc::new(name);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let name = name.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let name = name.clone();
                async move { Ok::<_, Infallible>(answer(&name, peer, request).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Starts an echo backend serving TLS (HTTP/1.1 and HTTP/2 by ALPN) with the PEM certificate
/// chain and key given; returns its address.
pub async fn start_tls(name: &str, certificate: &[u8], key: &[u8]) -> SocketAddr {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let chain = CertificateDer::pem_slice_iter(certificate).collect::<Result<Vec<_>, _>>().expect("a PEM certificate");
    let key = PrivateKeyDer::from_pem_slice(key).expect("a PEM key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a valid certificate and key");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding a loopback port");
    let address = listener.local_addr().expect("a bound address");
    let name = Arc::new(name.to_owned());
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let (acceptor, name) = (acceptor.clone(), name.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else { return };
                let service = service_fn(move |request| {
                    let name = name.clone();
                    async move { Ok::<_, Infallible>(answer(&name, peer, request).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    address
}

/// Starts an echo backend on a free loopback port in the current runtime; returns its address.
pub async fn start(name: &str) -> SocketAddr {
    start_on(std::net::Ipv4Addr::LOCALHOST.into(), name).await
}

/// Starts an echo backend on a free port of `ip` in the current runtime; returns its address.
pub async fn start_on(ip: std::net::IpAddr, name: &str) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).await.expect("binding a port");
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(serve(listener, name.to_owned()));
    address
}

/// This machine's first non-loopback IPv4 address: EndpointSlices may not point at loopback
/// addresses, so backends behind Services listen there.
pub fn host_ip() -> std::net::IpAddr {
    let output = std::process::Command::new("hostname").arg("-I").output().expect("`hostname -I` runs");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|address| address.parse::<std::net::IpAddr>().ok())
        .find(|address| address.is_ipv4() && !address.is_loopback())
        .expect("this machine has a non-loopback IPv4 address (see `hostname -I`)")
}

/// The name that makes the backend answer a fixed body.
pub const FIXED: &str = "fixed";

async fn answer(name: &str, peer: SocketAddr, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if name == FIXED {
        return Response::new(Full::new(Bytes::from_static(b"hello, apigw\n")));
    }
    let path = request.uri().path().to_owned();
    if let Some(ms) = path.strip_prefix("/__sleep/").and_then(|ms| ms.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = path
        .strip_prefix("/__status/")
        .and_then(|code| code.parse().ok())
        .and_then(|code| StatusCode::from_u16(code).ok());
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    let mut headers = serde_json::Map::new();
    for (header, value) in &parts.headers {
        let value = serde_json::Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers.get_mut(header.as_str()) {
            Some(serde_json::Value::Array(values)) => values.push(value),
            Some(first) => *first = serde_json::Value::Array(vec![first.clone(), value]),
            None => {
                headers.insert(header.as_str().to_owned(), value);
            }
        }
    }
    let description = serde_json::json!({
        "backend": name,
        "peer": peer.to_string(),
        "method": parts.method.as_str(),
        "path": path,
        "query": parts.uri.query().unwrap_or_default(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut response = Response::new(Full::new(Bytes::from(description.to_string())));
    *response.status_mut() = status.unwrap_or(StatusCode::OK);
    response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
    if let Ok(value) = http::HeaderValue::try_from(name) {
        response.headers_mut().insert("x-echo-name", value);
    }
    response
}
