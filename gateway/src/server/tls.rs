//! TLS for the HTTPS listeners: one certificate per host, chosen by SNI from the certificates of
//! the config being served (so a renewed Secret is used without a restart). ALPN offers h2 and
//! http/1.1.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::pipeline::Gateway;

/// Picks the certificate for a TLS handshake from the config being served.
struct SniResolver {
    gateway: Arc<Gateway>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SniResolver")
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?;
        self.gateway.live.current()?.certificates.find(name)
    }
}

/// The TLS acceptor of the HTTPS listeners.
pub fn acceptor(gateway: Arc<Gateway>) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { gateway }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Session resumption by stateless tickets (keys made per process, rotated by rustls): a
    // returning client skips the certificate's signature and the key exchange's verification,
    // without the 256-session cache that many clients would wear out.
    config.ticketer = rustls::crypto::ring::Ticketer::new().expect("the system's random numbers");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
