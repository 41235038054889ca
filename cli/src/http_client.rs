//! The HTTP client of `import` (fetching a document) and `curl`: http and https (Mozilla's roots,
//! bundled; the ring provider rustls uses in this workspace), HTTP/1.1.

use std::sync::Arc;

use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{Client, connect::HttpConnector};

/// A client for `http://` and `https://` URLs.
pub fn client() -> Result<Client<HttpsConnector<HttpConnector>, Full<bytes::Bytes>>, rustls::Error> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build();
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}
