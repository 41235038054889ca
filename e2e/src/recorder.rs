//! A backend that records every request it receives whole (method, target, headers, body), so
//! that a test can tell exactly which requests a gateway forwarded. hyper's strict HTTP/1.1
//! parser reads them; a request that is not complete is not recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request as the backend received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Its method.
    pub method: String,
    /// Its request target (path and query).
    pub target: String,
    /// Its headers, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: String,
}

impl Recorded {
    /// The values of header `name`.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str()).collect()
    }
}

/// A running recording backend.
pub struct Recorder {
    /// Where it listens.
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    /// Starts a recorder on a free loopback port in the current runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let record = record.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let record = record.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await?.to_bytes();
                            let headers = parts
                                .headers
                                .iter()
                                .map(|(name, value)| {
                                    (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                                })
                                .collect();
                            record.lock().expect("the record").push(Recorded {
                                method: parts.method.to_string(),
                                target: parts.uri.to_string(),
                                headers,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            });
                            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(b"recorded"))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { address, seen }
    }

    /// The requests received since the last call.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.seen.lock().expect("the record"))
    }
}
