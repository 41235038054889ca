//! Sending requests to backends: a pooled HTTP client, VpcAccess endpoints and function calls.

pub mod call;
pub mod direct;
pub mod function;
pub mod health;
pub mod health_check;
pub mod retry;
pub mod target;
pub mod upstream;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::{CertificateDer, pem::PemObject};

use crate::body::NetworkBody;
use crate::error::GatewayError;

/// A response body from a backend: through the pooled client, or the direct HTTP/1.1 way.
pub type BackendBody = Either<Incoming, direct::DirectBody>;

/// A request body on its way to a backend: the client's, streamed (with a size limit), or one
/// the gateway made.
pub type ProxyBody = Either<Limited<NetworkBody>, Full<Bytes>>;

/// The pooled clients every backend request goes through: HTTP/1.1 (HTTP/2 where an https
/// backend negotiates it by ALPN), and HTTP/2 only (prior knowledge on http).
#[derive(Clone, Debug)]
pub struct BackendClient {
    http1: Client<HttpsConnector<HttpConnector>, ProxyBody>,
    http2: Client<HttpsConnector<HttpConnector>, ProxyBody>,
}

/// The TLS settings of https backends, set once at start ([`trust_backend_roots`]).
static BACKEND_TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Trusts Mozilla's roots plus the PEM certificates in `extra` (a private CA) for https backends.
pub fn trust_backend_roots(extra: Option<&[u8]>) -> Result<(), String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = extra {
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|error| format!("backend CA: {error}"))?;
            roots.add(certificate).map_err(|error| format!("backend CA: {error}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    BACKEND_TLS.set(Arc::new(config)).map_err(|_| "backend TLS is already configured".to_owned())
}

fn tls_config() -> rustls::ClientConfig {
    match BACKEND_TLS.get() {
        Some(config) => config.as_ref().clone(),
        None => {
            let _ = trust_backend_roots(None);
            BACKEND_TLS.get().map(|config| config.as_ref().clone()).expect("configured just now")
        }
    }
}

fn http_connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.enforce_http(false);
    connector
}

impl Default for BackendClient {
    fn default() -> Self {
        let builder = |http2_only: bool| {
            let mut builder = Client::builder(TokioExecutor::new());
            builder.pool_idle_timeout(Duration::from_secs(60)).pool_max_idle_per_host(256).http2_only(http2_only);
            builder
        };
        let connector =
            HttpsConnectorBuilder::new().with_tls_config(tls_config()).https_or_http().enable_all_versions();
        let http1 = builder(false).build(connector.wrap_connector(http_connector()));
        let connector = HttpsConnectorBuilder::new().with_tls_config(tls_config()).https_or_http().enable_http2();
        let http2 = builder(true).build(connector.wrap_connector(http_connector()));
        Self { http1, http2 }
    }
}

thread_local! {
    /// One pool per worker thread, so that a backend connection is driven by the thread that uses it.
    static CLIENT: BackendClient = BackendClient::default();
}

impl BackendClient {
    /// The current worker thread's client.
    pub fn for_this_thread() -> Self {
        CLIENT.with(Clone::clone)
    }

    /// Sends `request` (over HTTP/2 only when `http2`); the backend must answer (headers) within
    /// `timeout`.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
        timeout: Duration,
        http2: bool,
    ) -> Result<Response<Incoming>, SendError> {
        let client = if http2 { &self.http2 } else { &self.http1 };
        match tokio::time::timeout(timeout, client.request(request)).await {
            Err(_) => Err(SendError { error: GatewayError::BackendTimeout, connecting: false }),
            Ok(Err(error)) => {
                Err(SendError { connecting: error.is_connect(), error: GatewayError::BackendConnect(describe(&error)) })
            }
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// Why one try of a backend request got no answer.
pub enum TryError {
    /// Nothing was sent; the body comes back when the try did not use it up.
    NotSent(GatewayError, Option<ProxyBody>),
    /// The request may have reached the backend.
    Sent(GatewayError),
}

/// A request the pooled client could not get answered.
#[derive(Debug)]
pub struct SendError {
    /// What the client is told.
    pub error: GatewayError,
    /// Whether it failed while connecting, so that nothing was sent.
    pub connecting: bool,
}

impl From<SendError> for GatewayError {
    fn from(error: SendError) -> Self {
        error.error
    }
}

/// The innermost cause of a client error, which says what actually failed.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// A response body to the client: a backend's, streamed, or one the gateway made.
pub type ClientBody = Either<BackendBody, Full<Bytes>>;
