//! `LISTEN=ADDR BACKEND=ADDR apigw-bench-pingora -c CONF`: a Pingora reverse proxy of one backend, in the shape of
//! Pingora's load-balancer example, with the headers make bench's nginx sets (X-Forwarded-For,
//! -Proto, -Host, X-Ca-Request-Id) and keep-alive to the backend. Threads and the backend pool
//! size come from the Pingora configuration file given with `-c`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::lb::LoadBalancer;
use pingora::lb::selection::RoundRobin;
use pingora::prelude::{HttpPeer, Opt, ProxyHttp, Result, Server, Session, http_proxy_service};

/// The proxy: its backends and a request counter for request ids.
struct Proxy {
    backends: Arc<LoadBalancer<RoundRobin>>,
    requests: AtomicU64,
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let backend = self.backends.select(b"", 256).expect("one backend");
        Ok(Box::new(HttpPeer::new(backend, false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        let client = session.client_addr().and_then(|address| address.as_inet()).map(|inet| inet.ip().to_string());
        let host = session.req_header().headers.get("host").cloned();
        upstream.insert_header("X-Forwarded-For", client.unwrap_or_default())?;
        upstream.insert_header("X-Forwarded-Proto", "http")?;
        if let Some(host) = host {
            upstream.insert_header("X-Forwarded-Host", host)?;
        }
        let id = self.requests.fetch_add(1, Ordering::Relaxed);
        upstream.insert_header("X-Ca-Request-Id", format!("{id:032x}"))?;
        Ok(())
    }
}

fn main() {
    let listen = std::env::var("LISTEN").expect("LISTEN: the address to listen on");
    let backend = std::env::var("BACKEND").expect("BACKEND: the backend's address");
    let mut server = Server::new(Some(Opt::parse_args())).expect("the server");
    server.bootstrap();
    let backends = Arc::new(LoadBalancer::try_from_iter([backend.as_str()]).expect("the backend address"));
    let mut service = http_proxy_service(&server.configuration, Proxy { backends, requests: AtomicU64::new(0) });
    service.add_tcp(&listen);
    server.add_service(service);
    server.run_forever();
}
