//! Every backend type, and backend failures answered with the documented status and code.

use std::{convert::Infallible, net::SocketAddr};

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient, free_port};
use apigw_e2e::manifests::{shop_api, shop_group};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A function endpoint that answers with the event it received, base64-encoded, status 201.
async fn start_function() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                    use base64::Engine;
                    let event = request.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
                    let encoded = base64::engine::general_purpose::STANDARD.encode(&event);
                    let answer = serde_json::json!({"isBase64Encoded": true, "statusCode": 201, "headers": {"x-fn": "yes"}, "body": encoded});
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(answer.to_string()))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

fn manifests(one: SocketAddr, two: SocketAddr, function: SocketAddr, closed: SocketAddr) -> String {
    let api =
        |name: &str, path: &str, backend: &str| shop_api(name, &format!("{{method: ANY, path: \"{path}\"}}"), backend);
    [
        shop_group(""),
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: echo}}\nspec: {{ports: [{{name: http, port: 80}}]}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: echo-1, labels: {{kubernetes.io/service-name: echo}}}}\naddressType: IPv4\nports: [{{name: http, port: {}}}]\nendpoints: [{{addresses: [127.0.0.1]}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: echo-2, labels: {{kubernetes.io/service-name: echo}}}}\naddressType: IPv4\nports: [{{name: http, port: {}}}]\nendpoints: [{{addresses: [127.0.0.1]}}, {{addresses: [127.0.0.2], conditions: {{ready: false}}}}]\n",
            one.port(),
            two.port()
        ),
        "---\napiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {name: echo-service}\nspec: {service: {name: echo, port: 80}}\n".to_owned(),
        format!("---\napiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {{name: echo-address}}\nspec: {{address: 127.0.0.1, port: {}}}\n", one.port()),
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: empty}\nspec: {ports: [{port: 80}]}\n---\napiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {name: empty}\nspec: {service: {name: empty, port: 80}}\n".to_owned(),
        api("vpc-service", "/vpc/*", "{type: HTTP-VPC, vpcAccessName: echo-service, path: \"/*\"}"),
        api("vpc-address", "/address", "{type: HTTP-VPC, vpcAccessName: echo-address}"),
        api("vpc-empty", "/empty", "{type: HTTP-VPC, vpcAccessName: empty}"),
        api("mock", "/mock", "{type: MOCK, statusCode: 418, headers: {X-Mock: teapot}, body: short and stout}"),
        api("function", "/fn/[item]", &format!("{{type: FC, address: \"http://{function}/invoke\"}}")),
        api("slow", "/__sleep/[ms]", &format!("{{type: HTTP, address: \"http://{one}\", timeout: 300}}")),
        api("closed", "/closed", &format!("{{type: HTTP, address: \"http://{closed}\"}}")),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_backend_type_serves_and_failures_get_their_codes() {
    let (one, two, function) = (echo::start("one").await, echo::start("two").await, start_function().await);
    let gateway = GatewayProcess::start(&manifests(one, two, function, free_port()), &[]);
    let client = TestClient::http1();
    let get = |path: &'static str| {
        let client = client.clone();
        let address = gateway.http;
        async move { client.get(address, "shop.example.com", path, &[]).await }
    };

    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let answer = get("/vpc/a/b").await;
        assert_eq!(answer.json()["path"], "/a/b");
        seen.insert(answer.header("x-echo-name").to_owned());
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["one", "two"],
        "both ready endpoints of the Service get requests"
    );
    assert_eq!(get("/address").await.header("x-echo-name"), "one");

    let mock = get("/mock").await;
    assert_eq!((mock.status.as_u16(), mock.header("x-mock"), &mock.body[..]), (418, "teapot", &b"short and stout"[..]));

    let request = Request::post(format!("http://{}/fn/phone?mob=136&mob=137", gateway.http))
        .header("host", "shop.example.com")
        .body(Full::new(Bytes::from_static(&[0xff, 0xfe])))
        .unwrap();
    let answer = client.send(request).await;
    assert_eq!((answer.status.as_u16(), answer.header("x-fn")), (201, "yes"));
    let event: serde_json::Value = serde_json::from_slice(&answer.body).expect("the function answered its event");
    assert_eq!(event["httpMethod"], "POST");
    assert_eq!(event["path"], "/fn/phone");
    assert_eq!(event["queryParameters"], serde_json::json!({"mob": "136"}));
    assert_eq!(event["pathParameters"], serde_json::json!({"item": "phone"}));
    assert_eq!((event["body"].as_str(), event["isBase64Encoded"].as_bool()), (Some("//4="), Some(true)));
    assert!(event["headers"]["x-ca-request-id"].is_string());

    let empty = get("/empty").await;
    assert_eq!((empty.status.as_u16(), empty.header("x-ca-error-code")), (503, "B503NE"));
    let slow = get("/__sleep/2000").await;
    assert_eq!((slow.status.as_u16(), slow.header("x-ca-error-code")), (504, "B504TO"));
    assert_eq!(slow.header("x-ca-error-message"), "Backend Service Timeout");
    let fast = get("/__sleep/10").await;
    assert_eq!(fast.status, 200);
    let closed = get("/closed").await;
    assert_eq!((closed.status.as_u16(), closed.header("x-ca-error-code")), (502, "B502CF"));
}

