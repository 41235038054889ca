//! Where configs come from: custom-resource YAML files (`--manifests`), or what the operator
//! publishes for the instance in the cluster.

pub mod buckets;
pub mod cluster;
pub mod manifests;
