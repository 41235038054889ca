//! `--redis`: two gateway processes share traffic-control windows, APP nonces and JWT ids through a real
//! Redis (Debian's redis-server, started here), so limits and replay checks hold across pods;
//! when Redis goes away, `--redis-failure open` keeps serving on the pod's own state and
//! `closed` answers `503 I503SS`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apigw_core::resources::SignatureMethod;
use apigw_core::signature::{ClientRequest, ClientSigner};
use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient, free_port};
use apigw_e2e::manifests::{shop_api, shop_group};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// A redis-server on a free loopback port, without persistence; killed when dropped.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start() -> Self {
        let port = free_port().port().to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt install redis-server)");
        let started = Instant::now();
        let address = format!("127.0.0.1:{port}");
        loop {
            let mut answer = [0; 7];
            let pong = TcpStream::connect(&address)
                .and_then(|mut stream| stream.write_all(b"PING\r\n").and_then(|()| stream.read_exact(&mut answer)));
            if pong.is_ok() && &answer == b"+PONG\r\n" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not answer PING");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, url: format!("redis://{address}") }
    }
}

impl Redis {
    /// How many keys Redis holds (`DBSIZE`).
    fn keys(&self) -> usize {
        let address = self.url.trim_start_matches("redis://");
        let mut stream = TcpStream::connect(address).expect("Redis answers");
        stream.write_all(b"DBSIZE\r\n").expect("a command sent");
        let mut answer = [0; 32];
        let read = stream.read(&mut answer).expect("an answer");
        let text = std::str::from_utf8(&answer[..read]).expect("a text answer");
        text.trim().trim_start_matches(':').parse().unwrap_or_else(|_| panic!("DBSIZE answered {text:?}"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manifests(backend: std::net::SocketAddr) -> String {
    let address = format!("{{type: HTTP, address: 'http://{backend}'}}");
    let limited = shop_api("limited", "{method: GET, path: /limited}", &address)
        + "  plugins: [{kind: Plugin, name: four-a-day}]\n";
    let signed = shop_api("signed", "{method: GET, path: /signed}", &address).replace("type: ANONYMOUS", "type: APP");
    let token =
        shop_api("once", "{method: GET, path: /once}", &address) + "  plugins: [{kind: Plugin, name: jwt-once}]\n";
    let jwt = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: jwt-keys}}\nstringData:\n  jwks: '{{\"keys\": [{{\"kty\": \"oct\", \"kid\": \"h1\", \"k\": \"{}\"}}]}}'\n---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {{name: jwt-once}}\nspec: {{jwtAuth: {{preventJtiReplay: true, keySecretRef: {{name: jwt-keys, key: jwks}}}}}}\n",
        URL_SAFE_NO_PAD.encode(JWT_SECRET)
    );
    let rest = "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {name: four-a-day}\nspec: {trafficControl: {unit: DAY, apiDefault: 4}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: mobile-app}\nstringData: {appKey: '203753385', appSecret: mobile-secret}\n---\napiVersion: apigw.io/v1alpha1\nkind: App\nmetadata: {name: mobile}\nspec: {appId: 1001, credentialsSecretRef: {name: mobile-app}, authorizations: [{groupRef: shop}]}\n";
    [shop_group(""), limited, signed, token, jwt, rest.to_owned()].concat()
}

const JWT_SECRET: &[u8] = b"a shared secret of at least 32 bytes!";

/// A bearer header with an HS256 token of id `jti`.
fn bearer(jti: &str) -> Vec<(String, String)> {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("h1".to_owned());
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let claims = serde_json::json!({"jti": jti, "exp": exp});
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(JWT_SECRET)).unwrap();
    vec![("authorization".to_owned(), format!("Bearer {token}"))]
}

