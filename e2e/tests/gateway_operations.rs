//! Operating the gateway: hot reload, refusal of bad configs, admin endpoints, request limits,
//! graceful shutdown.

use std::time::{Duration, Instant};

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn group_with(apis: &[(&str, &str)], backend: std::net::SocketAddr) -> String {
    let mut yaml = shop_group(&format!("stages: {{RELEASE: {{variables: {{backend: 'http://{backend}'}}}}}}"));
    for (name, path) in apis {
        yaml.push_str(&shop_api(
            name,
            &format!("{{method: ANY, path: \"{path}\"}}"),
            "{type: HTTP, address: \"#backend#\"}",
        ));
    }
    yaml
}

async fn admin(gateway: &GatewayProcess, path: &str) -> (u16, String) {
    let answer = TestClient::http1().get(gateway.admin, "localhost", path, &[]).await;
    (answer.status.as_u16(), String::from_utf8_lossy(&answer.body).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn reloads_within_a_second_and_keeps_the_last_good_config_on_a_bad_one() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&group_with(&[("a", "/a")], backend), &[]);
    let client = TestClient::http1();
    assert_eq!(client.get(gateway.http, "shop.example.com", "/a", &[]).await.status, 200);
    let (ready, status) = admin(&gateway, "/readyz").await;
    assert_eq!(ready, 200, "{status}");

    let changed = Instant::now();
    std::fs::write(gateway.manifests().join("apis.yaml"), group_with(&[("a", "/a"), ("b", "/b")], backend)).unwrap();
    loop {
        if client.get(gateway.http, "shop.example.com", "/b", &[]).await.status == 200 {
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(1), "the new API was not served within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("reload served after {:?}", changed.elapsed());

    // A bad set (an Api of a group that does not exist) is refused whole.
    let bad = group_with(&[("a", "/a")], backend)
        + "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {name: c}\nspec: {groupRef: nope, auth: {type: ANONYMOUS}, request: {method: GET, path: /c}, backend: {type: MOCK, statusCode: 200}}\n";
    std::fs::write(gateway.manifests().join("apis.yaml"), bad).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let config = loop {
        let (_, config) = admin(&gateway, "/config").await;
        if config.contains("GroupNotFound") || Instant::now() > deadline {
            break config;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(config.contains("\"refusals\": 1") && config.contains("GroupNotFound"), "{config}");
    assert_eq!(
        client.get(gateway.http, "shop.example.com", "/b", &[]).await.status,
        200,
        "the last good config keeps serving"
    );

    let (_, metrics) = admin(&gateway, "/metrics").await;
    for expected in [
        "apigw_gateway_config_loads_total{result=\"refused\"} 1",
        "apigw_gateway_requests_total{namespace=\"default\",group=\"shop\",api=\"b\",stage=\"RELEASE\",code=\"200\"}",
        "apigw_gateway_request_duration_seconds_bucket",
        "apigw_gateway_apis 2",
    ] {
        assert!(metrics.contains(expected), "metrics lack {expected}:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_started_on_a_bad_config_is_not_ready() {
    let gateway = GatewayProcess::start(
        "apiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {name: x}\nspec: {groupRef: nope, request: {method: GET, path: /}, backend: {type: MOCK, statusCode: 200}}\n",
        &[],
    );
    let (ready, body) = admin(&gateway, "/readyz").await;
    assert_eq!(ready, 503, "{body}");
    let answer = TestClient::http1().get(gateway.http, "shop.example.com", "/", &[]).await;
    assert_eq!((answer.status.as_u16(), answer.header("x-ca-error-code")), (503, "I503NR"));
    assert_eq!(admin(&gateway, "/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_body_and_header_sizes_and_slow_headers() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(
        &group_with(&[("a", "/a")], backend),
        &["--max-body-bytes", "1024", "--max-header-bytes", "8192", "--header-read-timeout", "1"],
    );
    let client = TestClient::http1();
    let post = |size: usize| {
        Request::post(format!("http://{}/a", gateway.http))
            .header("host", "shop.example.com")
            .body(Full::new(Bytes::from(vec![b'x'; size])))
            .unwrap()
    };
    assert_eq!(client.send(post(1000)).await.status, 200);
    let large = client.send(post(4096)).await;
    assert_eq!((large.status.as_u16(), large.header("x-ca-error-code")), (413, "I413RL"));

    let huge = "y".repeat(16 * 1024);
    let mut stream = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
    stream
        .write_all(format!("GET /a HTTP/1.1\r\nHost: shop.example.com\r\nX-Huge: {huge}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..answer.len().min(200)]);
    assert!(answer.contains("x-ca-error-code: I431HL\r\n"), "{answer}");

    // A request-smuggling shape is refused before anything is routed.
    let mut stream = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
    let smuggling =
        "POST /a HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(smuggling.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("x-ca-error-code: I400HD\r\n") && answer.contains("connection: close\r\n"), "{answer}");

    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
    slow.write_all(b"GET /a HTTP/1.1\r\nHost: shop").await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_string(&mut answer))
        .await
        .expect("the gateway hangs up");
    assert!(started.elapsed() < Duration::from_secs(3), "a slow header was kept for {:?}", started.elapsed());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("x-ca-error-code: I408HT\r\n") && answer.contains("x-ca-request-id: "), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_drains_requests_in_flight() {
    let backend = echo::start("backend").await;
    let apis = group_with(&[("sleep", "/__sleep/[ms]")], backend);
    let mut gateway = GatewayProcess::start(&apis, &["--shutdown-grace", "0"]);
    let client = TestClient::http1();
    let address = gateway.http;
    let in_flight = tokio::spawn(async move { client.get(address, "shop.example.com", "/__sleep/700", &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway.terminate();
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200, "the request in flight finished");
    assert!(gateway.wait_exit(Duration::from_secs(5)), "the gateway exited after draining");
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "the listener is closed");
}

/// Sends one request on `stream` and reads its answer's head (the bodies here are short).
async fn ask(stream: &mut tokio::net::TcpStream) -> String {
    stream.write_all(b"GET /__sleep/0 HTTP/1.1\r\nHost: shop.example.com\r\n\r\n").await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read =
        tokio::time::timeout(Duration::from_secs(3), stream.read(&mut answer)).await.expect("an answer").unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sigterm_keep_alive_clients_get_one_more_answer_that_closes_the_connection() {
    let backend = echo::start("backend").await;
    let apis = group_with(&[("sleep", "/__sleep/[ms]")], backend);
    let mut gateway = GatewayProcess::start(&apis, &["--shutdown-grace", "2"]);
    let mut kept = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
    let first = ask(&mut kept).await;
    assert!(first.starts_with("HTTP/1.1 200") && !first.contains("connection: close"), "{first}");
    let terminated = Instant::now();
    gateway.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The idle keep-alive connection is still open: its next request is answered, and closes it.
    let next = ask(&mut kept).await;
    assert!(next.starts_with("HTTP/1.1 200") && next.contains("connection: close\r\n"), "{next}");
    // A client the load balancer still sends here is served too, once.
    let mut late = tokio::net::TcpStream::connect(gateway.http).await.expect("accepting during the grace");
    let answer = ask(&mut late).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("connection: close\r\n"), "{answer}");
    // The pod leaves its Services but is not restarted while it drains.
    assert_eq!(admin(&gateway, "/readyz").await.0, 503, "not ready once stopping");
    assert_eq!(admin(&gateway, "/healthz").await.0, 200, "still live while draining");
    assert!(gateway.wait_exit(Duration::from_secs(6)), "the gateway exited after the grace");
    assert!(terminated.elapsed() >= Duration::from_secs(2), "it waited out the grace: {:?}", terminated.elapsed());
    assert!(tokio::net::TcpStream::connect(gateway.http).await.is_err(), "the listener is closed");
}

#[test]
fn logs_carry_no_colour_codes_when_not_on_a_terminal() {
    use apigw_e2e::gateway::{binary, free_port};
    // The gateway with its admin port taken by its HTTP listener, and the operator without a
    // cluster: each logs why it stops, and exits.
    let address = free_port().to_string();
    let gateway = ["--manifests", "/nonexistent", "--http", &address, "--admin", &address];
    for (name, args, stopped) in
        [("apigw-gateway", &gateway[..], "gateway stopped"), ("apigw-operator", &[], "operator stopped")]
    {
        let output = std::process::Command::new(binary(name))
            .args(args)
            .env("RUST_LOG", "info")
            .env("KUBECONFIG", "/nonexistent")
            .output()
            .expect("the binary runs");
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && log.contains(stopped), "{name}: {log}");
        assert!(!log.contains('\u{1b}'), "{name}: ANSI escapes in a log written to a pipe: {log:?}");
    }
}
