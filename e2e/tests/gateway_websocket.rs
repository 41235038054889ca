//! WebSocket upgrades are proxied both ways for APIs served on WS, and refused on others.

use std::net::SocketAddr;

use apigw_e2e::gateway::GatewayProcess;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A backend that accepts any upgrade, then answers every chunk it reads upper-cased.
async fn start_upgrading_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut head = String::new();
                while stream.read_line(&mut head).await.unwrap() > 2 {}
                assert!(head.to_ascii_lowercase().contains("upgrade: websocket"), "{head}");
                let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: test\r\n\r\n";
                stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
                let mut buffer = [0u8; 1024];
                loop {
                    let read = stream.read(&mut buffer).await.unwrap_or(0);
                    if read == 0 {
                        break;
                    }
                    let upper = buffer[..read].to_ascii_uppercase();
                    stream.get_mut().write_all(&upper).await.unwrap();
                }
            });
        }
    });
    address
}

fn manifests(backend: SocketAddr) -> String {
    format!(
        "apiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: chat}}\nspec: {{domains: [{{host: chat.example.com}}]}}\n---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: socket}}\nspec:\n  groupRef: chat\n  auth: {{type: ANONYMOUS}}\n  request: {{method: GET, path: /socket, protocols: [HTTP, WS]}}\n  backend: {{type: HTTP, address: 'http://{backend}'}}\n---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: plain}}\nspec:\n  groupRef: chat\n  auth: {{type: ANONYMOUS}}\n  request: {{method: GET, path: /plain}}\n  backend: {{type: HTTP, address: 'http://{backend}'}}\n"
    )
}

async fn upgrade(gateway: SocketAddr, path: &str) -> (String, BufReader<TcpStream>) {
    let mut stream = BufReader::new(TcpStream::connect(gateway).await.unwrap());
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.get_mut().write_all(request.as_bytes()).await.unwrap();
    let mut head = String::new();
    while stream.read_line(&mut head).await.unwrap() > 2 {}
    (head, stream)
}

#[tokio::test(flavor = "multi_thread")]
async fn proxies_websocket_traffic_both_ways() {
    let backend = start_upgrading_backend().await;
    let gateway = GatewayProcess::start(&manifests(backend), &[]);
    let (head, mut stream) = upgrade(gateway.http, "/socket").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"), "{head}");
    for message in ["hello", "second message"] {
        stream.get_mut().write_all(message.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; message.len()];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, message.to_ascii_uppercase().as_bytes());
    }

    let (refused, _) = upgrade(gateway.http, "/plain").await;
    assert!(refused.starts_with("HTTP/1.1 403") && refused.contains("I403PT"), "{refused}");
}
