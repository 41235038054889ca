//! Hostile input, as a security tester sends it, against a real gateway process: a raw-socket
//! client sends each request-smuggling, framing, path, parameter, host and signature shape,
//! and a recording backend shows that the gateway refused it or forwarded exactly one
//! unambiguous request (never a second, smuggled one, and never to another Api).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use apigw_e2e::gateway::{GatewayProcess, TestClient, send_h2c};
use apigw_e2e::raw::{self, RawExchange};
use apigw_e2e::recorder::{Recorded, Recorder};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOST: &str = "shop.example.com";

fn manifests(backend: SocketAddr) -> String {
    let app = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: mobile-app}\nstringData: {appKey: '203753385', appSecret: mobile-secret}\n---\napiVersion: apigw.io/v1alpha1\nkind: App\nmetadata: {name: mobile}\nspec: {appId: 1001, credentialsSecretRef: {name: mobile-app}, authorizations: [{groupRef: shop}]}\n";
    let api = |name: &str, auth: &str, request: &str, extra: &str| {
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: {name}}}\nspec:\n  groupRef: shop\n  auth: {auth}\n  request: {request}\n  backend: {{type: HTTP, address: 'http://{backend}'{}}}\n{extra}",
            if name == "files" || name == "docs" { ", path: '/safe/[name]'" } else { "" }
        )
    };
    let anonymous = "{type: ANONYMOUS}";
    [
        format!("---\napiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: shop}}\nspec: {{domains: [{{host: {HOST}}}]}}\n"),
        app.to_owned(),
        api("public", anonymous, "{method: ANY, path: /public/*}", ""),
        api("admin", "{type: APP}", "{method: ANY, path: /admin/*}", ""),
        api(
            "files",
            anonymous,
            "{method: GET, path: '/files/[name]', mode: MAPPING}",
            "  parameters:\n  - {name: name, in: PATH, required: true}\n  - {name: tag, in: QUERY, backend: {name: X-Tag, in: HEADER}}\n",
        ),
        api(
            "docs",
            anonymous,
            "{method: GET, path: /docs, mode: MAPPING}",
            "  parameters:\n  - {name: name, in: QUERY, required: true, backend: {name: name, in: PATH}}\n  - {name: page, in: QUERY, type: INT, backend: {name: page, in: QUERY}}\n",
        ),
        api(
            "upload",
            "{type: APP}",
            "{method: POST, path: /upload}",
            "  parameters:\n  - {name: title, in: FORM}\n",
        ),
        api("form", anonymous, "{method: POST, path: /form}", "  parameters:\n  - {name: title, in: FORM}\n"),
        api("strict", "{type: APP}", "{method: GET, path: /strict}", ""),
        api("lenient", "{type: APP, forceNonceCheck: false}", "{method: GET, path: /lenient}", ""),
    ]
    .concat()
}

/// What the gateway must do with one raw request.
enum Expect {
    /// Answer with this status and error code (any code when empty) and forward nothing.
    Refused(u16, &'static str),
    /// Forward exactly these requests (method, target, body), in order, and answer each.
    Forwarded(&'static [(&'static str, &'static str, &'static str)]),
    /// Close the connection without an answer (the client does not speak HTTP/1).
    Closed,
}

/// Sends `request` on a connection of its own and checks the answers and what reached the
/// backend; returns the requests recorded (for further checks).
async fn check(gateway: SocketAddr, recorder: &Recorder, name: &str, request: &[u8], expect: &Expect) -> Vec<Recorded> {
    let expected_answers = match expect {
        Expect::Refused(..) => 1,
        Expect::Forwarded(forwarded) => forwarded.len(),
        Expect::Closed => 0,
    };
    let RawExchange { answers, closed } =
        raw::exchange(gateway, request, expected_answers, Duration::from_millis(300)).await;
    // The backend has the request before the gateway answers; give a smuggled one a moment.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let recorded = recorder.take();
    match expect {
        Expect::Refused(status, code) => {
            assert_eq!(answers.len(), 1, "{name}: one answer, got {answers:?}");
            assert_eq!(answers[0].status, *status, "{name}: {answers:?}");
            if !code.is_empty() {
                assert_eq!(answers[0].header("x-ca-error-code"), *code, "{name}: {answers:?}");
            }
            assert!(!answers[0].header("x-ca-error-message").is_empty(), "{name}: a message says why");
            assert!(recorded.is_empty(), "{name}: nothing may reach the backend, got {recorded:?}");
        }
        Expect::Forwarded(forwarded) => {
            assert_eq!(answers.len(), forwarded.len(), "{name}: answers {answers:?}");
            assert!(answers.iter().all(|answer| answer.status == 200), "{name}: {answers:?}");
            let got: Vec<(&str, &str, &str)> =
                recorded.iter().map(|seen| (seen.method.as_str(), seen.target.as_str(), seen.body.as_str())).collect();
            assert_eq!(got, forwarded.to_vec(), "{name}: what the backend received");
        }
        Expect::Closed => {
            assert!(answers.is_empty() && closed, "{name}: closed unanswered, got {answers:?} (closed: {closed})");
            assert!(recorded.is_empty(), "{name}: {recorded:?}");
        }
    }
    recorded
}

