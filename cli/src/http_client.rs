//! The HTTP client of `import` (fetching a document) and `curl`: http and https (Mozilla's roots,
//! bundled, plus the PEM CA certificates of `--cacert`; the ring provider rustls uses in this
//! workspace), HTTP/1.1.

use std::path::Path;
use std::sync::Arc;

use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use rustls::pki_types::{CertificateDer, pem::PemObject};

/// A client for `http://` and `https://` URLs, trusting also the CA certificates of the PEM file
/// `ca_file`.
pub fn client(
    ca_file: Option<&Path>,
) -> Result<Client<HttpsConnector<HttpConnector>, Full<bytes::Bytes>>, Box<dyn std::error::Error>> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(file) = ca_file {
        let pem = std::fs::read(file).map_err(|error| format!("{}: {error}", file.display()))?;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            roots.add(certificate.map_err(|error| format!("{}: {error}", file.display()))?)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build();
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}
