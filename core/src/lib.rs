//! apigw-core: what the operator and the gateway share.
//!
//! - [`resources`]: the custom resources of `apigw.io/v1alpha1` (the user-facing contract).

pub mod bundle;
pub mod condition;
pub mod config;
pub mod htpasswd;
pub mod manifests;
pub mod otlp;
pub mod parameter;
pub mod path_template;
pub mod resources;
pub mod signature;
pub mod translate;
