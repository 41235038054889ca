//! TLS for the HTTPS listeners: one certificate per host, chosen by SNI from the certificates of
//! the config being served (so a renewed Secret is used without a restart). ALPN offers h2 and
//! http/1.1.

use std::{collections::HashMap, sync::Arc};

use apigw_core::config::GatewayConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::compiled::CompileError;
use crate::pipeline::Gateway;

/// Secret data by `namespace/name`, as the config source read it.
pub type Secrets = apigw_core::bundle::SecretData;

/// The certificates of a config, by host.
#[derive(Debug, Default)]
pub struct CertificateStore {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `(".example.com", key)`, longest suffix first.
    wildcard: Vec<(String, Arc<CertifiedKey>)>,
}

impl CertificateStore {
    /// Loads every TLS binding of `config` from `secrets`; a missing or unreadable certificate
    /// refuses the config.
    pub fn compile(config: &GatewayConfig, secrets: &Secrets) -> Result<Self, CompileError> {
        let mut store = Self::default();
        for binding in config.groups.iter().flat_map(|group| &group.tls) {
            let error = |message: String| CompileError::Tls { host: binding.host.clone(), message };
            let data = secrets
                .get(&binding.secret)
                .ok_or_else(|| error(format!("Secret {} is not available", binding.secret)))?;
            let key = certified_key(data.get("tls.crt"), data.get("tls.key")).map_err(error)?;
            match binding.host.strip_prefix('*') {
                Some(suffix) => store.wildcard.push((suffix.to_owned(), key)),
                None => {
                    store.exact.insert(binding.host.clone(), key);
                }
            }
        }
        store.wildcard.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        Ok(store)
    }

    /// The certificate for a server name.
    pub fn find(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = host.to_ascii_lowercase();
        self.exact.get(&host).cloned().or_else(|| {
            self.wildcard
                .iter()
                .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
                .map(|(_, key)| key.clone())
        })
    }
}

fn certified_key(certificate: Option<&Vec<u8>>, key: Option<&Vec<u8>>) -> Result<Arc<CertifiedKey>, String> {
    let (Some(certificate), Some(key)) = (certificate, key) else {
        return Err("the Secret needs tls.crt and tls.key".to_owned());
    };
    let chain = CertificateDer::pem_slice_iter(certificate)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("tls.crt: {error}"))?;
    if chain.is_empty() {
        return Err("tls.crt holds no certificate".to_owned());
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|error| format!("tls.key: {error}"))?;
    let signing_key =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|error| format!("tls.key: {error}"))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}

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
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
