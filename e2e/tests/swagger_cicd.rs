//! The reference document's Swagger CI/CD chapter end to end: a service publishes its Swagger 2.0
//! document SpringFox-style at `/v2/api-docs`; the pipeline runs `kubectl apigw import --apply`;
//! the operator reconciles and the gateway answers. Then the service's Swagger changes, the
//! import runs again, and the change is served.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apigw_e2e::gateway::{GatewayProcess, TestClient, binary};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::{Cluster, Namespace, echo};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// Serves whatever `document` holds at `/v2/api-docs`.
async fn serve_api_docs(document: Arc<Mutex<Value>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let document = document.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_| {
                    let body = document.lock().unwrap().to_string();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

/// The service's Swagger: `paths` over a backend at `backend`.
fn swagger(backend: SocketAddr, paths: Value) -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "orders", "version": "1.0"},
        "basePath": "/",
        "x-aliyun-apigateway-backend": {"type": "HTTP", "address": format!("http://{backend}"), "timeout": 3000},
        "x-aliyun-apigateway-auth-type": "ANONYMOUS",
        "paths": paths,
    })
}

fn import(namespace: &Namespace, source: &str, extra: &[&str]) -> String {
    let output = Command::new(binary("kubectl-apigw"))
        .args(["import", "--group", "orders", "--domain", "orders.example.com", "-n", namespace.name(), "--apply"])
        .args(extra)
        .arg(source)
        .env("KUBECONFIG", Cluster::get().kubeconfig())
        .output()
        .expect("kubectl-apigw runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "import failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

async fn until_path(client: &TestClient, gateway: &GatewayProcess, path: &str, expected: &str) {
    let started = Instant::now();
    loop {
        let answer = client.get(gateway.http, "orders.example.com", path, &[]).await;
        if answer.status == 200 && answer.json()["path"] == expected {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{path} never reached {expected}: {answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_swagger_is_imported_again_and_served() {
    let backend = echo::start("orders").await;
    let first = swagger(
        backend,
        json!({"/orders/{id}": {"get": {"operationId": "getOrder", "parameters": [
        {"name": "id", "in": "path", "type": "integer", "format": "int64", "required": true}]}}}),
    );
    let document = Arc::new(Mutex::new(first));
    let docs = serve_api_docs(document.clone()).await;
    let source = format!("http://{docs}/v2/api-docs");

    let namespace = Namespace::create("e2e-swagger");
    let _operator = OperatorProcess::start(namespace.name());
    let gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
    let client = TestClient::http1();

    let applied = import(&namespace, &source, &[]);
    assert!(applied.contains("CREATE  getorder"), "{applied}");
    until_path(&client, &gateway, "/orders/7", "/orders/7").await;
    let bad = client.get(gateway.http, "orders.example.com", "/orders/seven", &[]).await;
    assert_eq!(bad.status, 400, "the id is checked as a LONG");

    // The service changes: a new operation, and the old one moves to a new backend path.
    *document.lock().unwrap() = swagger(
        backend,
        json!({
            "/orders/{id}": {"get": {"operationId": "getOrder", "parameters": [
                {"name": "id", "in": "path", "type": "integer", "format": "int64", "required": true}],
                "x-aliyun-apigateway-backend": {"path": "/v2/orders/{id}"}}},
            "/orders": {"post": {"operationId": "createOrder"}}
        }),
    );
    let dry_run = Command::new(binary("kubectl-apigw"))
        .args(["import", "--group", "orders", "-n", namespace.name(), "--dry-run", "--overwrite", &source])
        .env("KUBECONFIG", Cluster::get().kubeconfig())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&dry_run.stdout);
    assert!(report.contains("CREATE  createorder") && report.contains("MODIFY  getorder"), "{report}");
    let reimported = import(&namespace, &source, &["--overwrite"]);
    assert!(reimported.contains("MODIFY  getorder"), "{reimported}");
    until_path(&client, &gateway, "/orders/7", "/v2/orders/7").await;
    let created = client.send(
        http::Request::post(format!("http://{}/orders", gateway.http))
            .header("host", "orders.example.com")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    );
    assert_eq!(created.await.status, 200, "the new operation is served");

    // Once the gateway reported the new version, status shows both Apis Programmed with URLs.
    let started = Instant::now();
    loop {
        let status = Command::new(binary("kubectl-apigw"))
            .args(["status", "-n", namespace.name()])
            .env("KUBECONFIG", Cluster::get().kubeconfig())
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&status.stdout).into_owned();
        let row = |expected: &[&str]| table.lines().any(|line| line.split_whitespace().eq(expected.iter().copied()));
        let group = row(&["apigroup/orders", "True", "True", "True", "2", "Apis"]);
        if group && row(&["api/createorder", "True", "True", "True", "http://orders.example.com/orders"]) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{table}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
