//! The API server restarts under a running operator and gateway: both watches recover by
//! themselves and later changes are served. A test binary of its own, as it interrupts the
//! control plane every test shares (cargo runs test binaries one at a time).

use std::process::Command;
use std::time::{Duration, Instant};

use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{mock_api, shop_group};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::{Namespace, repo_root};

fn mock(status: u16) -> String {
    mock_api("hello", "/hello", status)
}

async fn wait_for_status(client: &TestClient, gateway: &GatewayProcess, status: u16, limit: Duration) {
    let started = Instant::now();
    while client.get(gateway.http, "shop.example.com", "/hello", &[]).await.status != status {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_and_gateway_recover_from_an_api_server_restart() {
    let namespace = Namespace::create("e2e-recovery");
    let _operator = OperatorProcess::start(namespace.name());
    let gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
    let client = TestClient::http1();
    namespace.apply(&[shop_group(""), mock(200)].concat()).expect_success("applying");
    wait_for_status(&client, &gateway, 200, Duration::from_secs(10)).await;

    let restarted = Command::new(repo_root().join("e2e/controlplane/restart-apiserver.sh")).status().unwrap();
    assert!(restarted.success(), "restarting kube-apiserver");
    assert_eq!(
        client.get(gateway.http, "shop.example.com", "/hello", &[]).await.status,
        200,
        "the gateway kept serving while the API server was away"
    );

    namespace.apply(&mock(202)).expect_success("changing hello after the restart");
    wait_for_status(&client, &gateway, 202, Duration::from_secs(30)).await;
}
