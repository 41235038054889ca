//! The real client address behind a load balancer: the PROXY protocol (v1 and v2) on a listener
//! configured for it, and `X-Forwarded-For` believed from trusted proxies only. ipControl,
//! `CaClientIp` and the backend's `X-Real-IP` / `X-Forwarded-For` all see the same client.

use std::time::Duration;

use apigw_e2e::echo;
use apigw_e2e::gateway::GatewayProcess;
use apigw_e2e::manifests::{shop_api, shop_group};
use apigw_e2e::raw::{RawExchange, exchange};

/// An Api open to 198.51.100.0/24 only, which passes `CaClientIp` as `X-Client`.
fn manifests(backend: std::net::SocketAddr) -> String {
    let api = shop_api("who", "{method: GET, path: /who}", &format!("{{type: HTTP, address: 'http://{backend}'}}"))
        + "  plugins: [{kind: Plugin, name: balancer-clients}]\n  systemParameters: [{name: CaClientIp, backend: {name: X-Client, in: HEADER}}]\n";
    let plugin = "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {name: balancer-clients}\nspec: {ipControl: {type: ALLOW, items: [{blocks: [198.51.100.0/24]}]}}\n";
    [shop_group(""), api, plugin.to_owned()].concat()
}

const GET: &[u8] = b"GET /who HTTP/1.1\r\nhost: shop.example.com\r\nx-forwarded-for: 198.51.100.99\r\nx-real-ip: 198.51.100.99\r\n\r\n";

fn v2_header(command: u8, source: [u8; 4]) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend([0x20 | command, 0x11, 0, 12]);
    header.extend(source);
    header.extend([127, 0, 0, 1, 0xc3, 0x50, 0x1f, 0x90]);
    header
}

async fn send(gateway: &GatewayProcess, header: &[u8]) -> RawExchange {
    exchange(gateway.http, &[header, GET].concat(), 1, Duration::from_millis(300)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_protocol_names_the_client() {
    let backend = echo::start("backend").await;
    let gateway = GatewayProcess::start(&manifests(backend), &["--proxy-protocol", "http"]);

    for header in [b"PROXY TCP4 198.51.100.7 127.0.0.1 50000 8080\r\n".to_vec(), v2_header(1, [198, 51, 100, 7])] {
        let sent = send(&gateway, &header).await;
        let answer = sent.answers.first().unwrap_or_else(|| panic!("no answer: {sent:?}"));
        assert_eq!(answer.status, 200, "{answer:?}");
        let seen: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(seen["headers"]["x-client"], "198.51.100.7", "CaClientIp");
        assert_eq!(seen["headers"]["x-real-ip"], "198.51.100.7", "the client's own X-Real-IP is replaced");
        assert_eq!(seen["headers"]["x-forwarded-for"], "198.51.100.7", "and its X-Forwarded-For");
    }

    let outside = send(&gateway, b"PROXY TCP4 203.0.113.7 127.0.0.1 50000 8080\r\n").await;
    assert_eq!(outside.answers.first().map(|answer| answer.status), Some(403), "ipControl sees the PROXY source");
    let health_check = send(&gateway, &v2_header(0, [0; 4])).await;
    assert_eq!(
        health_check.answers.first().map(|answer| answer.status),
        Some(403),
        "LOCAL (a balancer's own check) is the peer, 127.0.0.1: {health_check:?}"
    );
    for broken in
        [&b""[..], b"PROXY TCP4 1.2.3.4\r\n", b"PROXY TCP9 a b c d\r\n", b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff"]
    {
        let refused = send(&gateway, broken).await;
        assert!(refused.answers.is_empty() && refused.closed, "{broken:?} must close the connection: {refused:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_is_believed_from_trusted_proxies_only() {
    let backend = echo::start("backend").await;
    let untrusting = GatewayProcess::start(&manifests(backend), &[]);
    let trusting = GatewayProcess::start(&manifests(backend), &["--trusted-proxies", "127.0.0.0/8,10.244.0.0/24"]);

    let spoofed = exchange(untrusting.http, GET, 1, Duration::from_millis(300)).await;
    assert_eq!(spoofed.answers.first().map(|answer| answer.status), Some(403), "{spoofed:?}");

    let behind = b"GET /who HTTP/1.1\r\nhost: shop.example.com\r\nx-forwarded-for: 6.6.6.6, 198.51.100.8, 10.244.0.3\r\nx-forwarded-proto: https\r\n\r\n";
    let sent = exchange(trusting.http, behind, 1, Duration::from_millis(300)).await;
    let answer = sent.answers.first().unwrap_or_else(|| panic!("no answer: {sent:?}"));
    assert_eq!(answer.status, 200, "{answer:?}");
    let seen: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(seen["headers"]["x-client"], "198.51.100.8", "the right-most untrusted hop");
    assert_eq!(seen["headers"]["x-real-ip"], "198.51.100.8");
    assert_eq!(seen["headers"]["x-forwarded-for"], "6.6.6.6, 198.51.100.8, 10.244.0.3, 127.0.0.1");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https", "a trusted proxy's scheme is kept");
}
