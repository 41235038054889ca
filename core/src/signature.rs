//! Alibaba's APP signature (摘要签名): the StringToSign of a request and its HMAC, byte-for-byte
//! as the official client SDKs build them (reference facts §1–2). Shared by the gateway, which
//! verifies, and by clients and tests, which sign.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use crate::resources::SignatureMethod;

/// The parts of a request that are signed.
#[derive(Clone, Debug, Default)]
pub struct SignedParts<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// `Accept`, `Content-MD5`, `Content-Type` and `Date` (empty when absent).
    pub accept: &'a str,
    /// `Content-MD5`.
    pub content_md5: &'a str,
    /// `Content-Type`.
    pub content_type: &'a str,
    /// `Date`.
    pub date: &'a str,
    /// The headers named in `X-Ca-Signature-Headers`, with the names exactly as listed there.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The path, path parameters already in place, not encoded.
    pub path: &'a str,
    /// Query parameters, decoded, in request order.
    pub query: Vec<(&'a str, &'a str)>,
    /// Fields of an urlencoded form body, decoded, in request order.
    pub form: Vec<(&'a str, &'a str)>,
}

/// The StringToSign: method, Accept, Content-MD5, Content-Type and Date lines, the signed headers
/// as `name:value` lines sorted by name, then the path with the query and form parameters sorted
/// by key (form wins over query, the first of repeated values counts, an empty value leaves the
/// key alone).
pub fn string_to_sign(parts: &SignedParts<'_>) -> String {
    let mut text = String::with_capacity(256);
    let upper;
    let method = if parts.method.bytes().any(|byte| byte.is_ascii_lowercase()) {
        upper = parts.method.to_ascii_uppercase();
        upper.as_str()
    } else {
        parts.method
    };
    for line in [method, parts.accept, parts.content_md5, parts.content_type, parts.date] {
        text.push_str(line);
        text.push('\n');
    }
    // Signers list them sorted, nearly always: then they need no copy.
    let sorted;
    let headers = if parts.headers.is_sorted_by(|a, b| java_order(a.0, b.0).is_le()) {
        &parts.headers
    } else {
        let mut headers = parts.headers.clone();
        headers.sort_by(|a, b| java_order(a.0, b.0));
        sorted = headers;
        &sorted
    };
    for &(name, value) in headers {
        text.push_str(name);
        text.push(':');
        text.push_str(value);
        text.push('\n');
    }
    text.push_str(parts.path);
    let mut parameters: BTreeMap<JavaKey<'_>, &str> = BTreeMap::new();
    for (key, value) in &parts.query {
        parameters.entry(JavaKey(key)).or_insert(value);
    }
    let mut form_seen: Vec<&str> = Vec::new();
    for (key, value) in &parts.form {
        if !form_seen.contains(key) {
            form_seen.push(key);
            parameters.insert(JavaKey(key), value);
        }
    }
    for (index, (key, value)) in parameters.iter().enumerate() {
        text.push(if index == 0 { '?' } else { '&' });
        text.push_str(key.0);
        if !value.is_empty() {
            text.push('=');
            text.push_str(value);
        }
    }
    text
}

/// Java's `String.compareTo`: UTF-16 code units, as the SDKs' `TreeMap` sorts.
fn java_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A key ordered as Java orders strings.
#[derive(PartialEq, Eq)]
struct JavaKey<'a>(&'a str);

impl PartialOrd for JavaKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for JavaKey<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        java_order(self.0, other.0)
    }
}

/// `Base64(HMAC(secret, stringToSign))`.
pub fn sign(method: SignatureMethod, secret: &[u8], string_to_sign: &str) -> String {
    SigningKey::new(secret).sign(method, string_to_sign).as_str().to_owned()
}

/// An App's secret keyed for both HMAC methods once (its inner and outer pads already hashed),
/// so that a signature costs only the hashing of its text.
#[derive(Clone)]
pub struct SigningKey {
    sha256: Hmac<sha2::Sha256>,
    sha1: Hmac<sha1::Sha1>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// The key of `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            sha256: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
            sha1: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    /// `Base64(HMAC(secret, string_to_sign))` with `method`.
    pub fn sign(&self, method: SignatureMethod, string_to_sign: &str) -> Signature {
        fn base64(digest: &[u8]) -> Signature {
            let mut signature = Signature { text: [0; 44], len: 0 };
            signature.len = BASE64.encode_slice(digest, &mut signature.text).expect("44 bytes hold a SHA-256 digest");
            signature
        }
        match method {
            SignatureMethod::HmacSHA256 => {
                let mut mac = self.sha256.clone();
                mac.update(string_to_sign.as_bytes());
                base64(&mac.finalize().into_bytes())
            }
            SignatureMethod::HmacSHA1 => {
                let mut mac = self.sha1.clone();
                mac.update(string_to_sign.as_bytes());
                base64(&mac.finalize().into_bytes())
            }
        }
    }
}

