//! The remoteAuth plugin (Alibaba's third-party authentication): before the backend, the
//! gateway asks the user's authentication service, with the request's values `authParameters`
//! names (and its path and body when asked), and goes on only when the answer meets
//! `successCondition` (default: a 2xx status). Headers of a successful answer named in
//! `authResponseHeaders` replace the client's on the backend request.
//!
//! An answer is remembered for `cachedTimeBySecond` by the SHA-256 of everything sent to the
//! service, so a remembered decision is always one the service made on the same input. A service
//! that cannot be reached, times out or answers what cannot be read gives `502 A502RA` or
//! `504 A504RA`: never a pass.

use std::time::Duration;

use apigw_core::condition::Condition;
use apigw_core::config::RemoteAuthConfig;
use apigw_core::resources::AuthParameterLocation;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use http_body_util::{Either, Full};
use sha2::{Digest, Sha256};

use crate::backend::call::{self, Outgoing};
use crate::backend::target::{CompiledBackend, Destination, HttpTarget};
use crate::body::read_limited;
use crate::error::{Denial, GatewayError};
use crate::plugins::answer::{self, Answered, Source};
use crate::state::remembered::{Key, Remembered};
use crate::telemetry::request_id::X_CA_REQUEST_ID;

/// The header carrying the request's path when `passThroughPath` is set (Alibaba's name).
pub const X_CA_REMOTE_AUTH_RAW_PATH: HeaderName = HeaderName::from_static("x-ca-remote-auth-raw-path");
/// The most answers remembered per Api and stage.
const MAX_REMEMBERED: usize = 10_000;
/// The largest answer body read, when a parameter reads it.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where a value is read from the client's request, or sent to the service.
#[derive(Debug)]
enum Place {
    Header(HeaderName),
    Query(String),
}

impl Place {
    fn compile(location: AuthParameterLocation, name: &str) -> Result<Self, String> {
        Ok(match location {
            AuthParameterLocation::Header => {
                Self::Header(HeaderName::try_from(name).map_err(|e| format!("header {name:?}: {e}"))?)
            }
            AuthParameterLocation::Query => Self::Query(name.to_owned()),
        })
    }
}

/// What the service decided, as remembered.
#[derive(Clone, Debug)]
enum Decision {
    /// Authenticated: the answer's headers for the backend.
    Passed(Vec<(HeaderName, HeaderValue)>),
    Refused,
}

/// A remoteAuth plugin, compiled.
#[derive(Debug)]
pub struct CompiledRemoteAuth {
    service: HttpTarget,
    method: Method,
    /// The address's own path, then `authUri.path`.
    path: String,
    pass_body: bool,
    pass_path: bool,
    trim_authorization: bool,
    values: Vec<(Place, Place)>,
    answer: Vec<(String, Source)>,
    success: Option<Condition>,
    forwarded: Vec<HeaderName>,
    refusal: Denial,
    remember_for: Duration,
    remembered: Remembered<Decision>,
}

impl CompiledRemoteAuth {
    /// Compiles the plugin; its service is compiled by `compile_service` (the Api's stage
    /// variables and VpcAccesses).
    pub fn compile(
        config: &RemoteAuthConfig,
        compile_service: impl FnOnce() -> Result<CompiledBackend, String>,
    ) -> Result<Self, String> {
        let spec = &config.spec;
        let service = match compile_service()? {
            CompiledBackend::Http(target) if !matches!(target.destination, Destination::SelfInvocation { .. }) => {
                target
            }
            _ => return Err("the authentication service must be an HTTP address or a VpcAccess".to_owned()),
        };
        let method = service.method.clone().unwrap_or(Method::GET);
        let path = format!("{}{}", service.base_path, spec.auth_uri.path.as_deref().unwrap_or("/"));
        let values = spec
            .auth_parameters
            .iter()
            .map(|value| {
                Ok((
                    Place::compile(value.source_location, &value.source_parameter_name)?,
                    Place::compile(value.target_location, &value.target_parameter_name)?,
                ))
            })
            .collect::<Result<_, String>>()?;
        let forwarded = spec
            .auth_response_headers
            .iter()
            .map(|name| HeaderName::try_from(name.as_str()).map_err(|e| format!("authResponseHeaders {name:?}: {e}")))
            .collect::<Result<_, String>>()?;
        let success = spec
            .success_condition
            .as_deref()
            .map(Condition::parse)
            .transpose()
            .map_err(|e| format!("successCondition: {e}"))?;
        let status = StatusCode::from_u16(spec.error_status_code.unwrap_or(401)).map_err(|e| e.to_string())?;
        let message = spec.error_message.clone().unwrap_or_else(|| "Remote Authentication Failed".to_owned());
        Ok(Self {
            service,
            method,
            path,
            pass_body: spec.pass_through_body,
            pass_path: spec.pass_through_path,
            trim_authorization: spec.trim_authorization_header_prefix,
            values,
            answer: answer::compile(&spec.parameters)?,
            success,
            forwarded,
            refusal: Denial { status, message, headers: Vec::new(), body: None },
            remember_for: Duration::from_secs(u64::from(spec.cached_time_by_second)),
            remembered: Remembered::new(MAX_REMEMBERED),
        })
    }

