//! The apigw operator: reconciles apigw custom resources into gateway configuration.
//!
//! - [`cache`]: reflectors of every watched kind;
//! - [`reconcile`]: the debounced loop that translates, publishes and reports;
//! - [`publish`]: the ConfigMaps and Secret of each instance;
//! - [`facts`]: what each object's status is computed from; [`status`]: its conditions, written;
//! - [`gateways`]: what gateways report about the versions they serve;
//! - [`leader`]: leader election with a Lease;
//! - [`alarms`]: the PrometheusRules of alarms on ApiGroups and Apis;
//! - [`admin`], [`metrics`]: `/metrics`, `/healthz`, `/readyz`;
//! - [`crdgen`]: the CRD YAML of every kind; [`reference`]: the CRD reference document.

pub mod admin;
pub mod alarms;
pub mod cache;
pub mod crdgen;
pub mod facts;
pub mod gateways;
pub mod leader;
pub mod metrics;
pub mod publish;
pub mod reconcile;
pub mod reference;
pub mod status;
