//! jwtAuth end to end: ES256 and RS256 (the reference document's key type) tokens signed with keys
//! generated for the run, picked by `kid`,
//! checked for expiry, read from `Authorization: Bearer` or a cookie; chosen claims reach the
//! backend and `Token:` conditions (grey release by user); a missing or bad token gets 401 with
//! the reason.

use apigw_e2e::echo;
use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::manifests::{shop_api, shop_group};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

/// A P-256 key pair: the signing key and the public JWK (flow-style YAML).
struct TestKey {
    signing: EncodingKey,
    jwk: String,
}

impl TestKey {
    fn generate(kid: &str) -> Self {
        let random = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random).unwrap();
        let point = pair.public_key().as_ref(); // 0x04 | x | y
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..]));
        let jwk = format!("{{kty: EC, crv: P-256, kid: {kid}, x: '{x}', y: '{y}'}}");
        Self { signing: EncodingKey::from_ec_der(pkcs8.as_ref()), jwk }
    }

    fn token(&self, kid: Option<&str>, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &self.signing).unwrap()
    }
}

/// An RSA key pair made by `openssl` for the run (ring signs with RSA keys but cannot make them):
/// the signing key and the public JWK as the reference document writes it (`kty: RSA`, `alg: RS256`).
struct RsaTestKey {
    signing: EncodingKey,
    jwk: String,
}

impl RsaTestKey {
    fn generate(kid: &str) -> Self {
        let openssl = |args: &[&str], input: &[u8]| {
            use std::io::Write;
            let mut child = std::process::Command::new("openssl")
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("openssl is installed by the test set-up");
            child.stdin.take().unwrap().write_all(input).unwrap();
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "openssl {args:?} failed");
            output.stdout
        };
        let pem = openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], b"");
        let pkcs1 = openssl(&["rsa", "-outform", "DER", "-traditional"], &pem);
        let modulus = String::from_utf8(openssl(&["rsa", "-noout", "-modulus"], &pem)).unwrap();
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap()).collect();
        let n = URL_SAFE_NO_PAD.encode(bytes);
        let jwk = format!("{{kty: RSA, e: AQAB, kid: {kid}, alg: RS256, n: '{n}'}}");
        Self { signing: EncodingKey::from_rsa_der(&pkcs1), jwk }
    }

    fn token(&self, kid: &str, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.signing).unwrap()
    }
}

/// The symmetric key of the HS256 plugin, kept in a Secret as a JWKS.
const SHARED_SECRET: &[u8] = b"a shared secret of at least 32 bytes!";

/// An HS256 token with `kid`.
fn shared_token(secret: &[u8], claims: serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("h1".to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn verifies_tokens_and_passes_claims_to_the_backend() {
    let backend = echo::start("orders").await;
    let canary = echo::start("canary").await;
    let (first, second) = (TestKey::generate("k1"), TestKey::generate("k2"));
    let (rsa, other_rsa) = (RsaTestKey::generate("r1"), RsaTestKey::generate("r1"));
    let plugins = format!(
        r#"---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: jwt}}
spec:
  jwtAuth:
    claimParameters:
    - {{claimName: userId, parameterName: X-User-Id, location: header}}
    - {{claimName: role, parameterName: role, location: query}}
    - {{claimName: userId, parameterName: uid, location: path}}
    jwks: [{}, {}, {}]
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: jwt-cookie}}
spec:
  jwtAuth: {{parameter: session, parameterLocation: cookie, bypassEmptyToken: true, ignoreExpirationCheck: true, claimParameters: [{{claimName: userId, parameterName: X-User-Id, location: header}}], jwk: {}}}
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: jwt-once}}
spec:
  jwtAuth: {{preventJtiReplay: true, jwk: {}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: shared-keys}}
stringData:
  jwks: '{{"keys": [{{"kty": "oct", "kid": "h1", "k": "{}"}}]}}'
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: jwt-shared}}
spec:
  jwtAuth: {{keySecretRef: {{name: shared-keys, key: jwks}}}}
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: errors-by-user}}
spec:
  errorMapping:
    parameters: {{status: StatusCode, user: "Token:userId"}}
    errorCondition: "$status = 500"
    defaultMapping: {{statusCode: 502, errorMessage: "failed for ${{user}}"}}
---
apiVersion: apigw.io/v1alpha1
kind: RoutingPlugin
metadata: {{name: users-ending-in-1}}
spec:
  parameters: {{userId: "Token:userId"}}
  routes:
  - {{name: canary, condition: "$userId like '%1'", backend: {{type: HTTP, address: 'http://{canary}'}}}}