    /// Whether the request's body must be read whole (to be sent to the service).
    pub fn reads_body(&self) -> bool {
        self.pass_body
    }

    /// Asks the service about the request (or takes its remembered answer); on success, puts
    /// the answer's `authResponseHeaders` in `headers` in place of the client's.
    pub async fn authenticate(
        &self,
        uri: &Uri,
        headers: &mut HeaderMap,
        body: Option<&Bytes>,
        request_id: &HeaderValue,
    ) -> Result<(), GatewayError> {
        let body = body.filter(|_| self.pass_body);
        let mut outgoing = self.request(uri, headers, body);
        let key = (!self.remember_for.is_zero()).then(|| key_of(&outgoing, body));
        outgoing.headers.insert(X_CA_REQUEST_ID, request_id.clone());
        let decision = match key.as_ref().and_then(|key| self.remembered.get(key)) {
            Some(decision) => decision,
            None => {
                let decision = self.ask(outgoing).await?;
                if let Some(key) = key {
                    self.remembered.insert(key, decision.clone(), self.remember_for);
                }
                decision
            }
        };
        for name in &self.forwarded {
            headers.remove(name);
        }
        match decision {
            Decision::Passed(answered) => {
                for (name, value) in answered {
                    headers.append(name, value);
                }
                Ok(())
            }
            Decision::Refused => Err(GatewayError::RemoteAuthRefused(Box::new(self.refusal.clone()))),
        }
    }

    /// The request to the service: the values named, the path and `body` (when passed through).
    fn request(&self, uri: &Uri, client: &HeaderMap, body: Option<&Bytes>) -> Outgoing {
        let mut headers = HeaderMap::new();
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (source, target) in &self.values {
            let Some(value) = self.read(uri, client, source) else { continue };
            match target {
                Place::Header(name) => {
                    if let Ok(value) = HeaderValue::try_from(value) {
                        headers.append(name.clone(), value);
                    }
                }
                Place::Query(name) => {
                    query.append_pair(name, &value);
                }
            }
        }
        if self.pass_path
            && let Ok(path) = HeaderValue::try_from(uri.path())
        {
            headers.insert(X_CA_REMOTE_AUTH_RAW_PATH, path);
        }
        let body = match body {
            Some(body) => {
                if let Some(content_type) = client.get(header::CONTENT_TYPE) {
                    headers.insert(header::CONTENT_TYPE, content_type.clone());
                }
                body.clone()
            }
            None => Bytes::new(),
        };
        let query = query.finish();
        let path_and_query = if query.is_empty() { self.path.clone() } else { format!("{}?{query}", self.path) };
        Outgoing {
            method: self.method.clone(),
            path_and_query,
            headers,
            body: Either::Right(Full::new(body)),
            upgrade: false,
        }
    }

    /// A value of the client's request; from `Authorization`, without its scheme when
    /// `trimAuthorizationHeaderPrefix` is set.
    fn read(&self, uri: &Uri, headers: &HeaderMap, place: &Place) -> Option<String> {
        match place {
            Place::Header(name) => {
                let value = headers.get(name)?.to_str().ok()?;
                let trimmed = (self.trim_authorization && name == header::AUTHORIZATION)
                    .then(|| value.split_once(' ').map(|(_, credentials)| credentials.trim_start()))
                    .flatten();
                Some(trimmed.unwrap_or(value).to_owned())
            }
            Place::Query(name) => form_urlencoded::parse(uri.query()?.as_bytes())
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned()),
        }
    }

    /// Sends the request to the service and decides on its answer.
    async fn ask(&self, outgoing: Outgoing) -> Result<Decision, GatewayError> {
        let unavailable = |error: GatewayError| match error {
            GatewayError::BackendTimeout => GatewayError::AuthServiceTimeout,
            error => GatewayError::AuthServiceUnavailable(error.to_string()),
        };
        let answer = async {
            let response = call::call(&self.service, outgoing).await.result.map_err(unavailable)?;
            let (parts, body) = response.into_parts();
            let body = if answer::reads_body(&self.answer) {
                let read = read_limited(body, MAX_ANSWER_BYTES).await;
                Some(read.map_err(|error| GatewayError::AuthServiceUnavailable(format!("its answer: {error}")))?)
            } else {
                None
            };
            Ok::<_, GatewayError>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(self.service.timeout, answer)
            .await
            .map_err(|_| GatewayError::AuthServiceTimeout)??;
        let answered =
            Answered { status: parts.status, error_code: None, headers: &parts.headers, body: body.as_deref() };
        Ok(self.decide(&answered))
    }

    /// Whether `answered` authenticates the request, and the headers it gives the backend.
    fn decide(&self, answered: &Answered<'_>) -> Decision {
        let passed = match &self.success {
            Some(condition) => {
                let no_system = |_: &str| None;
                condition.evaluate(&answer::values(&self.answer, answered, &serde_json::Map::new(), &no_system))
            }
            None => answered.status.is_success(),
        };
        if !passed {
            return Decision::Refused;
        }
        let headers = self
            .forwarded
            .iter()
            .flat_map(|name| answered.headers.get_all(name).iter().map(move |value| (name.clone(), value.clone())))
            .collect();
        Decision::Passed(headers)
    }
}

