//! Sending requests to backends: a pooled HTTP client, VpcAccess endpoints and function calls.

pub mod function;
pub mod upstream;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use crate::error::GatewayError;

/// A request body on its way to a backend: the client's, streamed (with a size limit), or one
/// the gateway made.
pub type ProxyBody = Either<Limited<Incoming>, Full<Bytes>>;

/// The pooled HTTP/1.1 client every backend request goes through.
#[derive(Clone, Debug)]
pub struct BackendClient {
    client: Client<HttpConnector, ProxyBody>,
}

impl Default for BackendClient {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Self { client }
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

    /// Sends `request`; the backend must answer (headers) within `timeout`.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, GatewayError> {
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err(GatewayError::BackendTimeout),
            Ok(Err(error)) => Err(GatewayError::BackendConnect(describe(&error))),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// The innermost cause of a client error, which says what actually failed.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
