//! APP authentication: the caller's App by its AppCode where the Api accepts one, else by
//! `X-Ca-Key`, its signature checked over the same StringToSign the official SDKs build, the
//! timestamp within 15 minutes, the nonce never reused within 15 minutes, `Content-MD5` when
//! sent, and the App's authorization for the Api. Everything that needs no body is checked
//! first ([`identify`]), so an unauthenticated caller never makes the gateway read a body.

use std::sync::Arc;
use std::time::Duration;

use apigw_core::resources::{AppCodeMode, SignatureMethod};
use apigw_core::signature::{SignedParts, content_md5, string_to_sign};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use percent_encoding::percent_decode_str;

use super::credentials::APP_CODE_PARAMETERS;
use crate::body::is_form;
use crate::config::api::CompiledApi;
use crate::config::apps::{AppEntry, AppStore};
use crate::error::GatewayError;
use crate::state::replay::Replay;

/// How far `X-Ca-Timestamp` may be from now, and how long a nonce stays used.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(15 * 60);

/// `X-Ca-Key`: the App's key.
pub const X_CA_KEY: HeaderName = HeaderName::from_static("x-ca-key");
/// `X-Ca-Signature`.
pub const X_CA_SIGNATURE: HeaderName = HeaderName::from_static("x-ca-signature");
/// `X-Ca-Signature-Method`.
pub const X_CA_SIGNATURE_METHOD: HeaderName = HeaderName::from_static("x-ca-signature-method");
/// `X-Ca-Signature-Headers`: the headers signed.
pub const X_CA_SIGNATURE_HEADERS: HeaderName = HeaderName::from_static("x-ca-signature-headers");
const X_CA_TIMESTAMP: HeaderName = HeaderName::from_static("x-ca-timestamp");
const X_CA_NONCE: HeaderName = HeaderName::from_static("x-ca-nonce");
const CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");

/// Whether authenticating this request needs its body (form fields are signed; `Content-MD5`
/// is checked).
pub fn needs_body(parts: &Parts) -> bool {
    is_form(&parts.headers) || parts.headers.contains_key(CONTENT_MD5)
}

/// Headers that say who is calling and how it signed: each may be sent once, so that the App
/// authenticated and the App a backend reads are the same. In the order of [`AuthHeader`].
static AUTHENTICATION_HEADERS: [HeaderName; 8] = [
    X_CA_KEY,
    X_CA_SIGNATURE,
    X_CA_SIGNATURE_METHOD,
    X_CA_SIGNATURE_HEADERS,
    X_CA_TIMESTAMP,
    X_CA_NONCE,
    CONTENT_MD5,
    header::AUTHORIZATION,
];

/// One of [`AUTHENTICATION_HEADERS`], by its place there.
#[derive(Clone, Copy)]
enum AuthHeader {
    Key,
    Signature,
    SignatureMethod,
    SignatureHeaders,
    Timestamp,
    Nonce,
    ContentMd5,
    Authorization,
}

/// The place in [`AUTHENTICATION_HEADERS`] of the lowercase header name `name`.
fn auth_index(name: &[u8]) -> Option<usize> {
    let header = match name {
        b"x-ca-key" => AuthHeader::Key,
        b"x-ca-signature" => AuthHeader::Signature,
        b"x-ca-signature-method" => AuthHeader::SignatureMethod,
        b"x-ca-signature-headers" => AuthHeader::SignatureHeaders,
        b"x-ca-timestamp" => AuthHeader::Timestamp,
        b"x-ca-nonce" => AuthHeader::Nonce,
        b"content-md5" => AuthHeader::ContentMd5,
        b"authorization" => AuthHeader::Authorization,
        _ => return None,
    };
    Some(header as usize)
}

