//! The custom resources of `apigw.io/v1alpha1`, as Rust types from which the CRDs are generated.
//!
//! The field names and meanings are the contract of `docs/api.md`; every kind reports
//! `status.observedGeneration` and standard conditions.

// kube-derive's repeated `printcolumn(...)` arguments trip this lint; they are not duplicates.
#![allow(clippy::duplicated_attributes)]

mod alarm;
mod api;
mod api_group;
mod app;
mod backend;
mod common;
mod plugin;
mod remote_auth;
mod routing_plugin;
mod vpc_access;

pub use alarm::*;
pub use api::*;
pub use api_group::*;
pub use app::*;
pub use backend::*;
pub use common::*;
pub use plugin::*;
pub use remote_auth::*;
pub use routing_plugin::{Route, RouteConstantParameter, RouteParameterLocation, RoutingPlugin, RoutingPluginSpec};
pub use vpc_access::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The CRDs of every kind, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![ApiGroup::crd(), Api::crd(), RoutingPlugin::crd(), VpcAccess::crd(), App::crd(), Plugin::crd()]
}
