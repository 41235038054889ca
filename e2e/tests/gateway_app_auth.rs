//! APP authentication end to end: requests signed as the official SDKs sign them pass; wrong,
//! missing, replayed, expired and tampered ones get the reference's errors; the App's id reaches
//! system parameters and routing conditions (grey release by `$CaAppId`).

use std::net::SocketAddr;

use apigw_core::resources::SignatureMethod;
use apigw_core::signature::{ClientRequest, ClientSigner, content_md5};
use apigw_e2e::echo;
use apigw_e2e::gateway::{Answer, GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

fn manifests(stable: SocketAddr, canary: SocketAddr) -> String {
    let app = |name: &str, id: u32, key: &str, grant: &str| {
        format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-app}}\nstringData: {{appKey: '{key}', appSecret: {name}-secret, appCode: {name}-code}}\n---\napiVersion: apigw.io/v1alpha1\nkind: App\nmetadata: {{name: {name}}}\nspec: {{appId: {id}, credentialsSecretRef: {{name: {name}-app}}, authorizations: [{grant}]}}\n"
        )
    };
    let profile = shop_api(
        "profile",
        "{method: ANY, path: /profile}",
        &format!("{{type: HTTP, address: 'http://{stable}'}}"),
    )
    .replace(
        "auth: {type: ANONYMOUS}",
        "auth: {type: APP, signatureMethods: [HmacSHA256, HmacSHA1], appCode: HEADER_QUERY}",
    ) + "  systemParameters: [{name: CaAppId, backend: {name: X-App-Id, in: HEADER}}]\n  plugins: [{kind: RoutingPlugin, name: app-grey}]\n";
    let grey = format!(
        "---\napiVersion: apigw.io/v1alpha1\nkind: RoutingPlugin\nmetadata: {{name: app-grey}}\nspec:\n  routes:\n  - {{name: appGrey, condition: '$CaAppId = 4534463', backend: {{type: HTTP, address: 'http://{canary}'}}}}\n"
    );
    [
        shop_group(""),
        profile,
        grey,
        app("mobile", 1001, "203753385", "{groupRef: shop}"),
        app("tester", 4534463, "204534463", "{apiRef: profile, stages: [RELEASE]}"),
        app("outsider", 77, "777", "{groupRef: shop, stages: [TEST]}"),
    ]
    .concat()
}

/// One signed call: who signs, how, and what is sent.
struct Call<'a> {
    key: &'a str,
    secret: &'a str,
    sha1: bool,
    form: &'a str,
    timestamp_ms: i64,
    nonce: &'a str,
}

impl<'a> Call<'a> {
    fn new(key: &'a str, secret: &'a str, nonce: &'a str) -> Self {
        Self { key, secret, sha1: false, form: "", timestamp_ms: now_ms(), nonce }
    }
}

struct Caller {
    client: TestClient,
    gateway: SocketAddr,
}