/// A signature's Base64 text, kept on the stack.
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    text: [u8; 44],
    len: usize,
}

impl Signature {
    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text[..self.len]).expect("Base64 is ASCII")
    }
}

/// The `Content-MD5` of a body: `Base64(MD5(body))`.
pub fn content_md5(body: &[u8]) -> String {
    BASE64.encode(Md5::digest(body))
}

/// Signs requests as an App, the way the official SDKs do: `X-Ca-Key`, `X-Ca-Timestamp`,
/// `X-Ca-Nonce` and `X-Ca-Signature-Method` are signed, and listed in `X-Ca-Signature-Headers`.
#[derive(Clone, Copy, Debug)]
pub struct ClientSigner<'a> {
    /// The App's key.
    pub app_key: &'a str,
    /// The App's secret.
    pub app_secret: &'a [u8],
    /// The HMAC method.
    pub method: SignatureMethod,
}

/// What a client sends, as [`ClientSigner::headers`] signs it.
#[derive(Clone, Debug, Default)]
pub struct ClientRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// `Accept`, `Content-MD5`, `Content-Type` as sent (empty when not sent).
    pub accept: &'a str,
    /// `Content-MD5`.
    pub content_md5: &'a str,
    /// `Content-Type`.
    pub content_type: &'a str,
    /// The path, not encoded.
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: Vec<(&'a str, &'a str)>,
    /// Form fields, not encoded.
    pub form: Vec<(&'a str, &'a str)>,
    /// `X-Ca-Timestamp`, milliseconds since 1970.
    pub timestamp_ms: i64,
    /// `X-Ca-Nonce`.
    pub nonce: &'a str,
}