fn head(request_line: &str, fields: &[&str]) -> String {
    let mut head = format!("{request_line}\r\n");
    for field in fields {
        head.push_str(field);
        head.push_str("\r\n");
    }
    head + "\r\n"
}

/// The request-smuggling and framing table: each shape, and what the gateway does with it.
fn smuggling_cases() -> Vec<(&'static str, String, Expect)> {
    use Expect::{Forwarded, Refused};
    let host = "Host: shop.example.com";
    let post = |fields: &[&str], body: &str| head("POST /public/a HTTP/1.1", &[&[host], fields].concat()) + body;
    let long_extension = format!("3;{}\r\nabc\r\n0\r\n\r\n", "e".repeat(5000));
    const SMUGGLED: &str = "GET /admin/x HTTP/1.1\r\nHost: shop.example.com\r\n\r\n";
    let smuggled_length = format!("Content-Length: {}", SMUGGLED.len());
    vec![
        ("CL.TE", post(&["Content-Length: 6", "Transfer-Encoding: chunked"], "0\r\n\r\nG"), Refused(400, "I400HD")),
        ("TE.CL", post(&["Transfer-Encoding: chunked", "Content-Length: 6"], "0\r\n\r\nG"), Refused(400, "I400HD")),
        (
            "TE.TE chunked then x",
            post(&["Transfer-Encoding: chunked", "Transfer-Encoding: x"], "0\r\n\r\n"),
            Refused(400, "I400HD"),
        ),
        (
            "TE.TE x then chunked",
            post(&["Transfer-Encoding: x", "Transfer-Encoding: chunked"], "0\r\n\r\n"),
            Refused(400, "I400HD"),
        ),
        ("TE chunked twice", post(&["Transfer-Encoding: chunked, chunked"], "0\r\n\r\n"), Refused(400, "I400HD")),
        ("TE xchunked", post(&["Transfer-Encoding: xchunked"], "0\r\n\r\n"), Refused(400, "I400HD")),
        ("TE gzip, chunked", post(&["Transfer-Encoding: gzip, chunked"], "0\r\n\r\n"), Refused(400, "I400HD")),
        ("TE space before colon", post(&["Transfer-Encoding : chunked"], "0\r\n\r\n"), Refused(400, "I400HD")),
        ("TE obs-folded", post(&["Transfer-Encoding: x", " chunked"], "0\r\n\r\n"), Refused(400, "I400HD")),
        ("TE vertical tab", post(&["Transfer-Encoding:\x0bchunked"], "0\r\n\r\n"), Refused(400, "I400HD")),
        (
            "TE Chunked (case)",
            post(&["Transfer-Encoding: Chunked"], "3\r\nabc\r\n0\r\n\r\n"),
            Forwarded(&[("POST", "/public/a", "abc")]),
        ),
        ("CL twice, equal", post(&["Content-Length: 3", "Content-Length: 3"], "abc"), Refused(400, "I400HD")),
        ("CL twice, different", post(&["Content-Length: 3", "Content-Length: 8"], "abcdefgh"), Refused(400, "I400HD")),
        ("CL list", post(&["Content-Length: 3, 3"], "abc"), Refused(400, "I400HD")),
        ("CL signed +", post(&["Content-Length: +3"], "abc"), Refused(400, "I400HD")),
        ("CL negative", post(&["Content-Length: -1"], ""), Refused(400, "I400HD")),
        ("CL hex", post(&["Content-Length: 0x3"], "abc"), Refused(400, "I400HD")),
        (
            "CL with a request in its body",
            post(&[&smuggled_length], SMUGGLED),
            Forwarded(&[("POST", "/public/a", SMUGGLED)]),
        ),
        ("chunk size signed", post(&["Transfer-Encoding: chunked"], "+3\r\nabc\r\n0\r\n\r\n"), Refused(400, "I400BD")),
        (
            "chunk size leading space",
            post(&["Transfer-Encoding: chunked"], " 3\r\nabc\r\n0\r\n\r\n"),
            Refused(400, "I400BD"),
        ),
        ("chunk size 0x", post(&["Transfer-Encoding: chunked"], "0x3\r\nabc\r\n0\r\n\r\n"), Refused(400, "I400BD")),
        (
            "chunk size overflow",
            post(&["Transfer-Encoding: chunked"], "10000000000000003\r\nabc\r\n0\r\n\r\n"),
            Refused(400, "I400BD"),
        ),
        (
            "chunk extension",
            post(&["Transfer-Encoding: chunked"], "3;name=value\r\nabc\r\n0\r\n\r\n"),
            Forwarded(&[("POST", "/public/a", "abc")]),
        ),
        ("chunk extension oversize", post(&["Transfer-Encoding: chunked"], &long_extension), Refused(400, "I400BD")),
        (
            "chunk data longer than its size",
            post(&["Transfer-Encoding: chunked"], "3\r\nabcd\r\n0\r\n\r\n"),
            Refused(400, "I400BD"),
        ),
        ("chunk line bare LF", post(&["Transfer-Encoding: chunked"], "3\nabc\r\n0\r\n\r\n"), Refused(400, "I400BD")),
        (
            "bare LF head",
            "GET /public/lf HTTP/1.1\nHost: shop.example.com\n\n".to_owned(),
            Forwarded(&[("GET", "/public/lf", "")]),
        ),
        (
            "bare CR in head",
            "GET /public/cr HTTP/1.1\rHost: shop.example.com\r\n\r\n".to_owned(),
            Refused(400, "I400HD"),
        ),
        ("NUL in a value", head("GET /public/a HTTP/1.1", &[host, "X-A: a\0b"]), Refused(400, "I400HD")),
        ("CR in a value", head("GET /public/a HTTP/1.1", &[host, "X-A: a\rb"]), Refused(400, "I400HD")),
        ("obs-fold", head("GET /public/a HTTP/1.1", &[host, "X-A: a", " b"]), Refused(400, "I400HD")),
        ("space in the target", head("GET /public/a b HTTP/1.1", &[host]), Refused(400, "I400HD")),
        (
            "absolute-form for another host",
            head("GET http://admin.example.com/public/a HTTP/1.1", &[host]),
            Refused(400, "I400HO"),
        ),
        (
            "absolute-form and no Host",
            head("GET http://shop.example.com/public/abs HTTP/1.1", &[]),
            Forwarded(&[("GET", "/public/abs", "")]),
        ),
        (
            "absolute-form wins over an unknown Host",
            head("GET http://shop.example.com/public/abs HTTP/1.1", &["Host: other.example.com"]),
            Refused(400, "I400HO"),
        ),
        ("Host twice", head("GET /public/a HTTP/1.1", &[host, "Host: admin.example.com"]), Refused(400, "I400HO")),
        ("Host twice, equal", head("GET /public/a HTTP/1.1", &[host, host]), Refused(400, "I400HO")),
        (
            "HTTP/1.0 with Transfer-Encoding",
            head("POST /public/a HTTP/1.0", &[host, "Transfer-Encoding: chunked"])
                + "0\r\n\r\nGET /public/smuggled HTTP/1.1\r\nHost: shop.example.com\r\n\r\n",
            Refused(400, "I400HD"),
        ),
        ("HTTP/1.2 served as 1.1", head("GET /public/v12 HTTP/1.2", &[host]), Forwarded(&[("GET", "/public/v12", "")])),
        ("HTTP/2.0 in an HTTP/1 head", head("GET /public/a HTTP/2.0", &[host]), Refused(505, "I505HV")),
        ("garbled version", head("GET /public/a HTTP/1.", &[host]), Refused(400, "I400HD")),
        ("lower-case version", head("GET /public/a http/1.1", &[host]), Refused(400, "I400HD")),
        ("an invalid HTTP/2 preface", "INVALID CONNECTION PREFACE\r\n\r\n".to_owned(), Expect::Closed),
        ("a broken HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".to_owned(), Expect::Closed),
        (
            "pipelined after a body",
            post(&["Content-Length: 3"], "abc") + &head("GET /public/b HTTP/1.1", &[host]),
            Forwarded(&[("POST", "/public/a", "abc"), ("GET", "/public/b", "")]),
        ),
        (
            "pipelined after a chunked body",
            post(&["Transfer-Encoding: chunked"], "3\r\nabc\r\n0\r\n\r\n") + &head("GET /public/b HTTP/1.1", &[host]),
            Forwarded(&[("POST", "/public/a", "abc"), ("GET", "/public/b", "")]),
        ),
        (
            "pipelined after a refused head",
            post(&["Content-Length: +3"], "abc") + &head("GET /public/smuggled HTTP/1.1", &[host]),
            Refused(400, "I400HD"),
        ),
        (
            "head over the limit in one read",
            head("GET /public/a HTTP/1.1", &[host, &format!("X-Big: {}", "b".repeat(10_000))]),
            Refused(431, "I431HL"),
        ),
        (
            "more than 100 fields",
            head("GET /public/a HTTP/1.1", &[&[host], &["X-A: 1"; 101][..]].concat()),
            Refused(431, "I431HL"),
        ),
    ]
}

