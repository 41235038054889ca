//! apigw-core: what the operator and the gateway share.
//!
//! - [`resources`]: the custom resources of `apigw.io/v1alpha1` (the user-facing contract).

pub mod resources;