/// The [`AUTHENTICATION_HEADERS`] of a request and the names `X-Ca-Signature-Headers` lists,
/// found in one pass over its headers (a lookup each would hash the names again and again).
struct AuthHeaders<'a> {
    headers: &'a HeaderMap,
    /// The first value of each, by its place in [`AUTHENTICATION_HEADERS`], and how often it came.
    found: [(Option<&'a HeaderValue>, u8); 8],
    /// The names listed in `X-Ca-Signature-Headers`.
    signed: Vec<&'a str>,
}

impl<'a> AuthHeaders<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let mut found = [(None, 0u8); 8];
        for (name, value) in headers {
            if let Some(index) = auth_index(name.as_str().as_bytes()) {
                let (first, count) = &mut found[index];
                first.get_or_insert(value);
                *count = count.saturating_add(1);
            }
        }
        let list = found[AuthHeader::SignatureHeaders as usize].0.and_then(|value| value.to_str().ok());
        let signed = list.unwrap_or_default().split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
        Self { headers, found, signed }
    }

    /// The text of one of [`AUTHENTICATION_HEADERS`].
    fn text(&self, header: AuthHeader) -> Option<&'a str> {
        self.found[header as usize].0.and_then(|value| value.to_str().ok())
    }

    /// Whether `X-Ca-Signature-Headers` lists `name` (lowercase).
    fn lists(&self, name: &str) -> bool {
        self.signed.iter().any(|signed| signed.eq_ignore_ascii_case(name))
    }

    /// The value of `name` (as a signer lists it, in any case) and whether it came more than once.
    fn signed_value(&self, name: &str) -> (Option<&'a str>, bool) {
        let mut lowercase = [0u8; 32];
        let known = lowercase.get_mut(..name.len()).and_then(|lowercase| {
            lowercase.copy_from_slice(name.as_bytes());
            lowercase.make_ascii_lowercase();
            auth_index(lowercase)
        });
        match known {
            Some(index) => (self.found[index].0.and_then(|value| value.to_str().ok()), self.found[index].1 > 1),
            None => {
                let mut values = self.headers.get_all(name).iter();
                (values.next().and_then(|value| value.to_str().ok()), values.next().is_some())
            }
        }
    }

    /// The first authentication header, or header listed in `X-Ca-Signature-Headers`, that the
    /// request sends more than once.
    fn duplicated(&self) -> Option<&'static str> {
        if let Some(index) = self.found.iter().position(|(_, count)| *count > 1) {
            return Some(AUTHENTICATION_HEADERS[index].as_str());
        }
        let twice = self.signed.iter().any(|name| self.signed_value(name).1);
        twice.then_some("a header listed in X-Ca-Signature-Headers")
    }
}

/// Who a request to an APP-authenticated Api says it is, checked as far as can be without its
/// body: the App by AppCode (done), or by `X-Ca-Key` with its signature still to check.
pub enum Identity {
    /// Authenticated by AppCode and authorized.
    ByAppCode(Arc<AppEntry>),
    /// Known and authorized App, timestamp and nonce headers in order; the signature is
    /// checked by [`verify`], once the body it covers (if any) is read.
    ByKey {
        /// The App `X-Ca-Key` names.
        app: Arc<AppEntry>,
        /// The signature method the request uses.
        method: SignatureMethod,
    },
}

/// Identifies the caller from the request head alone (no body is read before this passes):
/// the AppCode, or `X-Ca-Key`, signature method, timestamp and nonce headers, and the App's
/// authorization for the Api. `force_nonce_check` applies where the Api leaves it unset.
pub fn identify(
    api: &CompiledApi,
    apps: &AppStore,
    parts: &Parts,
    force_nonce_check: bool,
) -> Result<Identity, GatewayError> {
    let found = AuthHeaders::of(&parts.headers);
    if let Some(duplicated) = found.duplicated() {
        return Err(GatewayError::DuplicateAuthHeader(duplicated));
    }
    if let Some(code) = app_code(api, parts, found.text(AuthHeader::Authorization)) {
        let app = apps.find_code(&code).ok_or(GatewayError::InvalidAppCode)?;
        return Ok(Identity::ByAppCode(authorized(app, api)?));
    }
    let app = found.text(AuthHeader::Key).and_then(|key| apps.find(key)).ok_or(GatewayError::InvalidAppKey)?;
    found.text(AuthHeader::Signature).filter(|signature| !signature.is_empty()).ok_or(GatewayError::EmptySignature)?;
    let method = match found.text(AuthHeader::SignatureMethod) {
        None | Some("HmacSHA256") => SignatureMethod::HmacSHA256,
        Some("HmacSHA1") => SignatureMethod::HmacSHA1,
        Some(_) => return Err(GatewayError::InvalidSignatureMethod),
    };
    if !api.auth.signature_methods.contains(&method) {
        return Err(GatewayError::InvalidSignatureMethod);
    }
    if let Some(timestamp) = found.text(AuthHeader::Timestamp) {
        let millis: i64 = timestamp.trim().parse().map_err(|_| GatewayError::InvalidTimestamp)?;
        let now = jiff::Timestamp::now().as_millisecond();
        if millis.abs_diff(now) > REPLAY_WINDOW.as_millis() as u64 {
            return Err(GatewayError::TimestampExpired);
        }
    }
    if api.auth.force_nonce_check.unwrap_or(force_nonce_check) {
        if found.text(AuthHeader::Nonce).is_none_or(str::is_empty) {
            return Err(GatewayError::InvalidNonce);
        }
        if found.text(AuthHeader::Timestamp).is_none() || !found.lists("x-ca-nonce") || !found.lists("x-ca-timestamp") {
            return Err(GatewayError::UnsignedReplayHeaders);
        }
    }
    Ok(Identity::ByKey { app: authorized(app, api)?, method })
}