/// Paths that could reach another Api than the one they seem to, or mean something else to a
/// backend: normalised before routing, or refused.
fn path_cases() -> Vec<(&'static str, String, Expect)> {
    use Expect::{Forwarded, Refused};
    let get = |target: &str| head(&format!("GET {target} HTTP/1.1"), &["Host: shop.example.com"]);
    vec![
        ("dot-dot into an APP Api", get("/public/../admin/secret"), Refused(400, "A400IK")),
        ("encoded dot-dot into an APP Api", get("/public/%2e%2e/admin/secret"), Refused(400, "A400IK")),
        ("mixed dot-dot", get("/public/.%2E/admin/secret"), Refused(400, "A400IK")),
        ("encoded slash", get("/public/..%2fadmin/secret"), Refused(400, "I400PT")),
        ("encoded backslash", get("/public/..%5cadmin/secret"), Refused(400, "I400PT")),
        ("above the root", get("/public/../../admin"), Refused(400, "I400PT")),
        ("encoded NUL", get("/public/a%00b"), Refused(400, "I400PT")),
        ("encoded CR LF", get("/public/a%0d%0aX-Injected:%201"), Refused(400, "I400PT")),
        ("bad escape", get("/public/a%zz"), Refused(400, "I400PT")),
        ("dot segments", get("/public/./x/../y"), Forwarded(&[("GET", "/public/y", "")])),
        ("encoded unreserved", get("/public/%61b%7Ec?q=%2e"), Forwarded(&[("GET", "/public/ab~c?q=%2e", "")])),
        ("escapes kept in upper case", get("/public/a%3ab"), Forwarded(&[("GET", "/public/a%3Ab", "")])),
    ]
}

