//! The backend-signature plugin: APIGW_FRONTEND signs the backend request like a client App (so
//! that another API, of this gateway or another, authenticates it); APIGW_BACKEND adds the
//! `X-Ca-Proxy-Signature*` headers for backends that verify the gateway (reference facts §4).

use apigw_core::config::BackendSignatureConfig;
use apigw_core::resources::{BackendSignatureType, SignatureMethod};
use apigw_core::signature::{ClientRequest, ClientSigner, sign};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use percent_encoding::percent_decode_str;

use crate::secrets::Secrets;

/// A backend-signature plugin with its credentials.
#[derive(Debug)]
pub struct BackendSigner {
    kind: BackendSignatureType,
    method: SignatureMethod,
    key: String,
    secret: Vec<u8>,
}

impl BackendSigner {
    /// Loads the credentials of `config` from `secrets`.
    pub fn compile(config: &BackendSignatureConfig, secrets: &Secrets) -> Result<Self, String> {
        let data = secrets.get(&config.secret).ok_or_else(|| format!("Secret {} is not available", config.secret))?;
        let (Some(key), Some(secret)) = (data.get("appKey"), data.get("appSecret")) else {
            return Err(format!("Secret {} needs appKey and appSecret", config.secret));
        };
        Ok(Self {
            kind: config.kind,
            method: config.signature_method,
            key: String::from_utf8_lossy(key).into_owned(),
            secret: secret.clone(),
        })
    }

    /// Signs a backend request in place: its method, path and query, headers and (when the
    /// gateway holds it) urlencoded form body. `nonce` must be unique (the request id is).
    pub fn sign(&self, method: &str, path_and_query: &str, headers: &mut HeaderMap, form: Option<&[u8]>, nonce: &str) {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let path = percent_decode_str(path).decode_utf8_lossy();
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let form: Vec<(String, String)> =
            form.map(|body| form_urlencoded::parse(body).into_owned().collect()).unwrap_or_default();
        let text = |name: header::HeaderName| {
            headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned()
        };
        let added: Vec<(String, String)> = match self.kind {
            BackendSignatureType::ApigwFrontend => {
                let signer = ClientSigner { app_key: &self.key, app_secret: &self.secret, method: self.method };
                let (accept, content_md5, content_type) =
                    (text(header::ACCEPT), text(HeaderName::from_static("content-md5")), text(header::CONTENT_TYPE));
                signer.headers(&ClientRequest {
                    method,
                    accept: &accept,
                    content_md5: &content_md5,
                    content_type: &content_type,
                    path: &path,
                    query: query.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect(),
                    form: form.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect(),
                    timestamp_ms: jiff::Timestamp::now().as_millisecond(),
                    nonce,
                })
            }
            BackendSignatureType::ApigwBackend => {
                let string_to_sign = proxy_string_to_sign(
                    method,
                    &text(HeaderName::from_static("content-md5")),
                    headers,
                    &path,
                    &query,
                    &form,
                );
                let names: Vec<String> = signed_proxy_headers(headers).into_iter().map(|(name, _)| name).collect();
                vec![
                    ("X-Ca-Proxy-Signature-Secret-Key".to_owned(), self.key.clone()),
                    ("X-Ca-Proxy-Signature-Headers".to_owned(), names.join(",")),
                    ("X-Ca-Proxy-Signature-Method".to_owned(), method_name(self.method).to_owned()),
                    ("X-Ca-Proxy-Signature".to_owned(), sign(self.method, &self.secret, &string_to_sign)),
                ]
            }
        };
        for (name, value) in added {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                headers.insert(name, value);
            }
        }
    }
}

fn method_name(method: SignatureMethod) -> &'static str {
    match method {
        SignatureMethod::HmacSHA256 => "HmacSHA256",
        SignatureMethod::HmacSHA1 => "HmacSHA1",
    }
}

/// The headers the gateway signs for the backend: every `x-ca-*` header it sends, lower-cased
/// and sorted.
fn signed_proxy_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ca-") && !name.as_str().starts_with("x-ca-proxy-signature"))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    signed.sort();
    signed.dedup_by(|a, b| a.0 == b.0);
    signed
}

/// The gateway-to-backend StringToSign: `Method\nContent-MD5\n`, the signed headers as
/// `name:value\n` (lower-cased, sorted), then the path with the query and form parameters sorted
/// by key (`key=value`, an empty value as `key=`).
pub fn proxy_string_to_sign(
    method: &str,
    content_md5: &str,
    headers: &HeaderMap,
    path: &str,
    query: &[(String, String)],
    form: &[(String, String)],
) -> String {
    let mut text = format!("{}\n{content_md5}\n", method.to_ascii_uppercase());
    for (name, value) in signed_proxy_headers(headers) {
        text.push_str(&format!("{name}:{value}\n"));
    }
    text.push_str(path);
    let mut parameters: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for (key, value) in query {
        parameters.entry(key).or_insert(value);
    }
    for (key, value) in form {
        parameters.insert(key, value);
    }
    for (index, (key, value)) in parameters.iter().enumerate() {
        text.push(if index == 0 { '?' } else { '&' });
        text.push_str(&format!("{key}={value}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(kind: &str) -> BackendSigner {
        let secrets: Secrets = [(
            "ns/backend".to_owned(),
            [("appKey", "k1"), ("appSecret", "s1")].map(|(k, v)| (k.to_owned(), v.into())).into(),
        )]
        .into();
        let config =
            serde_json::json!({"plugin": "sig", "type": kind, "secret": "ns/backend", "signatureMethod": "HmacSHA256"});
        BackendSigner::compile(&serde_json::from_value(config).expect("a config"), &secrets).expect("it compiles")
    }

    #[test]
    fn the_backend_form_signs_the_x_ca_headers_path_and_sorted_parameters() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ca-request-id", HeaderValue::from_static("r-1"));
        signer("APIGW_BACKEND").sign("post", "/a%20b?z=1&a=", &mut headers, Some(b"m=2"), "nonce");
        assert_eq!(headers["x-ca-proxy-signature-secret-key"], "k1");
        assert_eq!(headers["x-ca-proxy-signature-headers"], "x-ca-request-id");
        let text = proxy_string_to_sign(
            "post",
            "",
            &headers,
            "/a b",
            &[("z".into(), "1".into()), ("a".into(), "".into())],
            &[("m".into(), "2".into())],
        );
        assert_eq!(text, "POST\n\nx-ca-request-id:r-1\n/a b?a=&m=2&z=1");
        assert_eq!(headers["x-ca-proxy-signature"], sign(SignatureMethod::HmacSHA256, b"s1", &text).as_str());
    }

    #[test]
    fn the_frontend_form_signs_like_a_client_app_and_a_missing_secret_is_refused() {
        let mut headers = HeaderMap::new();
        signer("APIGW_FRONTEND").sign("GET", "/x", &mut headers, None, "n-1");
        assert_eq!(headers["x-ca-key"], "k1");
        assert_eq!(headers["x-ca-nonce"], "n-1");
        assert!(headers.contains_key("x-ca-signature"));
        let config = serde_json::json!({"plugin": "sig", "type": "APIGW_FRONTEND", "secret": "ns/none", "signatureMethod": "HmacSHA1"});
        let error = BackendSigner::compile(&serde_json::from_value(config).unwrap(), &Secrets::new()).unwrap_err();
        assert_eq!(error, "Secret ns/none is not available");
    }
}