/// What a decision is remembered by: everything sent to the service (before its request id).
fn key_of(outgoing: &Outgoing, body: Option<&Bytes>) -> Key {
    let mut digest = Sha256::new();
    digest.update(outgoing.path_and_query.as_bytes());
    for (name, value) in &outgoing.headers {
        digest.update([0]);
        digest.update(name.as_str().as_bytes());
        digest.update([1]);
        digest.update(value.as_bytes());
    }
    digest.update([2]);
    digest.update(body.map(|body| &body[..]).unwrap_or_default());
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::target::compile_backend;

    fn plugin(spec: serde_json::Value) -> CompiledRemoteAuth {
        let config: RemoteAuthConfig = serde_json::from_value(serde_json::json!({
            "plugin": "auth",
            "spec": spec,
            "service": {"type": "HTTP", "address": "http://127.0.0.1:9/base", "method": "POST",
                        "timeoutMs": 1000},
        }))
        .expect("a config");
        let service = || compile_backend(&config.service, &Default::default(), &Default::default());
        CompiledRemoteAuth::compile(&config, service).expect("it compiles")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (HeaderName::from_static(name), HeaderValue::from_static(value))).collect()
    }

    #[test]
    fn the_request_carries_the_values_named_the_path_and_the_body() {
        let plugin = plugin(serde_json::json!({
            "authUriType": "HTTP", "authUri": {"path": "/check"},
            "passThroughBody": true, "passThroughPath": true, "trimAuthorizationHeaderPrefix": true,
            "authParameters": [
                {"targetParameterName": "x-token", "sourceParameterName": "Authorization",
                 "targetLocation": "header", "sourceLocation": "header"},
                {"targetParameterName": "t", "sourceParameterName": "tenant",
                 "targetLocation": "query", "sourceLocation": "query"},
                {"targetParameterName": "x-absent", "sourceParameterName": "absent",
                 "targetLocation": "header", "sourceLocation": "query"},
            ],
        }));
        assert!(plugin.reads_body());
        let uri: Uri = "/orders/7?tenant=t%201&x=1".parse().unwrap();
        let client = headers(&[("authorization", "Bearer abc"), ("content-type", "text/plain")]);
        let body = Bytes::from_static(b"hi");
        let outgoing = plugin.request(&uri, &client, Some(&body));
        assert_eq!((&outgoing.method, outgoing.path_and_query.as_str()), (&Method::POST, "/base/check?t=t+1"));
        assert_eq!(outgoing.headers["x-token"], "abc", "the scheme trimmed");
        assert_eq!(outgoing.headers[X_CA_REMOTE_AUTH_RAW_PATH], "/orders/7");
        assert_eq!(outgoing.headers[header::CONTENT_TYPE], "text/plain");
        assert!(!outgoing.headers.contains_key("x-absent"), "an absent value is not sent");
        let other = plugin.request(&uri, &headers(&[("authorization", "Bearer abd")]), Some(&body));
        assert_ne!(key_of(&outgoing, Some(&body)), key_of(&other, Some(&body)), "remembered per value sent");
    }

    #[test]
    fn the_condition_decides_and_a_success_gives_its_headers() {
        let conditioned = plugin(serde_json::json!({
            "authUriType": "HTTP", "authUri": {},
            "parameters": {"status": "StatusCode", "ok": "BodyJsonField:$.ok"},
            "successCondition": "$status = 200 and $ok = 'yes'",
            "authResponseHeaders": ["x-user-id"],
        }));
        let answer = headers(&[("x-user-id", "alice"), ("x-other", "kept out")]);
        let decide = |plugin: &CompiledRemoteAuth, status: u16, body: &'static str| {
            let status = StatusCode::from_u16(status).unwrap();
            plugin.decide(&Answered { status, error_code: None, headers: &answer, body: Some(body.as_bytes()) })
        };
        let Decision::Passed(given) = decide(&conditioned, 200, r#"{"ok": "yes"}"#) else { panic!("refused") };
        assert_eq!(given, vec![(HeaderName::from_static("x-user-id"), HeaderValue::from_static("alice"))]);
        assert!(matches!(decide(&conditioned, 200, r#"{"ok": "no"}"#), Decision::Refused));
        assert!(matches!(decide(&conditioned, 201, r#"{"ok": "yes"}"#), Decision::Refused));
        let by_status = plugin(serde_json::json!({"authUriType": "HTTP", "authUri": {}}));
        assert!(matches!(decide(&by_status, 204, ""), Decision::Passed(_)), "any 2xx by default");
        assert!(matches!(decide(&by_status, 403, ""), Decision::Refused));
    }
}