"#,
        first.jwk,
        second.jwk.replace("kty: EC", "kty: EC, alg: ES256"),
        rsa.jwk,
        first.jwk,
        first.jwk,
        URL_SAFE_NO_PAD.encode(SHARED_SECRET)
    );
    let address = format!("{{type: HTTP, address: 'http://{backend}'}}");
    let manifests = [
        shop_group(""),
        plugins,
        shop_api(
            "orders",
            "{method: GET, path: /orders}",
            &format!("{{type: HTTP, address: 'http://{backend}', path: '/users/[uid]/orders'}}"),
        )
        .replace("type: ANONYMOUS", "type: JWT")
            + "  plugins: [{kind: Plugin, name: jwt}, {kind: RoutingPlugin, name: users-ending-in-1}]\n",
        shop_api("public", "{method: GET, path: /public}", &address)
            + "  plugins: [{kind: Plugin, name: jwt-cookie}]\n",
        shop_api("once", "{method: GET, path: /once}", &address) + "  plugins: [{kind: Plugin, name: jwt-once}]\n",
        shop_api(
            "failing",
            "{method: GET, path: /failing}",
            &format!("{{type: HTTP, address: 'http://{backend}', path: /__status/500}}"),
        ) + "  plugins: [{kind: Plugin, name: jwt}, {kind: Plugin, name: errors-by-user}]\n",
        shop_api("shared", "{method: GET, path: /shared}", &address)
            + "  plugins: [{kind: Plugin, name: jwt-shared}]\n",
    ]
    .concat();
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    let get = |path: &'static str, headers: Vec<(&'static str, String)>| {
        let client = &client;
        let gateway = &gateway;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
            client.get(gateway.http, "shop.example.com", path, &headers).await
        }
    };
    let bearer = |token: String| vec![("authorization", format!("Bearer {token}"))];
    let claims = serde_json::json!({"userId": "u-42", "role": "admin", "exp": now() + 600});

    let missing = get("/orders", vec![]).await;
    assert_eq!((missing.status.as_u16(), missing.header("x-ca-error-code")), (401, "A401MT"), "{missing:?}");

    let by_first = get("/orders", bearer(first.token(Some("k1"), claims.clone()))).await;
    assert_eq!(by_first.status, 200, "{by_first:?}");
    let seen = by_first.json();
    assert_eq!(seen["headers"]["x-user-id"], "u-42");
    assert!(seen["headers"].get("authorization").is_none(), "the token the gateway checked is not forwarded");
    assert_eq!(seen["query"], "role=admin");
    assert_eq!(seen["backend"], "orders");
    assert_eq!(seen["path"], "/users/u-42/orders", "a claim fills the backend path");
    let grey = serde_json::json!({"userId": "u-41", "exp": now() + 600});
    let routed = get("/orders", bearer(first.token(Some("k1"), grey))).await;
    assert_eq!(routed.json()["backend"], "canary", "Token:userId routes users ending in 1: {routed:?}");

    let mut twice = bearer(first.token(Some("k1"), claims.clone()));
    twice.extend(bearer(second.token(Some("k2"), serde_json::json!({"userId": "u-1", "exp": now() + 600}))));
    let twice = get("/orders", twice).await;
    assert_eq!((twice.status.as_u16(), twice.header("x-ca-error-code")), (400, "A400DH"), "two tokens: {twice:?}");

    let by_second = get("/orders", bearer(second.token(Some("k2"), claims.clone()))).await;
    assert_eq!(by_second.status, 200, "{by_second:?}");
    let without_kid = get("/orders", bearer(second.token(None, claims.clone()))).await;
    assert_eq!(without_kid.status, 200, "a token without kid tries every key: {without_kid:?}");

    let by_rsa = get("/orders", bearer(rsa.token("r1", claims.clone()))).await;
    assert_eq!(
        (by_rsa.status.as_u16(), by_rsa.json()["headers"]["x-user-id"].as_str()),
        (200, Some("u-42")),
        "RS256 beside ES256"
    );
    let other_rsa = get("/orders", bearer(other_rsa.token("r1", claims.clone()))).await;
    assert_eq!(other_rsa.header("x-ca-error-code"), "A401IT", "another RSA key's token: {other_rsa:?}");
    let wrong_key = get("/orders", bearer(second.token(Some("k1"), claims.clone()))).await;
    assert_eq!((wrong_key.status.as_u16(), wrong_key.header("x-ca-error-code")), (401, "A401IT"));
    assert!(wrong_key.header("x-ca-error-message").starts_with("Invalid Token: "), "{wrong_key:?}");

    let stale = serde_json::json!({"userId": "u-42", "exp": now() - 3600});
    let expired = get("/orders", bearer(first.token(Some("k1"), stale.clone()))).await;
    assert_eq!(expired.status, 401);
    assert!(expired.header("x-ca-error-message").contains("ExpiredSignature"), "{expired:?}");
    let garbage = get("/orders", bearer("not.a.token".to_owned())).await;
    assert_eq!((garbage.status.as_u16(), garbage.header("x-ca-error-code")), (401, "A401IT"));

    let anonymous = get("/public", vec![]).await;
    assert_eq!(anonymous.status, 200, "bypassEmptyToken lets a request without a token through");
    assert_eq!(anonymous.json()["headers"]["x-user-id"], serde_json::Value::Null);
    let cookie = vec![("cookie", format!("theme=dark; session={}", first.token(None, stale)))];
    let from_cookie = get("/public", cookie).await;
    assert_eq!(from_cookie.status, 200, "ignoreExpirationCheck: {from_cookie:?}");
    assert_eq!(from_cookie.json()["headers"]["x-user-id"], "u-42");
    assert_eq!(from_cookie.json()["headers"]["cookie"], "theme=dark", "the token cookie is not forwarded, the rest is");
    let forged = vec![("cookie", format!("session={}", second.token(None, claims.clone())))];
    assert_eq!(get("/public", forged).await.status, 401, "a present token is still verified");

    let failed = get("/failing", bearer(first.token(Some("k1"), claims.clone()))).await;
    assert_eq!(
        (failed.status.as_u16(), failed.header("x-ca-error-message")),
        (502, "failed for u-42"),
        "Token: in the error-mapping phase reads the verified claim"
    );

    let single_use = first.token(None, serde_json::json!({"jti": "t-1", "exp": now() + 600}));
    let first_use = get("/once", bearer(single_use.clone())).await;
    assert_eq!(first_use.status, 200, "{first_use:?}");
    let replayed = get("/once", bearer(single_use)).await;
    assert_eq!((replayed.status.as_u16(), replayed.header("x-ca-error-code")), (401, "A401TR"), "{replayed:?}");
    let without_id = get("/once", bearer(first.token(None, serde_json::json!({"exp": now() + 600})))).await;
    assert_eq!(without_id.header("x-ca-error-message"), "Invalid Token: preventJtiReplay needs a jti claim");

    let symmetric = get("/shared", bearer(shared_token(SHARED_SECRET, claims.clone()))).await;
    assert_eq!(symmetric.status, 200, "HS256 with the Secret's key: {symmetric:?}");
    let other_secret = get("/shared", bearer(shared_token(b"another secret of at least 32 bytes", claims))).await;
    assert_eq!(other_secret.header("x-ca-error-code"), "A401IT");
}