/// The headers of a call to /signed signed with `nonce`.
fn signed_headers(nonce: &str) -> Vec<(String, String)> {
    let signer =
        ClientSigner { app_key: "203753385", app_secret: b"mobile-secret", method: SignatureMethod::HmacSHA256 };
    let request = ClientRequest {
        method: "GET",
        path: "/signed",
        timestamp_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64,
        nonce,
        ..ClientRequest::default()
    };
    signer.headers(&request)
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_and_nonces_hold_across_gateways_and_redis_failures_follow_the_mode() {
    let redis = Redis::start();
    let backend = echo::start("shared").await;
    let yaml = manifests(backend);
    let with_redis = |mode: &'static str| {
        let url = redis.url.clone();
        let yaml = yaml.clone();
        move || GatewayProcess::start(&yaml, &["--redis", &url, "--redis-failure", mode])
    };
    let (first, second, strict) = (with_redis("open")(), with_redis("open")(), with_redis("closed")());
    let client = TestClient::http1();
    let get = |gateway: &GatewayProcess, path: &'static str, headers: Vec<(String, String)>| {
        let client = client.clone();
        let address = gateway.http;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
            client.get(address, "shop.example.com", path, &headers).await
        }
    };

    // Four a day, whichever gateway answers.
    for gateway in [&first, &second, &first, &second] {
        assert_eq!(get(gateway, "/limited", vec![]).await.status, 200);
    }
    let fifth = get(&first, "/limited", vec![]).await;
    assert_eq!((fifth.status.as_u16(), fifth.header("x-ca-error-message")), (429, "Throttled by API Flow Control"));
    assert_eq!(get(&second, "/limited", vec![]).await.status, 429, "the other pod counts the same window");

    // A nonce used on one pod is used on all.
    let headers = signed_headers("shared-nonce-1");
    assert_eq!(get(&first, "/signed", headers.clone()).await.status, 200);
    let replayed = get(&second, "/signed", headers).await;
    assert_eq!(replayed.header("x-ca-error-message"), "Nonce Used", "{replayed:?}");

    // So is a JWT id.
    assert_eq!(get(&second, "/once", bearer("token-1")).await.status, 200);
    let reused = get(&first, "/once", bearer("token-1")).await;
    assert_eq!(reused.header("x-ca-error-code"), "A401TR", "{reused:?}");

    // Redis goes away: open keeps serving on the pod's own counters, closed refuses.
    drop(redis);
    let open = get(&first, "/limited", vec![]).await;
    assert_eq!(open.status, 200, "fail-open counts on this pod: {open:?}");
    assert_eq!(get(&first, "/signed", signed_headers("after-redis")).await.status, 200);
    let closed = get(&strict, "/limited", vec![]).await;
    assert_eq!((closed.status.as_u16(), closed.header("x-ca-error-code")), (503, "I503SS"), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_answer_kept_by_one_gateway_serves_the_others() {
    let redis = Redis::start();
    let backend = apigw_e2e::faulty::Faulty::start("catalog").await;
    let api = shop_api(
        "prices",
        "{method: GET, path: /prices}",
        &format!("{{type: HTTP, address: 'http://{}'}}", backend.address),
    ) + "  plugins: [{kind: Plugin, name: prices}]\n";
    let plugin =
        "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {name: prices}\nspec: {caching: {duration: 60}}\n";
    let yaml = [shop_group(""), api, plugin.to_owned()].concat();
    let gateways: Vec<_> = (0..2).map(|_| GatewayProcess::start(&yaml, &["--redis", &redis.url])).collect();
    let client = TestClient::http1();
    let first = client.get(gateways[0].http, "shop.example.com", "/prices", &[]).await;
    assert_eq!((first.status.as_u16(), first.header("x-ca-cache")), (200, "MISS"));
    // The first gateway keeps the answer in Redis in the background.
    let started = Instant::now();
    while redis.keys() == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the answer never reached Redis");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = client.get(gateways[1].http, "shop.example.com", "/prices", &[]).await;
    assert_eq!((second.status.as_u16(), second.header("x-ca-cache")), (200, "HIT"), "{second:?}");
    assert_eq!(second.body, first.body);
    let backend_requests = backend.requests();
    assert_eq!(backend_requests, 1, "the second gateway's hit came from Redis, not the backend");
    for gateway in &gateways {
        let answer = client.get(gateway.http, "shop.example.com", "/prices", &[]).await;
        assert_eq!(answer.header("x-ca-cache"), "HIT");
    }
    assert_eq!(backend.requests(), backend_requests, "hits on both gateways, none at the backend");
}