/// Checks the signature of a request identified by key (and its `Content-MD5`) over the
/// StringToSign of its head and, for a form, its `body`; returns the App and its nonce, which
/// the caller checks for replays.
pub fn verify(
    app: Arc<AppEntry>,
    method: SignatureMethod,
    parts: &Parts,
    body: Option<&Bytes>,
) -> Result<(Arc<AppEntry>, Option<Replay>), GatewayError> {
    let header = |name: &HeaderName| parts.headers.get(name).and_then(|value| value.to_str().ok());
    let found = AuthHeaders::of(&parts.headers);
    if let Some(sent) = found.text(AuthHeader::ContentMd5)
        && content_md5(body.map_or(&[][..], |body| body.as_ref())) != sent
    {
        return Err(GatewayError::InvalidContentMd5);
    }
    let path = percent_decode_str(parts.uri.path()).decode_utf8_lossy();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let form: Vec<(String, String)> = match body {
        Some(body) if is_form(&parts.headers) => form_urlencoded::parse(body).into_owned().collect(),
        _ => Vec::new(),
    };
    let signed_headers: Vec<(&str, &str)> =
        found.signed.iter().map(|&name| (name, found.signed_value(name).0.unwrap_or_default())).collect();
    let signed_over = |query: Vec<(&str, &str)>| {
        string_to_sign(&SignedParts {
            method: parts.method.as_str(),
            accept: header(&header::ACCEPT).unwrap_or_default(),
            content_md5: found.text(AuthHeader::ContentMd5).unwrap_or_default(),
            content_type: header(&header::CONTENT_TYPE).unwrap_or_default(),
            date: header(&header::DATE).unwrap_or_default(),
            headers: signed_headers.clone(),
            path: &path,
            query,
            form: form.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect(),
        })
    };
    let signature = found.text(AuthHeader::Signature).unwrap_or_default();
    let matches = |text: &str| constant_time_eq(app.key.sign(method, text).as_str().as_bytes(), signature.as_bytes());
    // The official SDKs sign query values decoded (the Java demo); the official Python demo signs
    // them as sent on the wire. Either is taken where the two differ.
    let text = signed_over(query.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect());
    if !matches(&text) {
        let wire: Vec<(&str, &str)> = raw_pairs(parts.uri.query().unwrap_or_default()).collect();
        let decoded_differs =
            wire.len() != query.len() || wire.iter().zip(&query).any(|((key, value), (k, v))| key != k || value != v);
        if !(decoded_differs && matches(&signed_over(wire))) {
            return Err(GatewayError::InvalidSignature(text));
        }
    }
    let replay = found
        .text(AuthHeader::Nonce)
        .map(|nonce| Replay { key: format!("nonce/{}/{nonce}", app.app_key), keep_for: REPLAY_WINDOW });
    Ok((app, replay))
}

/// A query's pairs as sent, not decoded (`a%20b=c+d` stays as it is).
fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

fn authorized(app: &Arc<AppEntry>, api: &CompiledApi) -> Result<Arc<AppEntry>, GatewayError> {
    if !app.may_call(api, jiff::Timestamp::now()) {
        return Err(GatewayError::Unauthorized);
    }
    Ok(app.clone())
}

/// The AppCode of a request, where the Api accepts one: `Authorization: APPCODE <code>`, and
/// with HEADER_QUERY also the query parameter `AppCode` (any of Alibaba's spellings).
fn app_code(api: &CompiledApi, parts: &Parts, authorization: Option<&str>) -> Option<String> {
    if api.auth.app_code == AppCodeMode::Disabled {
        return None;
    }
    let from_header = authorization
        .and_then(|value| value.trim().split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("APPCODE")))
        .map(|(_, code)| code.trim().to_owned());
    from_header.or_else(|| {
        (api.auth.app_code == AppCodeMode::HeaderQuery)
            .then(|| form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()))?
            .find(|(key, _)| APP_CODE_PARAMETERS.contains(&key.as_ref()))
            .map(|(_, code)| code.into_owned())
    })
}

/// Compares without stopping at the first difference, so the time taken says nothing of where
/// a forged signature goes wrong.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_authentication_header_is_found_by_its_name_in_any_case() {
        for (index, name) in AUTHENTICATION_HEADERS.iter().enumerate() {
            assert_eq!(auth_index(name.as_str().as_bytes()), Some(index), "{name}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(X_CA_SIGNATURE_HEADERS, HeaderValue::from_static("X-Ca-Key, x-ca-nonce,X-Custom"));
        headers.append(X_CA_KEY, HeaderValue::from_static("key"));
        headers.append(X_CA_NONCE, HeaderValue::from_static("n1"));
        headers.append(X_CA_NONCE, HeaderValue::from_static("n2"));
        headers.append("x-custom", HeaderValue::from_static("c"));
        let found = AuthHeaders::of(&headers);
        assert_eq!(found.signed, ["X-Ca-Key", "x-ca-nonce", "X-Custom"]);
        assert_eq!(found.signed_value("X-Ca-Key"), (Some("key"), false));
        assert_eq!(found.signed_value("X-CUSTOM"), (Some("c"), false));
        assert_eq!(found.signed_value("x-ca-nonce"), (Some("n1"), true));
        assert_eq!(found.duplicated(), Some("x-ca-nonce"));
        assert!(found.lists("x-ca-nonce") && !found.lists("x-ca-timestamp"));
    }
}