/// A backend that answers GETs with hand-written HTTP/1.1: `/chunked` in chunks with a trailer
/// (keeping the connection), anything else with a body that ends when it closes the connection.
async fn start_raw_backend() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while stream.read_exact(&mut byte).await.is_ok() {
                    head.push(byte[0]);
                    if !head.ends_with(b"\r\n\r\n") {
                        continue;
                    }
                    let chunked = head.starts_with(b"GET /chunked ");
                    head.clear();
                    if !chunked {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the end").await;
                        return;
                    }
                    let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nin t\r\n9;x=y\r\nhree chun\r\n2\r\nks\r\n0\r\nX-Sum: 15\r\n\r\n";
                    for piece in answer.chunks(7) {
                        let _ = stream.write_all(piece).await;
                    }
                }
            });
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_and_close_delimited_answers_and_streamed_uploads_pass_through() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (raw, echo) = (start_raw_backend().await, echo::start("echo").await);
    let api =
        |name: &str, path: &str, backend: &str| shop_api(name, &format!("{{method: ANY, path: \"{path}\"}}"), backend);
    let manifests = [
        shop_group(""),
        api("raw", "/raw/*", &format!("{{type: HTTP, address: \"http://{raw}\", path: \"/*\"}}")),
        api("upload", "/upload", &format!("{{type: HTTP, address: \"http://{echo}\"}}")),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    for _ in 0..3 {
        let answer = client.get(gateway.http, "shop.example.com", "/raw/chunked", &[]).await;
        assert_eq!((answer.status.as_u16(), &answer.body[..]), (200, &b"in three chunks"[..]));
    }
    let answer = client.get(gateway.http, "shop.example.com", "/raw/close", &[]).await;
    assert_eq!((answer.status.as_u16(), &answer.body[..]), (200, &b"until the end"[..]));

    // A chunked upload of unknown length is streamed to the backend, which gets it whole.
    let mut stream = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
    let upload = "POST /upload HTTP/1.1\r\nHost: shop.example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";
    stream.write_all(upload.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""body":"hello world""#), "the backend got the whole body: {answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_cannot_connect_to_one_endpoint_goes_to_another() {
    // One endpoint of the Service is gone (its port closed), as when a pod is removed and the
    // EndpointSlice has not caught up yet.
    let (live, gone) = (echo::start("live").await, free_port());
    let service = format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: flaky}}\nspec: {{ports: [{{name: http, port: 80}}]}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: flaky-live, labels: {{kubernetes.io/service-name: flaky}}}}\naddressType: IPv4\nports: [{{name: http, port: {}}}]\nendpoints: [{{addresses: [127.0.0.1]}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: flaky-gone, labels: {{kubernetes.io/service-name: flaky}}}}\naddressType: IPv4\nports: [{{name: http, port: {}}}]\nendpoints: [{{addresses: [127.0.0.1]}}]\n---\napiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {{name: flaky}}\nspec: {{service: {{name: flaky, port: 80}}}}\n",
        live.port(),
        gone.port()
    );
    let api = shop_api("flaky", "{method: POST, path: /orders}", "{type: HTTP-VPC, vpcAccessName: flaky}");
    let gateway = GatewayProcess::start(&[shop_group(""), service, api].concat(), &[]);
    let client = TestClient::http1();
    for order in 0..40 {
        let request = http::Request::post(format!("http://{}/orders", gateway.http))
            .header("host", "shop.example.com")
            .body(http_body_util::Full::new(bytes::Bytes::from(format!("order {order}"))))
            .unwrap();
        let answer = client.send(request).await;
        assert_eq!(answer.status, 200, "a POST whose endpoint refused the connection was sent elsewhere: {answer:?}");
        assert_eq!(answer.json()["body"], format!("order {order}"), "sent once, whole");
    }
}