/// Parameter values land encoded for where they go: one path segment, a query component; a
/// value that cannot be a header is refused, naming its parameter.
fn parameter_cases() -> Vec<(&'static str, String, Expect)> {
    use Expect::{Forwarded, Refused};
    let get = |target: &str| head(&format!("GET {target} HTTP/1.1"), &["Host: shop.example.com"]);
    vec![
        ("path value with ?", get("/files/a%3fx=1"), Forwarded(&[("GET", "/safe/a%3Fx=1", "")])),
        ("path value with #", get("/files/a%23b"), Forwarded(&[("GET", "/safe/a%23b", "")])),
        ("path value with %", get("/files/100%25"), Forwarded(&[("GET", "/safe/100%25", "")])),
        ("path value with space", get("/files/a%20b"), Forwarded(&[("GET", "/safe/a%20b", "")])),
        ("path value with ;", get("/files/a;jsessionid=1"), Forwarded(&[("GET", "/safe/a%3Bjsessionid=1", "")])),
        (
            "query into path: dot-dots and slashes",
            get("/docs?name=..%2f..%2fadmin%2fsecret"),
            Forwarded(&[("GET", "/safe/..%2F..%2Fadmin%2Fsecret", "")]),
        ),
        ("query into path: ..", get("/docs?name=.."), Forwarded(&[("GET", "/safe/%2E%2E", "")])),
        ("query into path: CR LF and NUL", get("/docs?name=a%0d%0a%00"), Forwarded(&[("GET", "/safe/a%0D%0A%00", "")])),
        (
            "query into path: query and fragment",
            get("/docs?name=a%3Fx%3D1%23f"),
            Forwarded(&[("GET", "/safe/a%3Fx=1%23f", "")]),
        ),
        ("query into query", get("/docs?name=n&page=2&undeclared=1"), Forwarded(&[("GET", "/safe/n?page=2", "")])),
        ("declared type on the decoded value", get("/docs?name=n&page=%32x"), Refused(400, "I400PA")),
        ("query into header: CR LF", get("/files/a?tag=x%0d%0aX-Evil:%201"), Refused(400, "I400PA")),
        ("query into header: NUL", get("/files/a?tag=x%00"), Refused(400, "I400PA")),
    ]
}

