//! Backends that fail: retries (connect failures, listed answers, per-try timeouts), passive
//! health ejecting a dead endpoint, the circuit breaker opening with `D503CB` or a downgrade
//! backend and closing after a probe, and an endpoint killed under load.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use apigw_e2e::faulty::{Faulty, Mode};
use apigw_e2e::gateway::{GatewayProcess, TestClient, free_port};
use apigw_e2e::load::{Connections, Load};
use apigw_e2e::manifests::{shop_api, shop_group};
use bytes::Bytes;
use http_body_util::Full;

/// `---` and a Service `name` whose endpoints are `endpoints` (each in a slice of its own, as
/// their ports differ), and a VpcAccess `name` for it with `extra` spec fields.
fn service(name: &str, endpoints: &[SocketAddr], extra: &str) -> String {
    let mut yaml = format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{ports: [{{name: http, port: 80}}]}}\n"
    );
    for (index, endpoint) in endpoints.iter().enumerate() {
        yaml += &format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-{index}, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: http, port: {}}}]\nendpoints: [{{addresses: [127.0.0.1]}}]\n",
            endpoint.port()
        );
    }
    yaml + &format!(
        "---\napiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {{name: {name}}}\nspec: {{service: {{name: {name}, port: 80}}{extra}}}\n"
    )
}

/// `---` and a Plugin `name` of type circuitBreaker with `spec`, and an Api `api` on `path`
/// bound to it, with `backend`.
fn breaker_api(name: &str, spec: &str, api: &str, path: &str, backend: &str) -> String {
    format!(
        "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {{name: {name}}}\nspec:\n  circuitBreaker: {spec}\n---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: {api}}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n  request: {{method: GET, path: {path}}}\n  backend: {backend}\n  plugins: [{{kind: Plugin, name: {name}}}]\n"
    )
}

