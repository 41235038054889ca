//! Route lookup time at 10, 1,000 and 100,000 APIs: it must not grow with the number of APIs.

use std::hint::black_box;

use apigw_core::config::{ApiConfig, BackendConfig, GatewayConfig, GroupConfig, MockConfig};
use apigw_core::resources::{ApiAuth, BackendType, HttpMethod, ParameterMode, Protocol};
use apigw_gateway::metrics::Metrics;
use apigw_gateway::route_table::RouteTable;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::Method;

/// A config of `count` APIs over 10 groups, each API at `/service{n}/users/[id]`.
fn config(count: usize) -> GatewayConfig {
    let mut config = GatewayConfig::empty("default");
    for group in 0..10 {
        config.groups.push(GroupConfig {
            namespace: "bench".to_owned(),
            name: format!("group{group}"),
            hosts: vec![format!("group{group}.example.com")],
            internal_host: None,
            tls: Vec::new(),
            stages: Default::default(),
            apis: Vec::new(),
        });
    }
    for index in 0..count {
        config.groups[index % 10].apis.push(ApiConfig {
            name: format!("api{index}"),
            stages: vec!["RELEASE".to_owned()],
            protocols: vec![Protocol::Http],
            method: if index % 2 == 0 { HttpMethod::Get } else { HttpMethod::Post },
            path: format!("/service{index}/users/[id]"),
            mode: ParameterMode::Passthrough,
            parameters: Vec::new(),
            constant_parameters: Vec::new(),
            system_parameters: Vec::new(),
            auth: ApiAuth::default(),
            routing: None,
            access_control: None,
            error_mapping: None,
            ip_control: None,
            cors: None,
            backend: BackendConfig {
                kind: BackendType::Mock,
                address: None,
                upstream: None,
                path: None,
                method: None,
                timeout_ms: 1000,
                protocol: Default::default(),
                mock: Some(MockConfig { status_code: 200, headers: Default::default(), body: String::new() }),
            },
        });
    }
    config
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    for count in [10, 1_000, 100_000] {
        let table = RouteTable::compile(&config(count), &Metrics::default()).expect("compiles");
        let target = count / 2 / 10 * 10; // an even index in group 0: a GET route
        let path = format!("/service{target}/users/12345");
        group.bench_with_input(BenchmarkId::from_parameter(count), &path, |b, path| {
            b.iter(|| {
                let found =
                    table.lookup(false, black_box("group0.example.com"), &Method::GET, black_box(path), "RELEASE");
                assert!(found.is_ok());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
