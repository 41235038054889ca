//! VpcAccess -> the endpoints HTTP-VPC backends may reach.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::problem::ConditionType::ResolvedRefs;
use super::{Problem, Snapshot, object_ref};
use crate::config::UpstreamConfig;
use crate::resources::VpcAccess;

/// The annotation by which a Service lets VpcAccesses of other namespaces reach it.
pub const ALLOW_VPC_ACCESS_FROM: &str = "apigw.io/allow-vpc-access-from";

/// The endpoints a VpcAccess authorizes, or the problem that prevents it.
pub fn resolve(access: &VpcAccess, snapshot: &Snapshot) -> Result<UpstreamConfig, Problem> {
    let spec = &access.spec;
    let namespace = access.metadata.namespace.clone().unwrap_or_default();
    if let (Some(address), Some(port)) = (&spec.address, spec.port) {
        return Ok(UpstreamConfig { endpoints: vec![host_port(address, port)], ..health(access) });
    }
    let problem =
        |reason, message: String| Problem { object: object_ref(access), condition: ResolvedRefs, reason, message };
    let Some(target) = &spec.service else {
        return Err(problem("InvalidTarget", "set service, or address and port".to_owned()));
    };
    let service_namespace = target.namespace.clone().unwrap_or_else(|| namespace.clone());
    let service = snapshot
        .services
        .iter()
        .find(|service| {
            service.metadata.name.as_deref() == Some(&target.name)
                && service.metadata.namespace.as_deref() == Some(&service_namespace)
        })
        .ok_or_else(|| {
            problem("ServiceNotFound", format!("Service {service_namespace}/{} does not exist", target.name))
        })?;
    if service_namespace != namespace && !consents(service, &namespace) {
        return Err(problem(
            "RefNotPermitted",
            format!(
                "Service {service_namespace}/{} does not allow namespace {namespace}: annotate it with {ALLOW_VPC_ACCESS_FROM}: \"{namespace}\"",
                target.name
            ),
        ));
    }
    let port_name = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_ref())
        .and_then(|ports| ports.iter().find(|port| port.port == i32::from(target.port)))
        .map(|port| port.name.clone())
        .ok_or_else(|| {
            problem(
                "ServicePortNotFound",
                format!("Service {service_namespace}/{} has no port {}", target.name, target.port),
            )
        })?;
    let slices = snapshot.endpoint_slices.iter().filter(|slice| {
        slice.metadata.namespace.as_deref() == Some(&service_namespace)
            && slice.metadata.labels.as_ref().and_then(|labels| labels.get("kubernetes.io/service-name"))
                == Some(&target.name)
    });
    let mut endpoints: Vec<String> = slices.flat_map(|slice| ready_endpoints(slice, port_name.as_deref())).collect();
    endpoints.sort();
    endpoints.dedup();
    Ok(UpstreamConfig { endpoints, ..health(access) })
}

/// A VpcAccess's passive and active health settings, without endpoints.
fn health(access: &VpcAccess) -> UpstreamConfig {
    UpstreamConfig {
        endpoints: Vec::new(),
        outlier: access.spec.outlier_detection.as_ref().into(),
        health_check: access.spec.health_check.as_ref().map(Into::into),
    }
}

fn consents(service: &Service, namespace: &str) -> bool {
    service
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(ALLOW_VPC_ACCESS_FROM))
        .is_some_and(|allowed| allowed.split(',').map(str::trim).any(|allowed| allowed == "*" || allowed == namespace))
}

/// `host:port` of every ready endpoint of `slice` on the port named `port_name`.
fn ready_endpoints(slice: &EndpointSlice, port_name: Option<&str>) -> Vec<String> {
    let Some(port) = slice
        .ports
        .iter()
        .flatten()
        .find(|port| port.name.as_deref().unwrap_or_default() == port_name.unwrap_or_default())
        .and_then(|port| port.port)
        .and_then(|port| u16::try_from(port).ok())
    else {
        return Vec::new();
    };
    slice
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.conditions.as_ref().and_then(|conditions| conditions.ready).unwrap_or(true))
        .flat_map(|endpoint| endpoint.addresses.iter().map(move |address| host_port(address, port)))
        .collect()
}

/// `host:port`, bracketing IPv6 addresses.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}