impl Caller {
    /// Sends a signed call; `tamper` may change the request after signing.
    async fn send(&self, call: Call<'_>, tamper: impl FnOnce(&mut Vec<(String, String)>, &mut String)) -> Answer {
        let Call { key, secret, sha1, form, timestamp_ms, nonce } = call;
        let form_pairs: Vec<(&str, &str)> = form
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .collect();
        let content_type = if form.is_empty() { "" } else { "application/x-www-form-urlencoded; charset=UTF-8" };
        let signer = ClientSigner {
            app_key: key,
            app_secret: secret.as_bytes(),
            method: if sha1 { SignatureMethod::HmacSHA1 } else { SignatureMethod::HmacSHA256 },
        };
        let request = ClientRequest {
            method: if form.is_empty() { "GET" } else { "POST" },
            accept: "application/json",
            content_type,
            path: "/profile",
            query: vec![("b", "2"), ("a", "1")],
            form: form_pairs,
            timestamp_ms,
            nonce,
            ..ClientRequest::default()
        };
        let mut headers = signer.headers(&request);
        headers.push(("Accept".to_owned(), "application/json".to_owned()));
        if !content_type.is_empty() {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        let mut body = form.to_owned();
        tamper(&mut headers, &mut body);
        let mut builder = Request::builder()
            .method(request.method)
            .uri(format!("http://{}/profile?b=2&a=1", self.gateway))
            .header("host", "shop.example.com");
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        self.client.send(builder.body(Full::new(Bytes::from(body))).unwrap()).await
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_requests_pass_and_bad_ones_get_the_reference_errors() {
    let (stable, canary) = (echo::start("stable").await, echo::start("canary").await);
    let gateway = GatewayProcess::start(&manifests(stable, canary), &[]);
    let caller = Caller { client: TestClient::http1(), gateway: gateway.http };
    let keep = |_: &mut Vec<(String, String)>, _: &mut String| {};

    let ok = caller.send(Call::new("203753385", "mobile-secret", "n-1"), keep).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!((ok.header("x-echo-name"), ok.json()["headers"]["x-app-id"].as_str()), ("stable", Some("1001")));
    let seen = &ok.json()["headers"];
    for checked in ["x-ca-signature", "x-ca-signature-method", "x-ca-signature-headers"] {
        assert!(seen.get(checked).is_none(), "the checked {checked} is not forwarded: {seen}");
    }
    assert_eq!(seen["x-ca-key"], "203753385", "who called still is");

    let sha1 = caller.send(Call { sha1: true, ..Call::new("203753385", "mobile-secret", "n-2") }, keep).await;
    assert_eq!(sha1.status, 200, "{sha1:?}");
    let form = caller.send(Call { form: "c=3&d=", ..Call::new("203753385", "mobile-secret", "n-3") }, keep).await;
    assert_eq!(form.status, 200, "form fields are signed: {form:?}");

    let grey = caller.send(Call::new("204534463", "tester-secret", "n-4"), keep).await;
    assert_eq!(grey.header("x-echo-name"), "canary", "the routing plugin sees $CaAppId");

    let error = |answer: &Answer| {
        (
            answer.status.as_u16(),
            answer.header("x-ca-error-code").to_owned(),
            answer.header("x-ca-error-message").to_owned(),
        )
    };
    let replay = caller.send(Call::new("203753385", "mobile-secret", "n-1"), keep).await;
    assert_eq!(error(&replay), (400, "A400NU".to_owned(), "Nonce Used".to_owned()));
    let forged = caller.send(Call::new("203753385", "wrong-secret", "n-5"), keep).await;
    let (status, code, message) = error(&forged);
    assert_eq!((status, code.as_str()), (403, "A403IS"));
    assert!(
        message.starts_with("Invalid Signature, Server StringToSign:GET#application/json###")
            && message.ends_with("#/profile?a=1&b=2"),
        "{message}"
    );
    let unknown = caller.send(Call::new("999", "x", "n-6"), keep).await;
    assert_eq!(error(&unknown), (400, "A400IK".to_owned(), "Invalid AppKey".to_owned()));
    let unsigned = caller
        .send(Call::new("203753385", "mobile-secret", "n-7"), |headers, _| {
            headers.retain(|(name, _)| name != "X-Ca-Signature")
        })
        .await;
    assert_eq!(error(&unsigned), (401, "A401ES".to_owned(), "Empty Signature".to_owned()));
    let stale = caller
        .send(Call { timestamp_ms: now_ms() - 20 * 60 * 1000, ..Call::new("203753385", "mobile-secret", "n-8") }, keep)
        .await;
    assert_eq!(error(&stale), (400, "A400TE".to_owned(), "Timestamp Expired".to_owned()));
    let tampered = caller
        .send(Call { form: "c=3&d=", ..Call::new("203753385", "mobile-secret", "n-9") }, |_, body| {
            *body = "c=4&d=".to_owned()
        })
        .await;
    assert_eq!(error(&tampered).1, "A403IS", "a changed form field breaks the signature");
    let bad_md5 = caller
        .send(Call { form: "c=3&d=", ..Call::new("203753385", "mobile-secret", "n-10") }, |headers, _| {
            headers.push(("Content-MD5".to_owned(), content_md5(b"other")))
        })
        .await;
    assert_eq!(error(&bad_md5), (400, "A400CM".to_owned(), "Invalid Content-MD5".to_owned()));
    let outsider = caller.send(Call::new("777", "outsider-secret", "n-11"), keep).await;
    assert_eq!(error(&outsider), (403, "A403UA".to_owned(), "Unauthorized".to_owned()), "authorized for TEST only");
}

#[tokio::test(flavor = "multi_thread")]
async fn app_codes_authenticate_from_the_header_or_the_query() {
    let (stable, canary) = (echo::start("stable").await, echo::start("canary").await);
    let gateway = GatewayProcess::start(&manifests(stable, canary), &[]);
    let client = TestClient::http1();
    let header =
        client.get(gateway.http, "shop.example.com", "/profile", &[("authorization", "APPCODE mobile-code")]).await;
    assert_eq!((header.status.as_u16(), header.json()["headers"]["x-app-id"].as_str()), (200, Some("1001")));
    assert!(header.json()["headers"].get("authorization").is_none(), "the checked AppCode is not forwarded");
    let query = client.get(gateway.http, "shop.example.com", "/profile?x=1&AppCode=mobile-code&y=2", &[]).await;
    assert_eq!((query.status.as_u16(), query.json()["query"].as_str()), (200, Some("x=1&y=2")));

    // An Api that asks for them gets the credentials.
    let forwarding =
        manifests(stable, canary).replace("appCode: HEADER_QUERY}", "appCode: HEADER_QUERY, forwardCredentials: true}");
    let forwarding = GatewayProcess::start(&forwarding, &[]);
    let code = client
        .get(
            forwarding.http,
            "shop.example.com",
            "/profile?AppCode=mobile-code",
            &[("authorization", "APPCODE mobile-code")],
        )
        .await;
    assert_eq!(code.json()["headers"]["authorization"], "APPCODE mobile-code");
    assert_eq!(code.json()["query"], "AppCode=mobile-code");
    let wrong = client.get(gateway.http, "shop.example.com", "/profile", &[("authorization", "APPCODE nope")]).await;
    assert_eq!(
        (wrong.status.as_u16(), wrong.header("x-ca-error-code"), wrong.header("x-ca-error-message")),
        (400, "A400AC", "Invalid AppCode")
    );
    let outsider = client.get(gateway.http, "shop.example.com", "/profile?appcode=outsider-code", &[]).await;
    assert_eq!(outsider.header("x-ca-error-code"), "A403UA");
}

#[tokio::test(flavor = "multi_thread")]
async fn query_values_signed_decoded_or_as_sent_both_pass() {
    let (stable, canary) = (echo::start("stable").await, echo::start("canary").await);
    let gateway = GatewayProcess::start(&manifests(stable, canary), &[]);
    let client = TestClient::http1();
    let wire = "q=a%20b&name=%C3%A9&plus=c+d";
    // The Java demo signs the values decoded; the Python demo signs them as they are sent.
    let decoded = vec![("q", "a b"), ("name", "é"), ("plus", "c d")];
    let as_sent = vec![("q", "a%20b"), ("name", "%C3%A9"), ("plus", "c+d")];
    let other = vec![("q", "a b"), ("name", "e"), ("plus", "c d")];
    for (query, nonce, expected) in [(decoded, "w-1", 200), (as_sent, "w-2", 200), (other, "w-3", 403)] {
        let signer =
            ClientSigner { app_key: "203753385", app_secret: b"mobile-secret", method: SignatureMethod::HmacSHA256 };
        let signed = ClientRequest {
            method: "GET",
            path: "/profile",
            query,
            timestamp_ms: now_ms(),
            nonce,
            ..ClientRequest::default()
        };
        let mut request =
            Request::get(format!("http://{}/profile?{wire}", gateway.http)).header("host", "shop.example.com");
        for (name, value) in signer.headers(&signed) {
            request = request.header(name, value);
        }
        let answer = client.send(request.body(Full::default()).unwrap()).await;
        assert_eq!(answer.status, expected, "{nonce}: {answer:?}");
        if expected == 403 {
            assert_eq!(answer.header("x-ca-error-code"), "A403IS");
        }
    }
}