/// The reference document's grey release by JWT claim (examples/grey-release/2-by-jwt-claim.yaml
/// with an RS256 key of this run, the document's key type): users whose `userId` ends in 0 or 1 reach the new backend.
#[tokio::test(flavor = "multi_thread")]
async fn grey_release_by_user_sends_a_fifth_of_1000_users_to_the_new_backend() {
    let (stable, new) = (echo::start("stable").await, echo::start("new").await);
    let key = RsaTestKey::generate("showJwt");
    let manifests = format!(
        r#"{group}---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: jwt}}
spec:
  jwtAuth: {{parameter: X-Token, claimParameters: [{{claimName: userId, parameterName: userId, location: query}}], jwk: {jwk}}}
---
apiVersion: apigw.io/v1alpha1
kind: RoutingPlugin
metadata: {{name: user-id-grey}}
spec:
  parameters: {{userId: "Token:userId"}}
  routes:
  - {{name: userIdGrey, condition: "$userId like '%0' or $userId like '%1'", backend: {{type: HTTP, address: 'http://{new}'}}}}
{api}  plugins: [{{kind: Plugin, name: jwt}}, {{kind: RoutingPlugin, name: user-id-grey}}]
"#,
        group = shop_group(""),
        jwk = key.jwk,
        api = shop_api(
            "web-by-user",
            "{method: GET, path: /web/user}",
            &format!("{{type: HTTP, address: 'http://{stable}'}}")
        )
        .replace("type: ANONYMOUS", "type: JWT"),
    );
    let gateway = GatewayProcess::start(&manifests, &[]);
    let client = TestClient::http1();
    let mut to_new = 0;
    for user in 0..1000 {
        let token = key.token("showJwt", serde_json::json!({"userId": format!("{user}"), "exp": now() + 600}));
        let answer = client.get(gateway.http, "shop.example.com", "/web/user", &[("x-token", &token)]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let seen = answer.json();
        assert_eq!(seen["query"], format!("userId={user}"), "the claim reaches the backend");
        let on_new = seen["backend"] == "new";
        assert_eq!(on_new, user % 10 <= 1, "user {user} went to {}", seen["backend"]);
        to_new += usize::from(on_new);
    }
    println!("grey release by userId: {to_new} of 1000 users on the new backend");
    assert_eq!(to_new, 200);
}
