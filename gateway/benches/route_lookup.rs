//! Route lookup time at 10, 1,000 and 100,000 APIs: it must not grow with the number of APIs.

use std::hint::black_box;

use apigw_core::config::{ApiConfig, GatewayConfig, GroupConfig};
use apigw_gateway::config::route_table::RouteTable;
use apigw_gateway::telemetry::metrics::Metrics;
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
        // Built from JSON so that optional fields keep their defaults as the config grows.
        let api: ApiConfig = serde_json::from_value(serde_json::json!({
            "name": format!("api{index}"),
            "stages": ["RELEASE"],
            "protocols": ["HTTP"],
            "method": if index % 2 == 0 { "GET" } else { "POST" },
            "path": format!("/service{index}/users/[id]"),
            "mode": "PASSTHROUGH",
            "parameters": [],
            "constantParameters": [],
            "systemParameters": [],
            "auth": {"type": "ANONYMOUS"},
            "backend": {"type": "MOCK", "timeoutMs": 1000, "mock": {"statusCode": 200, "headers": {}, "body": ""}},
        }))
        .expect("a valid ApiConfig");
        config.groups[index % 10].apis.push(api.into());
    }
    config
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    for count in [10, 1_000, 100_000] {
        let table =
            RouteTable::compile(&config(count), &[], &Metrics::default(), &Default::default(), None).expect("compiles");
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
