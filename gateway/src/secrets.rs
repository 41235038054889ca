//! The Secret data a config refers to (App credentials, certificates, JWT keys, backend
//! signature keys), as the config source read it.

/// Secret data by `namespace/name`.
pub type Secrets = apigw_core::bundle::SecretData;