async fn run_table(gateway: SocketAddr, recorder: &Recorder, table: &[(&'static str, String, Expect)]) {
    for (name, request, expect) in table {
        check(gateway, recorder, name, request.as_bytes(), expect).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn smuggling_framing_path_and_parameter_shapes_are_refused_or_forwarded_once() {
    let recorder = Recorder::start().await;
    let gateway = GatewayProcess::start(&manifests(recorder.address), &["--max-header-bytes", "8192"]);
    let (smuggling, paths, parameters) = (smuggling_cases(), path_cases(), parameter_cases());
    run_table(gateway.http, &recorder, &smuggling).await;
    run_table(gateway.http, &recorder, &paths).await;
    run_table(gateway.http, &recorder, &parameters).await;
    let (refused, forwarded) = [&smuggling, &paths, &parameters].iter().flat_map(|table| table.iter()).fold(
        (0, 0),
        |(refused, forwarded), (_, _, expect)| match expect {
            Expect::Refused(..) => (refused + 1, forwarded),
            Expect::Forwarded(_) => (refused, forwarded + 1),
            Expect::Closed => (refused + 1, forwarded),
        },
    );
    println!(
        "hostile shapes: {} smuggling/framing, {} path, {} parameter; {refused} refused, {forwarded} forwarded once",
        smuggling.len(),
        paths.len(),
        parameters.len()
    );

    // The mapped header carries the decoded value, and the path parameter reached the backend
    // path as one segment.
    let get = head("GET /files/report?tag=a%20b HTTP/1.1", &["Host: shop.example.com"]);
    let recorded = check(
        gateway.http,
        &recorder,
        "header target",
        get.as_bytes(),
        &Expect::Forwarded(&[("GET", "/safe/report", "")]),
    )
    .await;
    assert_eq!(recorded[0].header("x-tag"), ["a b"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn encoded_slashes_are_decoded_then_normalised_under_the_decode_policy() {
    let recorder = Recorder::start().await;
    let gateway = GatewayProcess::start(&manifests(recorder.address), &["--escaped-slashes", "decode"]);
    let get = |target: &str| head(&format!("GET {target} HTTP/1.1"), &["Host: shop.example.com"]);
    let table = vec![
        ("decoded slash climbs into an APP Api", get("/public/..%2fadmin/secret"), Expect::Refused(400, "A400IK")),
        ("decoded backslash", get("/public\\..\\admin/secret"), Expect::Refused(400, "A400IK")),
        ("decoded slashes stay inside", get("/public/a%2Fb%5Cc"), Expect::Forwarded(&[("GET", "/public/a/b/c", "")])),
        ("decoded slashes above the root", get("/files/..%2f..%2fadmin%2fsecret"), Expect::Refused(400, "I400PT")),
    ];
    run_table(gateway.http, &recorder, &table).await;
}

/// Sends a head (and no body yet) and returns the stream and the time the answer took.
async fn answer_to_head(gateway: SocketAddr, head: &str) -> (String, Duration) {
    let mut stream = tokio::net::TcpStream::connect(gateway).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = vec![0u8; 4096];
    let read =
        tokio::time::timeout(Duration::from_secs(8), stream.read(&mut answer)).await.expect("an answer").unwrap();
    (String::from_utf8_lossy(&answer[..read]).into_owned(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_are_authenticated_before_bodies_are_read_and_slow_bodies_time_out() {
    let recorder = Recorder::start().await;
    let gateway = GatewayProcess::start(&manifests(recorder.address), &["--body-read-timeout", "1"]);
    let form = "Content-Type: application/x-www-form-urlencoded";
    // No key: refused at once, though 8 MiB are announced and none sent.
    let unauthenticated = head("POST /upload HTTP/1.1", &["Host: shop.example.com", form, "Content-Length: 8388608"]);
    let (answer, _) = answer_to_head(gateway.http, &unauthenticated).await;
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("x-ca-error-code: A400IK"), "{answer}");
    // With Content-MD5 too (a body the signature check would read).
    let md5 = head("POST /upload HTTP/1.1", &["Host: shop.example.com", "Content-MD5: x", "Content-Length: 8388608"]);
    let (answer, _) = answer_to_head(gateway.http, &md5).await;
    assert!(answer.contains("x-ca-error-code: A400IK"), "{answer}");
    // A known key gets its body read, under the body timer: a client that stops is answered.
    let identified = head(
        "POST /upload HTTP/1.1",
        &["Host: shop.example.com", form, "Content-Length: 100", "X-Ca-Key: 203753385", "X-Ca-Signature: x"],
    ) + "title=sl";
    let (answer, waited) = answer_to_head(gateway.http, &identified).await;
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("x-ca-error-code: I408BT"), "{answer}");
    assert!(waited < Duration::from_secs(5), "answered after the 1 s body timer, not held: {waited:?}");
    // An anonymous Api that reads its body, and one that streams it to the backend.
    let anonymous = head("POST /form HTTP/1.1", &["Host: shop.example.com", form, "Content-Length: 100"]) + "ti";
    let (answer, _) = answer_to_head(gateway.http, &anonymous).await;
    assert!(answer.contains("x-ca-error-code: I408BT"), "{answer}");
    let streamed = head("POST /public/up HTTP/1.1", &["Host: shop.example.com", "Content-Length: 100"]) + "part";
    let (answer, _) = answer_to_head(gateway.http, &streamed).await;
    assert!(answer.contains("x-ca-error-code: I408BT"), "a streamed body stalls too: {answer}");
    assert!(recorder.take().is_empty(), "no cut body was passed on as whole");
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_headers_count_once_and_replay_protection_is_forced_where_asked() {
    use apigw_core::resources::SignatureMethod;
    use apigw_core::signature::{ClientRequest, ClientSigner};
    let recorder = Recorder::start().await;
    let gateway = GatewayProcess::start(&manifests(recorder.address), &["--force-nonce-check", "true"]);
    let client = &TestClient::http1();
    let signer =
        &ClientSigner { app_key: "203753385", app_secret: b"mobile-secret", method: SignatureMethod::HmacSHA256 };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let address = gateway.http;
    let send = move |path: &'static str, nonce: &'static str, tamper: fn(&mut Vec<(String, String)>)| {
        let request = ClientRequest { method: "GET", path, timestamp_ms: now, nonce, ..ClientRequest::default() };
        let mut headers = signer.headers(&request);
        tamper(&mut headers);
        let mut builder = Request::get(format!("http://{address}{path}")).header("host", HOST);
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        client.send(builder.body(Full::new(Bytes::new())).unwrap())
    };
    let keep = |_: &mut Vec<(String, String)>| {};
    assert_eq!(send("/strict", "n-1", keep).await.status, 200, "signed nonce and timestamp pass");
    assert_eq!(recorder.take()[0].header("x-ca-key"), ["203753385"]);

    let twice = send("/strict", "n-2", |headers| headers.push(("X-Ca-Key".into(), "777".into()))).await;
    assert_eq!((twice.status.as_u16(), twice.header("x-ca-error-code")), (400, "A400DH"), "{twice:?}");
    let unsigned = |headers: &mut Vec<(String, String)>| {
        for (name, value) in headers.iter_mut() {
            if name == "X-Ca-Signature-Headers" {
                *value = "X-Ca-Key,X-Ca-Signature-Method".into();
            }
        }
    };
    let strict = send("/strict", "n-3", unsigned).await;
    assert_eq!(
        (strict.status.as_u16(), strict.header("x-ca-error-code")),
        (400, "A400NS"),
        "the instance default forces it"
    );
    let no_nonce = send("/strict", "n-4", |headers| headers.retain(|(name, _)| name != "X-Ca-Nonce")).await;
    assert_eq!((no_nonce.status.as_u16(), no_nonce.header("x-ca-error-code")), (400, "A400IN"));
    // `forceNonceCheck: false` on the Api wins over the instance default: the request goes on to
    // the signature check (which fails, since the signed list changed).
    let lenient = send("/lenient", "n-5", unsigned).await;
    assert_eq!((lenient.status.as_u16(), lenient.header("x-ca-error-code")), (403, "A403IS"), "{lenient:?}");
    assert!(recorder.take().is_empty());
}

/// Sends `request` over h2c to `address`, whatever its URI's authority says; returns the
/// status and error code.
async fn send_h2(address: SocketAddr, request: Request<Full<Bytes>>) -> (u16, String) {
    let response = send_h2c(address, request).await;
    let code = response.headers().get("x-ca-error-code").map(|code| code.to_str().unwrap().to_owned());
    (response.status().as_u16(), code.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_authority_and_host_must_agree() {
    let recorder = Recorder::start().await;
    let gateway = GatewayProcess::start(&manifests(recorder.address), &[]);
    let request = |host: Option<&str>| {
        let mut builder = Request::get(format!("http://{HOST}/public/h2"));
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        builder.body(Full::new(Bytes::new())).unwrap()
    };
    assert_eq!(send_h2(gateway.http, request(None)).await, (200, String::new()), ":authority alone names the host");
    assert_eq!(send_h2(gateway.http, request(Some(HOST))).await, (200, String::new()), "agreeing host");
    let disagreeing = send_h2(gateway.http, request(Some("admin.example.com"))).await;
    assert_eq!(disagreeing, (400, "I400HO".to_owned()));
    assert_eq!(recorder.take().len(), 2);
}

/// An HTTP/2 frame header and payload.
fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let length = payload.len();
    let mut frame = vec![(length >> 16) as u8, (length >> 8) as u8, length as u8, kind, flags, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_settings_and_ping_floods_end_the_connection() {
    let recorder = Recorder::start().await;
    let gateway = GatewayProcess::start(&manifests(recorder.address), &[]);
    for kind in [0x4u8, 0x6] {
        let mut flood = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        flood.extend(frame(0x4, 0, &[]));
        for _ in 0..5_000 {
            flood.extend(frame(kind, 0, if kind == 0x6 { &[7; 8] } else { &[] }));
        }
        let mut stream = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
        let _ = stream.write_all(&flood).await;
        let mut acknowledged = 0usize;
        let mut data = vec![0u8; 65536];
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.read(&mut data).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => acknowledged += read,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a flood of frame type {kind} ends the connection");
        assert!(acknowledged < 5_000 * 9, "not every frame was acknowledged ({acknowledged} bytes back)");
    }
    let answer = TestClient::http2().get(gateway.http, HOST, "/public/after", &[]).await;
    assert_eq!(answer.status, 200, "other connections are served: {answer:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listener_holds_at_most_max_connections_and_serves_again_below_it() {
    let recorder = Recorder::start().await;
    let gateway = GatewayProcess::start(&manifests(recorder.address), &["--max-connections", "3", "--workers", "2"]);
    let get = head("GET /public/cap HTTP/1.1", &["Host: shop.example.com"]);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
        stream.write_all(get.as_bytes()).await.unwrap();
        let mut data = [0u8; 1024];
        let read = stream.read(&mut data).await.unwrap();
        assert!(data[..read].starts_with(b"HTTP/1.1 200"), "at the edge of the cap: served");
        held.push(stream);
    }
    let beyond = raw::exchange(gateway.http, get.as_bytes(), 1, Duration::from_millis(100)).await;
    assert_eq!(beyond.answers.len(), 1, "{beyond:?}");
    assert_eq!((beyond.answers[0].status, beyond.answers[0].header("x-ca-error-code")), (503, "I503CL"));
    assert!(beyond.closed);
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = raw::exchange(gateway.http, get.as_bytes(), 1, Duration::from_millis(100)).await;
    assert_eq!(again.answers.first().map(|answer| answer.status), Some(200), "a freed slot serves: {again:?}");
}
