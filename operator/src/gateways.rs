//! What gateways report (see [`apigw_core::bundle`]): each replica's Lease carries the config
//! version it loaded; a gateway is ready while its Lease is not expired.

use std::collections::HashMap;
use std::sync::Arc;

use apigw_core::bundle::{INSTANCE_LABEL, LOADED_VERSION_ANNOTATION};
use k8s_openapi::api::coordination::v1::Lease;

/// The config versions the ready gateways of each instance have loaded, one per gateway.
pub fn loaded_versions(leases: &[Arc<Lease>], now: jiff::Timestamp) -> HashMap<String, Vec<u64>> {
    let mut loaded: HashMap<String, Vec<u64>> = HashMap::new();
    for lease in leases {
        let metadata = &lease.metadata;
        let Some(instance) = metadata.labels.as_ref().and_then(|labels| labels.get(INSTANCE_LABEL)) else { continue };
        let Some(version) = metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(LOADED_VERSION_ANNOTATION)?.parse::<u64>().ok())
        else {
            continue;
        };
        let Some(spec) = &lease.spec else { continue };
        let ready = match (&spec.renew_time, spec.lease_duration_seconds) {
            (Some(renewed), Some(duration)) => renewed.0.as_second() + i64::from(duration) >= now.as_second(),
            _ => false,
        };
        if ready {
            loaded.entry(instance.clone()).or_default().push(version);
        }
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

    fn lease(instance: &str, version: &str, renewed: i64) -> Arc<Lease> {
        Arc::new(Lease {
            metadata: ObjectMeta {
                labels: Some([(INSTANCE_LABEL.to_owned(), instance.to_owned())].into()),
                annotations: Some([(LOADED_VERSION_ANNOTATION.to_owned(), version.to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(jiff::Timestamp::from_second(renewed).unwrap())),
                lease_duration_seconds: Some(15),
                ..LeaseSpec::default()
            }),
        })
    }

    #[test]
    fn every_ready_gateway_counts_per_instance() {
        let leases = [lease("default", "4", 100), lease("default", "6", 100), lease("internal", "2", 100)];
        let loaded = loaded_versions(&leases, jiff::Timestamp::from_second(110).unwrap());
        assert_eq!(loaded, HashMap::from([("default".to_owned(), vec![4, 6]), ("internal".to_owned(), vec![2])]));
    }

    #[test]
    fn expired_leases_and_bad_versions_do_not_count() {
        let leases = [lease("default", "9", 100), lease("default", "x", 200), lease("default", "3", 200)];
        let loaded = loaded_versions(&leases, jiff::Timestamp::from_second(116).unwrap());
        assert_eq!(loaded.get("default"), Some(&vec![3]));
    }
}
