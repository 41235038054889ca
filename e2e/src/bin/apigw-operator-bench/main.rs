//! `make bench-operator`: the control plane's targets, measured on the test control plane with
//! release builds of the operator and the gateway:
//! - from `kubectl apply` of a changed Api to the gateway serving the change (p50, max);
//! - from `kubectl apply` of an EndpointSlice change to the gateway using the new endpoint;
//! - 1,000 Apis in 10 groups: time to Programmed and ConfigMap/Secret writes;
//! - operator resident memory with 10,000 Apis;
//! - 5,000 and 20,000 Apis created one by one at 100/s: all served and Programmed how long after
//!   the last write; with 20,000 present, single changes from the API server's write to served,
//!   and what each writes; the largest published object and condition message ([`scale`]).

mod scale;

use std::time::{Duration, Instant};

use apigw_e2e::Namespace;
use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{echo_service, many_apis, mock_api, shop_api, shop_group};
use apigw_e2e::operator::OperatorProcess;

const CHANGES: usize = 20;

/// Polls `check` every 5 ms for up to `limit`; how long it took from `since`.
async fn until<F: std::future::Future<Output = bool>>(
    since: Instant,
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> Duration {
    while !check().await {
        assert!(since.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    since.elapsed()
}

fn mock(status: u16) -> String {
    mock_api("hello", "/hello", status)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

#[tokio::main]
async fn main() {
    let client = TestClient::http1();
    println!("operator benchmark (release builds, test control plane on this machine)\n");
    // `BENCH_OPERATOR_SCALE_ONLY=1` runs the scale measurements alone.
    if std::env::var_os("BENCH_OPERATOR_SCALE_ONLY").is_some() {
        scale::stream(5_000, 50, 100, false).await;
        scale::stream(20_000, 100, 100, true).await;
        return;
    }

    // 1. Apply -> serve, for a changed Api and for a moved endpoint.
    let namespace = Namespace::create("bench-operator");
    let operator = OperatorProcess::start(namespace.name());
    let gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
    let ip = echo::host_ip();
    let backends = [echo::start_on(ip, "a").await, echo::start_on(ip, "b").await];
    let vpc = shop_api("orders", "{method: GET, path: /orders}", "{type: HTTP-VPC, vpcAccessName: echo}");
    namespace.apply(&[shop_group(""), echo_service(backends[0]), vpc, mock(200)].concat()).expect_success("apply");
    let status = |code: u16| {
        let client = client.clone();
        let address = gateway.http;
        async move { client.get(address, "shop.example.com", "/hello", &[]).await.status.as_u16() == code }
    };
    until(Instant::now(), Duration::from_secs(30), "the first config", || status(200)).await;
    let mut changes = Vec::new();
    for round in 0..CHANGES {
        let code = 201 + round as u16;
        let started = Instant::now();
        namespace.apply(&mock(code)).expect_success("apply");
        changes.push(until(started, Duration::from_secs(10), "the change", || status(code)).await);
    }
    changes.sort();
    let mut moves = Vec::new();
    for round in 0..CHANGES {
        let (backend, name) = if round % 2 == 0 { (backends[1], "b") } else { (backends[0], "a") };
        let started = Instant::now();
        namespace.apply(&echo_service(backend)).expect_success("apply");
        let served = || {
            let client = client.clone();
            let address = gateway.http;
            async move { client.get(address, "shop.example.com", "/orders", &[]).await.header("x-echo-name") == name }
        };
        moves.push(until(started, Duration::from_secs(10), "the endpoint move", served).await);
    }
    moves.sort();
    println!(
        "apply -> served, changed Api ({CHANGES} changes):  p50 {:>6.0?}  max {:>6.0?}   (target: p50 <= 1 s, max <= 2 s)",
        percentile(&changes, 0.5),
        changes[CHANGES - 1]
    );
    println!(
        "apply -> served, moved endpoint ({CHANGES} moves):  p50 {:>6.0?}  max {:>6.0?}",
        percentile(&moves, 0.5),
        moves[CHANGES - 1]
    );
    drop((gateway, operator, namespace));

    // 2. Apis created one by one at 100/s, as a GitOps sync writes them (first: namespaces being
    // deleted behind a measurement load the API server).
    scale::stream(5_000, 50, 100, false).await;
    scale::stream(20_000, 100, 100, true).await;

    // 3. 1,000 Apis in 10 groups, then 10,000 in 100 groups.
    for (groups, target) in [(10, "<= 20 s, <= 50 writes"), (100, "memory <= 200 MiB")] {
        let namespace = Namespace::create("bench-operator-many");
        let operator = OperatorProcess::start(namespace.name());
        let _gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
        let apis = groups * 100;
        let started = Instant::now();
        let applied = namespace.apply(&many_apis(groups, 100));
        let kubectl = started.elapsed();
        applied.expect_success("apply");
        let limit = Duration::from_secs(600);
        let converged =
            until(started, limit, "Programmed", || std::future::ready(namespace.programmed_apis() == apis)).await;
        let writes = operator.metric("apigw_operator_config_writes_total");
        let mib = operator.resident_bytes() as f64 / (1024.0 * 1024.0);
        println!(
            "{apis:>6} Apis in {groups:>3} groups: kubectl apply {kubectl:>7.1?}, all Programmed {converged:>7.1?} after it began, \
             {writes} ConfigMap/Secret writes, operator RSS {mib:.0} MiB   (target: {target})"
        );
    }
}
