//! The CORS plugin: preflight requests answered by the gateway, and the allow headers on every
//! response to an allowed origin.

use apigw_core::config::NamedPlugin;
use apigw_core::resources::Cors;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};

use crate::backend::ClientBody;

/// A CORS plugin, compiled.
#[derive(Debug)]
pub struct CompiledCors {
    origins: Vec<Origin>,
    methods: HeaderValue,
    headers: String,
    expose: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

#[derive(Debug)]
enum Origin {
    Any,
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com`.
    Suffix(String),
}

impl CompiledCors {
    /// Compiles a config.
    pub fn compile(config: &NamedPlugin<Cors>) -> Result<Self, String> {
        let spec = &config.spec;
        let origins = spec
            .allow_origins
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| match origin {
                "*" => Origin::Any,
                origin if origin.contains("*.") => Origin::Suffix(origin.replacen("*.", ".", 1).to_ascii_lowercase()),
                origin => Origin::Exact(origin.trim_end_matches('/').to_ascii_lowercase()),
            })
            .collect();
        let value = |text: &str| HeaderValue::try_from(text).map_err(|e| format!("{text:?}: {e}"));
        Ok(Self {
            origins,
            methods: value(&spec.allow_methods)?,
            headers: spec.allow_headers.clone(),
            expose: spec.expose_headers.as_deref().map(value).transpose()?,
            credentials: spec.allow_credentials,
            max_age: spec.max_age.map(HeaderValue::from),
        })
    }

    /// The `Access-Control-Allow-Origin` for `origin`, or `None` when it is not allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let text = origin.to_str().ok()?.to_ascii_lowercase();
        let host = text.split_once("://").map_or(text.as_str(), |(_, host)| host);
        let host = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(host, _)| host);
        let allowed = self.origins.iter().any(|pattern| match pattern {
            Origin::Any => true,
            Origin::Exact(exact) => *exact == text,
            Origin::Suffix(suffix) => host.ends_with(suffix.as_str()) || text.ends_with(suffix.as_str()),
        });
        match allowed {
            false => None,
            // With credentials a browser refuses `*`: the origin is echoed instead.
            true if self.credentials || !self.origins.iter().any(|pattern| matches!(pattern, Origin::Any)) => {
                Some(origin.clone())
            }
            true => Some(HeaderValue::from_static("*")),
        }
    }

    /// The answer to a preflight from `origin` (204 with the allow headers, or 403 when the
    /// origin is not allowed).
    pub fn preflight(&self, origin: &HeaderValue, request: &HeaderMap) -> Response<ClientBody> {
        let mut response = Response::new(Either::Right(Full::new(Bytes::new())));
        let Some(allowed) = self.allow_origin(origin) else {
            *response.status_mut() = StatusCode::FORBIDDEN;
            return response;
        };
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        let requested = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
        let allow_headers = match (self.headers.trim(), requested) {
            ("*", Some(requested)) => Some(requested),
            ("*", None) | ("", _) => None,
            (list, _) => HeaderValue::try_from(list).ok(),
        };
        if let Some(allow_headers) = allow_headers {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        }
        if let Some(max_age) = &self.max_age {
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        if self.credentials {
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        response
    }

    /// Adds the allow headers to a response to `origin`.
    pub fn decorate(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        let Some(allowed) = self.allow_origin(origin) else { return };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        if self.credentials {
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(expose) = &self.expose {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(spec: serde_json::Value) -> CompiledCors {
        let spec = serde_json::from_value(spec).expect("a cors spec");
        CompiledCors::compile(&NamedPlugin { plugin: "test".into(), spec }).expect("it compiles")
    }

    fn origin(text: &'static str) -> HeaderValue {
        HeaderValue::from_static(text)
    }

    #[test]
    fn preflights_from_listed_origins_get_the_allow_headers_and_others_403() {
        let cors = compile(serde_json::json!({
            "allowOrigins": "https://app.example.com, *.foo.com", "allowHeaders": "*",
            "allowCredentials": true, "maxAge": 600
        }));
        let mut request = HeaderMap::new();
        request.insert(header::ACCESS_CONTROL_REQUEST_HEADERS, origin("x-token"));
        let allowed = cors.preflight(&origin("https://a.foo.com:8443"), &request);
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
        let headers = allowed.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://a.foo.com:8443", "echoed with credentials");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], "x-token", "`*` allows what was asked");
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(cors.preflight(&origin("https://APP.example.com"), &request).status(), StatusCode::NO_CONTENT);
        assert_eq!(cors.preflight(&origin("https://evil.com"), &request).status(), StatusCode::FORBIDDEN);
        assert_eq!(cors.preflight(&origin("https://foo.com.evil.com"), &request).status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn responses_to_allowed_origins_are_decorated() {
        let any = compile(serde_json::json!({"allowOrigins": "*", "exposeHeaders": "X-Ca-Request-Id"}));
        let mut headers = HeaderMap::new();
        any.decorate(&origin("https://x.example"), &mut headers);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "no credentials: a wildcard");
        assert_eq!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS], "X-Ca-Request-Id");
        let one = compile(serde_json::json!({"allowOrigins": "https://app.example.com"}));
        let mut untouched = HeaderMap::new();
        one.decorate(&origin("https://other.example"), &mut untouched);
        assert!(untouched.is_empty());
    }
}
