//! A backend that fails on command, for the resilience tests: it answers (200, with its name),
//! answers a status, hangs without answering, or is killed (its port closed and its open
//! connections dropped, as when its pod dies), and counts the requests it received. Its
//! answers carry the headers set with [`Faulty::answer_header`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// What the backend does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `200` with its name as the body.
    Answer,
    /// This status, with its name as the body.
    Status(u16),
    /// Never answers (the connection stays open).
    Hang,
}

/// A running backend on a loopback port.
pub struct Faulty {
    /// Where it listens.
    pub address: SocketAddr,
    /// 0: answer, 1: hang, else the status answered.
    mode: Arc<AtomicU16>,
    requests: Arc<AtomicUsize>,
    headers: Arc<Mutex<Vec<(String, String)>>>,
    server: JoinHandle<()>,
}

impl Faulty {
    /// Starts one named `name`, answering.
    pub async fn start(name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let (mode, requests) = (Arc::new(AtomicU16::new(0)), Arc::new(AtomicUsize::new(0)));
        let headers: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (name, serving_mode, counted) = (Bytes::from(name.to_owned()), mode.clone(), requests.clone());
        let answer_headers = headers.clone();
        let server = tokio::spawn(async move {
            // Dropped with the task when killed: every connection goes with it.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (name, mode, counted) = (name.clone(), serving_mode.clone(), counted.clone());
                let answer_headers = answer_headers.clone();
                connections.spawn(async move {
                    let service = service_fn(move |_request| {
                        let (name, mode) = (name.clone(), mode.load(Ordering::Relaxed));
                        let headers = answer_headers.lock().expect("the headers").clone();
                        counted.fetch_add(1, Ordering::Relaxed);
                        async move {
                            if mode == 1 {
                                std::future::pending::<()>().await;
                            }
                            let status =
                                if mode == 0 { StatusCode::OK } else { StatusCode::from_u16(mode).expect("a status") };
                            let mut response = Response::new(Full::new(name));
                            *response.status_mut() = status;
                            for (header, value) in headers {
                                response.headers_mut().append(
                                    http::HeaderName::try_from(header).expect("a header name"),
                                    http::HeaderValue::try_from(value).expect("a header value"),
                                );
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ =
                        auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self { address, mode, requests, headers, server }
    }

    /// From now on, answers carry `name: value` too.
    pub fn answer_header(&self, name: &str, value: &str) {
        self.headers.lock().expect("the headers").push((name.to_owned(), value.to_owned()));
    }

    /// From now on, does as `mode` says.
    pub fn set(&self, mode: Mode) {
        let code = match mode {
            Mode::Answer => 0,
            Mode::Hang => 1,
            Mode::Status(status) => status,
        };
        self.mode.store(code, Ordering::Relaxed);
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Closes its port and drops its open connections.
    pub fn kill(&self) {
        self.server.abort();
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.server.abort();
    }
}
