//! The access log end to end: every request gets one JSON line whose fields match what was sent
//! and answered; lines reach stdout within the flush interval while the gateway runs, and none
//! is lost on a clean shutdown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"))).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_is_logged_once_with_its_fields() {
    let backend = echo::start("backend").await;
    let manifests = [
        shop_group(""),
        shop_api(
            "orders",
            "{method: GET, path: '/orders/[id]'}",
            &format!("{{type: HTTP, address: 'http://{backend}'}}"),
        ) + "  parameters: [{name: id, in: PATH, type: LONG, required: true}]\n",
    ]
    .concat();
    let (mut gateway, log) = GatewayProcess::start_logged(&manifests, &[]);
    let client = TestClient::http1();
    // request id -> (path, status, error code)
    let mut sent: HashMap<String, (String, u16, String)> = HashMap::new();
    for index in 0..300 {
        let path = match index % 3 {
            0 => format!("/orders/{index}"),
            1 => "/orders/not-a-number".to_owned(),
            _ => "/nowhere".to_owned(),
        };
        let answer = client.get(gateway.http, "shop.example.com", &path, &[]).await;
        let id = answer.header("x-ca-request-id").to_owned();
        sent.insert(id, (path, answer.status.as_u16(), answer.header("x-ca-error-code").to_owned()));
    }

    // Buffered, but on stdout within the flush interval of a second.
    let started = Instant::now();
    while lines(&log).len() < sent.len() {
        assert!(started.elapsed() < Duration::from_secs(5), "{} of {} lines after 5 s", lines(&log).len(), sent.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for line in lines(&log) {
        let id = line["requestId"].as_str().expect("a request id");
        let (path, status, code) = sent.get(id).unwrap_or_else(|| panic!("a line for no request sent: {line}"));
        assert_eq!(line["path"], path.as_str(), "{line}");
        assert_eq!(line["status"], *status, "{line}");
        assert_eq!(line["errorCode"], code.as_str(), "{line}");
        assert_eq!(
            (&line["method"], &line["host"], &line["clientIp"]),
            (&"GET".into(), &"shop.example.com".into(), &"127.0.0.1".into())
        );
        let routed = !path.starts_with("/nowhere");
        assert_eq!(line["api"], if routed { "default/shop/orders" } else { "" }, "{line}");
        assert_eq!(line["stage"], if routed { "RELEASE" } else { "" }, "{line}");
        assert_eq!(line["group"], if routed { "shop" } else { "" }, "{line}");
        let called = *status == 200;
        assert_eq!(line["backend"], if called { backend.to_string() } else { String::new() }, "{line}");
        assert_eq!(line["requestBytes"], 0, "{line}");
        assert!(line["time"].as_str().is_some_and(|time| time.ends_with('Z') && time.len() == 24), "{line}");
        assert!(line["totalMs"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
    }

    // Lines still in a worker's buffer at SIGTERM are written before the process exits.
    for index in 0..50 {
        client.get(gateway.http, "shop.example.com", &format!("/orders/{index}"), &[]).await;
    }
    gateway.terminate();
    assert!(gateway.wait_exit(Duration::from_secs(10)), "the gateway exits");
    assert_eq!(lines(&log).len(), sent.len() + 50, "no line lost on shutdown");
}
