//! An authentication service for the remoteAuth tests, on a loopback port: it decides by the
//! token it is sent (header `x-token`, or query parameter `token`) and keeps every request it
//! receives, so that tests can check what the gateway asked.
//!
//! - `good-<user>`: `200`, `X-User-Id: <user>`, body `{"ok": "yes"}`;
//! - `wrong`: `200` with body `{"ok": "no"}` (a success condition over the body refuses it);
//! - `slow`: no answer at all;
//! - anything else, or no token: `403`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A request the service received.
#[derive(Clone, Debug)]
pub struct Asked {
    /// Its method.
    pub method: http::Method,
    /// Its path and query.
    pub target: String,
    /// Its headers.
    pub headers: http::HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// A running authentication service.
pub struct AuthService {
    /// Where it listens.
    pub address: SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
    server: JoinHandle<()>,
}

impl AuthService {
    /// Starts one on a loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let asked: Arc<Mutex<Vec<Asked>>> = Arc::default();
        let kept = asked.clone();
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let kept = kept.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let kept = kept.clone();
                        async move { Ok::<_, Infallible>(decide(request, &kept).await) }
                    });
                    let _ =
                        auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self { address, asked, server }
    }

    /// The requests received so far.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().expect("the requests").clone()
    }

    /// Closes its port and drops its open connections, as when it is down.
    pub fn kill(&self) {
        self.server.abort();
    }
}

impl Drop for AuthService {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn decide(request: Request<Incoming>, kept: &Mutex<Vec<Asked>>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|body| body.to_bytes()).unwrap_or_default();
    let from_query = parts.uri.query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "token").map(|(_, value)| value.into_owned())
    });
    let token = parts.headers.get("x-token").and_then(|value| value.to_str().ok()).map(str::to_owned).or(from_query);
    kept.lock().expect("the requests").push(Asked {
        method: parts.method.clone(),
        target: parts.uri.path_and_query().map(|target| target.as_str().to_owned()).unwrap_or_default(),
        headers: parts.headers.clone(),
        body,
    });
    let token = token.unwrap_or_default();
    if token == "slow" {
        std::future::pending::<()>().await;
    }
    let mut response = Response::new(Full::new(Bytes::from_static(br#"{"ok": "no"}"#)));
    match token.strip_prefix("good-") {
        Some(user) => {
            *response.body_mut() = Full::new(Bytes::from_static(br#"{"ok": "yes"}"#));
            response.headers_mut().insert("x-user-id", http::HeaderValue::try_from(user).expect("a user name"));
        }
        None if token == "wrong" => {}
        None => *response.status_mut() = StatusCode::FORBIDDEN,
    }
    response
}