impl ClientSigner<'_> {
    fn method_name(&self) -> &'static str {
        match self.method {
            SignatureMethod::HmacSHA256 => "HmacSHA256",
            SignatureMethod::HmacSHA1 => "HmacSHA1",
        }
    }

    /// The signed `X-Ca-*` headers, in the order they are signed.
    fn signed<'h>(&'h self, request: &'h ClientRequest<'_>, timestamp: &'h str) -> [(&'h str, &'h str); 4] {
        [
            ("X-Ca-Key", self.app_key),
            ("X-Ca-Nonce", request.nonce),
            ("X-Ca-Signature-Method", self.method_name()),
            ("X-Ca-Timestamp", timestamp),
        ]
    }

    /// The StringToSign of `request` (what `-v` of `kubectl apigw curl` prints).
    pub fn string_to_sign(&self, request: &ClientRequest<'_>) -> String {
        let timestamp = request.timestamp_ms.to_string();
        string_to_sign(&SignedParts {
            method: request.method,
            accept: request.accept,
            content_md5: request.content_md5,
            content_type: request.content_type,
            date: "",
            headers: self.signed(request, &timestamp).to_vec(),
            path: request.path,
            query: request.query.clone(),
            form: request.form.clone(),
        })
    }

    /// The headers to add: the `X-Ca-*` ones, `X-Ca-Signature-Headers` and `X-Ca-Signature`.
    pub fn headers(&self, request: &ClientRequest<'_>) -> Vec<(String, String)> {
        let timestamp = request.timestamp_ms.to_string();
        let signed = self.signed(request, &timestamp);
        let mut headers: Vec<(String, String)> =
            signed.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        headers.push(("X-Ca-Signature-Headers".to_owned(), signed.map(|(name, _)| name).join(",")));
        headers.push(("X-Ca-Signature".to_owned(), sign(self.method, self.app_secret, &self.string_to_sign(request))));
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked POST example of the reference facts §2.
    fn post_example() -> SignedParts<'static> {
        SignedParts {
            method: "POST",
            accept: "application/json",
            content_md5: "",
            content_type: "application/x-www-form-urlencoded; charset=UTF-8",
            date: "Mon, 01 Jan 2024 00:00:00 GMT",
            headers: vec![
                ("X-Ca-Timestamp", "1704067200000"),
                ("X-Ca-Key", "203753385"),
                ("X-Ca-Signature-Method", "HmacSHA256"),
                ("X-Ca-Nonce", "c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44"),
            ],
            path: "/demo/post",
            query: vec![("b", "2"), ("a", "1")],
            form: vec![("c", "3"), ("d", "")],
        }
    }

    #[test]
    fn the_worked_post_example_signs_as_the_official_sdk() {
        let text = string_to_sign(&post_example());
        assert_eq!(
            text,
            "POST\napplication/json\n\napplication/x-www-form-urlencoded; charset=UTF-8\nMon, 01 Jan 2024 00:00:00 GMT\nX-Ca-Key:203753385\nX-Ca-Nonce:c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44\nX-Ca-Signature-Method:HmacSHA256\nX-Ca-Timestamp:1704067200000\n/demo/post?a=1&b=2&c=3&d"
        );
        assert_eq!(
            sign(SignatureMethod::HmacSHA256, b"demoSecret", &text),
            "Jwu05wnvEIL1GFpXMyd/lQc7CNdxvOpLiZ3rr9jttIA="
        );
        assert_eq!(sign(SignatureMethod::HmacSHA1, b"demoSecret", &text), "ztvDB6fJkI60W8Qls54sbE/LjoY=");
    }

    #[test]
    fn the_worked_get_example_signs_as_the_official_sdk() {
        let parts = SignedParts {
            method: "GET",
            accept: "application/json",
            headers: vec![
                ("X-Ca-Key", "203753385"),
                ("X-Ca-Nonce", "n-1"),
                ("X-Ca-Signature-Method", "HmacSHA256"),
                ("X-Ca-Timestamp", "1704067200000"),
            ],
            path: "/demo/get",
            ..SignedParts::default()
        };
        let text = string_to_sign(&parts);
        assert_eq!(
            text,
            "GET\napplication/json\n\n\n\nX-Ca-Key:203753385\nX-Ca-Nonce:n-1\nX-Ca-Signature-Method:HmacSHA256\nX-Ca-Timestamp:1704067200000\n/demo/get"
        );
        assert_eq!(
            sign(SignatureMethod::HmacSHA256, b"demoSecret", &text),
            "5Mk+35gYLvO9WLP6EmXpb9jRwbVnCU1llETfib5ZbM8="
        );
    }

    #[test]
    fn form_wins_over_query_and_the_first_repeat_counts() {
        let parts = SignedParts {
            method: "post",
            path: "/p",
            query: vec![("k", "query"), ("r", "first"), ("r", "second")],
            form: vec![("k", "form"), ("k", "form-again")],
            ..SignedParts::default()
        };
        assert!(string_to_sign(&parts).ends_with("POST\n\n\n\n\n/p?k=form&r=first"), "{}", string_to_sign(&parts));
    }

    #[test]
    fn the_client_signer_signs_the_get_example() {
        let signer =
            ClientSigner { app_key: "203753385", app_secret: b"demoSecret", method: SignatureMethod::HmacSHA256 };
        let request = ClientRequest {
            method: "GET",
            accept: "application/json",
            path: "/demo/get",
            timestamp_ms: 1_704_067_200_000,
            nonce: "n-1",
            ..ClientRequest::default()
        };
        let headers = signer.headers(&request);
        let value = |name: &str| headers.iter().find(|(header, _)| header == name).map(|(_, value)| value.as_str());
        assert_eq!(value("X-Ca-Signature"), Some("5Mk+35gYLvO9WLP6EmXpb9jRwbVnCU1llETfib5ZbM8="));
        assert_eq!(value("X-Ca-Signature-Headers"), Some("X-Ca-Key,X-Ca-Nonce,X-Ca-Signature-Method,X-Ca-Timestamp"));
    }

    #[test]
    fn a_keyed_secret_signs_as_hmac_does_with_either_method_and_any_key_length() {
        let text = "The quick brown fox jumps over the lazy dog";
        let key = SigningKey::new(b"key");
        assert_eq!(key.sign(SignatureMethod::HmacSHA1, text).as_str(), "3nybhbi3iqa8ino29wqQcBydtNk=");
        assert_eq!(
            key.sign(SignatureMethod::HmacSHA256, text).as_str(),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
        assert_eq!(
            key.sign(SignatureMethod::HmacSHA256, text).as_str(),
            sign(SignatureMethod::HmacSHA256, b"key", text)
        );
        let long = SigningKey::new(&[b'k'; 100]);
        assert_eq!(
            long.sign(SignatureMethod::HmacSHA256, text).as_str(),
            "1UXryACFf0tzTL3DhxL+Im02qKw0acrWNlDlvIcs120="
        );
    }

    #[test]
    fn content_md5_matches_the_reference() {
        assert_eq!(content_md5(br#"{"a":1}"#), "u2y1xo30ZSlByvZSo2by2A==");
    }
}
