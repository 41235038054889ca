//! The apigw operator: reconciles apigw custom resources into gateway configuration.

pub mod crdgen;