/// The value of the first metric line starting with `series` (name and labels), if any.
async fn metric(gateway: &GatewayProcess, series: &str) -> Option<f64> {
    let answer = TestClient::http1().get(gateway.admin, "localhost", "/metrics", &[]).await;
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    text.lines().find(|line| line.starts_with(series))?.rsplit(' ').next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_endpoint_is_tried_around_then_ejected_and_reported() {
    let (one, two, dead) = (Faulty::start("one").await, Faulty::start("two").await, free_port());
    let manifests = [
        shop_group(""),
        service("items", &[one.address, two.address, dead], ""),
        shop_api("items", "{method: GET, path: /items}", "{type: HTTP-VPC, vpcAccessName: items}"),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    for _ in 0..60 {
        let answer = client.get(gateway.http, "shop.example.com", "/items", &[]).await;
        assert_eq!(answer.status, 200, "a request whose endpoint was dead went to another: {answer:?}");
    }
    let endpoints = client.get(gateway.admin, "localhost", "/endpoints", &[]).await.json();
    let report = |address: SocketAddr| {
        let endpoints = endpoints.as_array().expect("a list of endpoints");
        endpoints.iter().find(|endpoint| endpoint["endpoint"] == address.to_string()).cloned().expect("reported")
    };
    assert_eq!(report(dead)["ejected"], true, "{endpoints}");
    assert_eq!(report(one.address)["ejected"], false);
    assert_eq!(report(two.address)["ejected"], false);
    let ejections = format!("apigw_gateway_endpoint_ejections_total{{endpoint=\"{dead}\"}}");
    assert_eq!(metric(&gateway, &ejections).await, Some(1.0));
    // Five connect failures in a row eject it (the default); each was tried again elsewhere,
    // and once ejected it got no more tries.
    let retries = "apigw_gateway_backend_retries_total{namespace=\"default\",group=\"shop\",api=\"items\"";
    assert_eq!(metric(&gateway, retries).await, Some(5.0));
    assert_eq!(one.requests() + two.requests(), 60, "every request answered once");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_failing_its_health_checks_gets_no_requests_until_it_passes_again() {
    let (sick, fine) = (Faulty::start("sick").await, Faulty::start("fine").await);
    sick.set(Mode::Status(503));
    let checks = ", outlierDetection: {consecutiveFailures: 0}, healthCheck: {path: /healthz, intervalSeconds: 2, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2}";
    let manifests = [
        shop_group(""),
        service("checked", &[sick.address, fine.address], checks),
        shop_api("checked", "{method: GET, path: /checked}", "{type: HTTP-VPC, vpcAccessName: checked}"),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    let healthy = |address: SocketAddr| {
        let client = &client;
        let admin = gateway.admin;
        async move {
            let endpoints = client.get(admin, "localhost", "/endpoints", &[]).await.json();
            let endpoints = endpoints.as_array().cloned().unwrap_or_default();
            let endpoint = endpoints.into_iter().find(|endpoint| endpoint["endpoint"] == address.to_string());
            endpoint.and_then(|endpoint| endpoint["healthy"].as_bool())
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while healthy(sick.address).await != Some(false) {
        assert!(Instant::now() < deadline, "two failed checks make it unhealthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(healthy(fine.address).await, Some(true));
    let checked = sick.requests();
    for _ in 0..20 {
        let answer = client.get(gateway.http, "shop.example.com", "/checked", &[]).await;
        assert_eq!((answer.status.as_u16(), &answer.body[..]), (200, &b"fine"[..]), "only the healthy endpoint serves");
    }
    assert!(sick.requests() <= checked + 1, "the unhealthy endpoint got its checks only");

    sick.set(Mode::Answer);
    let deadline = Instant::now() + Duration::from_secs(10);
    while healthy(sick.address).await != Some(true) {
        assert!(Instant::now() < deadline, "two passed checks make it healthy again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answered = Vec::new();
    for _ in 0..20 {
        answered.push(client.get(gateway.http, "shop.example.com", "/checked", &[]).await.body);
    }
    assert!(answered.iter().any(|body| &body[..] == b"sick"), "it serves again");
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_requests_are_tried_again_on_listed_answers_and_posts_are_not() {
    let (failing, fine) = (Faulty::start("failing").await, Faulty::start("fine").await);
    failing.set(Mode::Status(503));
    let backend = "{type: HTTP-VPC, vpcAccessName: orders, retries: {attempts: 1, onStatus: [502, 503]}}";
    let manifests = [
        shop_group(""),
        service("orders", &[failing.address, fine.address], ", outlierDetection: {consecutiveFailures: 0}"),
        shop_api("orders", "{method: ANY, path: /orders}", backend),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    // Ten GETs stay within the retry budget's ten per window whichever endpoints they pick first.
    for _ in 0..10 {
        let answer = client.get(gateway.http, "shop.example.com", "/orders", &[]).await;
        assert_eq!(
            (answer.status.as_u16(), &answer.body[..]),
            (200, &b"fine"[..]),
            "a GET answered 503 went elsewhere"
        );
    }
    let failed_gets = failing.requests();
    let mut refused = 0;
    for order in 0..20 {
        let request = http::Request::post(format!("http://{}/orders", gateway.http))
            .header("host", "shop.example.com")
            .body(Full::new(Bytes::from(format!("order {order}"))))
            .expect("a request");
        let answer = client.send(request).await;
        refused += usize::from(answer.status == 503);
    }
    assert!(refused > 0, "some POSTs went to the failing endpoint");
    assert_eq!(failing.requests() - failed_gets, refused, "each POST sent once: its 503 is the client's");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_try_that_outlasts_its_per_try_timeout_goes_elsewhere_within_the_timeout() {
    let (hanging, fine) = (Faulty::start("hanging").await, Faulty::start("fine").await);
    hanging.set(Mode::Hang);
    let backend = "{type: HTTP-VPC, vpcAccessName: slow, timeout: 5000, retries: {attempts: 1, perTryTimeout: 300}}";
    let manifests = [
        shop_group(""),
        service("slow", &[hanging.address, fine.address], ", outlierDetection: {consecutiveFailures: 0}"),
        shop_api("slow", "{method: GET, path: /slow}", backend),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    for _ in 0..10 {
        let started = Instant::now();
        let answer = client.get(gateway.http, "shop.example.com", "/slow", &[]).await;
        assert_eq!((answer.status.as_u16(), &answer.body[..]), (200, &b"fine"[..]));
        assert!(started.elapsed() < Duration::from_secs(2), "answered after one short try: {:?}", started.elapsed());
    }
    assert!(hanging.requests() > 0, "some first tries went to the hanging endpoint");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_circuit_breaker_opens_on_timeouts_answers_d503cb_and_closes_after_a_probe() {
    let backend = Faulty::start("slow").await;
    backend.set(Mode::Hang);
    let spec = "{timeoutThreshold: 3, windowInSeconds: 10, openTimeoutSeconds: 15}";
    let manifests = [
        shop_group(""),
        breaker_api(
            "breaker",
            spec,
            "slow",
            "/slow",
            &format!("{{type: HTTP, address: \"http://{}\", timeout: 200}}", backend.address),
        ),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    for _ in 0..3 {
        let answer = client.get(gateway.http, "shop.example.com", "/slow", &[]).await;
        assert_eq!((answer.status.as_u16(), answer.header("x-ca-error-code")), (504, "B504TO"));
    }
    let opened = Instant::now();
    let sent = backend.requests();
    let answer = client.get(gateway.http, "shop.example.com", "/slow", &[]).await;
    assert_eq!((answer.status.as_u16(), answer.header("x-ca-error-code")), (503, "D503CB"), "{answer:?}");
    assert!(opened.elapsed() < Duration::from_millis(150), "answered at once");
    assert_eq!(backend.requests(), sent, "an open breaker sends nothing");
    let state = "apigw_gateway_circuit_breaker_state{namespace=\"default\",group=\"shop\",api=\"slow\"";
    assert_eq!(metric(&gateway, state).await, Some(1.0));

    backend.set(Mode::Answer);
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(opened.elapsed()) + Duration::from_millis(300)).await;
    let answer = client.get(gateway.http, "shop.example.com", "/slow", &[]).await;
    assert_eq!(answer.status, 200, "the half-open probe went through: {answer:?}");
    let answer = client.get(gateway.http, "shop.example.com", "/slow", &[]).await;
    assert_eq!(answer.status, 200, "closed again");
    assert_eq!(metric(&gateway, state).await, Some(0.0));
    let openings = "apigw_gateway_circuit_breaker_openings_total{namespace=\"default\",group=\"shop\",api=\"slow\"";
    assert_eq!(metric(&gateway, openings).await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn error_mode_opens_on_its_condition_and_the_downgrade_backend_answers_while_open() {
    let backend = Faulty::start("unavailable").await;
    backend.set(Mode::Status(503));
    let spec = "{errorCondition: \"$StatusCode == 503\", errorThreshold: 2, windowInSeconds: 30, openTimeoutSeconds: 60, downgradeBackend: {type: MOCK, statusCode: 418, body: downgraded}}";
    let address = format!("{{type: HTTP, address: \"http://{}\"}}", backend.address);
    let manifests = [shop_group(""), breaker_api("errors", spec, "flaky", "/flaky", &address)].concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    for _ in 0..2 {
        let answer = client.get(gateway.http, "shop.example.com", "/flaky", &[]).await;
        assert_eq!((answer.status.as_u16(), &answer.body[..]), (503, &b"unavailable"[..]));
    }
    for _ in 0..3 {
        let answer = client.get(gateway.http, "shop.example.com", "/flaky", &[]).await;
        assert_eq!((answer.status.as_u16(), &answer.body[..]), (418, &b"downgraded"[..]), "the downgrade answers");
    }
    assert_eq!(backend.requests(), 2, "nothing reached the backend while open");
}

#[test]
fn one_of_three_endpoints_killed_under_load_fails_no_request() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let endpoints: Vec<Faulty> =
        ["a", "b", "c"].map(|name| runtime.block_on(Faulty::start(name))).into_iter().collect();
    let addresses: Vec<SocketAddr> = endpoints.iter().map(|endpoint| endpoint.address).collect();
    let manifests = [
        shop_group(""),
        service("pods", &addresses, ""),
        shop_api("pods", "{method: GET, path: /pods}", "{type: HTTP-VPC, vpcAccessName: pods}"),
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let load = Load::start(
        gateway.http,
        "shop.example.com",
        "/pods",
        300,
        Connections::KeepAlive,
        Duration::from_secs(8),
        |body| [&b"a"[..], b"b", b"c"].contains(&body),
    );
    std::thread::sleep(Duration::from_secs(1));
    let killed_after = endpoints[2].requests();
    endpoints[2].kill();
    std::thread::sleep(Duration::from_secs(2));
    let report = load.stop();
    let served: usize = endpoints.iter().map(Faulty::requests).sum();
    println!(
        "killed one of three endpoints under load: {} requests, {} failed, {} unreached; the killed one had served {killed_after}; {served} backend requests",
        report.sent,
        report.failures.len(),
        report.unreached.len()
    );
    assert!(report.sent > 500, "the load ran: {report:?}");
    assert!(report.failures.is_empty() && report.unreached.is_empty(), "no request failed: {report:?}");
}
