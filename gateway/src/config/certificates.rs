//! The certificates of the config being served, by host (exact names, then the longest
//! wildcard suffix), loaded from the Secrets its TLS bindings name.

use std::{collections::HashMap, sync::Arc};

use apigw_core::config::GatewayConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::sign::CertifiedKey;

use super::CompileError;
use crate::secrets::Secrets;

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
