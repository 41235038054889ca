//! The one per-request context of the phases after routing: who called and how, what matched,
//! the checked parameters, the App and token, the route taken. Access control and routing
//! conditions, the backend request and the system parameters all read it.

use std::borrow::Cow;
use std::sync::OnceLock;

use apigw_core::resources::SystemParameterName;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};

use super::Connection;
use crate::config::api::CompiledApi;
use crate::config::apps::AppEntry;
use crate::plugins::jwt_auth::Verified;
use crate::plugins::routing::CompiledRoute;

/// A routed, authenticated request whose parameters passed their checks.
pub struct RequestContext<'a> {
    /// The connection it came on (client, TLS, internal listener, self-invocation hops).
    pub connection: &'a Connection,
    /// `X-Ca-Request-Id`.
    pub request_id: &'a HeaderValue,
    /// The gateway's id, for `Via` and `CaProxy`.
    pub gateway_id: &'a HeaderValue,
    /// The instance name, for `CaInstanceId`.
    pub instance: &'a str,
    /// The host the client called, without port.
    pub host: &'a str,
    /// The `Host` header as sent (port included), for `X-Forwarded-Host`.
    pub host_header: Option<&'a HeaderValue>,
    /// The Api it was routed to.
    pub api: &'a CompiledApi,
    /// The client's method.
    pub method: &'a Method,
    /// The (normalised) request path.
    pub path: &'a str,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// What a trailing `*` of the Api path matched.
    pub rest: &'a str,
    /// Path parameter values by position, still percent-encoded.
    pub path_values: &'a [&'a str],
    /// Every declared parameter's value, in declaration order (`None`: absent, no default).
    pub values: Vec<Option<Cow<'a, str>>>,
    /// The client's body, when the gateway read it.
    pub body: Option<&'a Bytes>,
    /// The authenticated App, for `CaAppId` and `CaAppKey`.
    pub app: Option<&'a AppEntry>,
    /// The verified JWT (empty without jwtAuth).
    pub token: &'a Verified,
    /// The user a basicAuth plugin authenticated.
    pub basic_user: Option<&'a str>,
    /// The route the routing plugin took, if any.
    pub route: Option<&'a CompiledRoute>,
    /// `CaRequestHandleTime`, made when first read.
    pub handle_time: OnceLock<String>,
}

impl<'a> RequestContext<'a> {
    /// The time the request is handled (RFC 1123, GMT), as `CaRequestHandleTime` gives it.
    pub fn handle_time(&self) -> &str {
        self.handle_time.get_or_init(|| httpdate::fmt_http_date(std::time::SystemTime::now()))
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.connection.tls { "https" } else { "http" }
    }

    /// A declared parameter's value by its client-side name (`Parameter:x` in conditions).
    pub fn declared(&self, name: &str) -> Option<&str> {
        let index = self.api.parameters.iter().position(|parameter| parameter.check.name() == name)?;
        self.values.get(index)?.as_deref()
    }

    /// The value of system parameter `name`, with `headers` the request's: the one place each
    /// is made, for conditions and for the backend alike.
    pub fn system<'s>(&'s self, name: SystemParameterName, headers: &'s HeaderMap) -> Option<&'s str> {
        let app = self.app;
        match name {
            SystemParameterName::CaClientIp => self.connection.client.header.to_str().ok(),
            SystemParameterName::CaDomain => Some(self.host),
            SystemParameterName::CaRequestHandleTime => Some(self.handle_time()),
            SystemParameterName::CaRequestId => self.request_id.to_str().ok(),
            SystemParameterName::CaHttpSchema => Some(self.scheme()),
            SystemParameterName::CaProxy => self.gateway_id.to_str().ok(),
            SystemParameterName::CaApiName => Some(self.api.name.as_str()),
            SystemParameterName::CaClientUa => headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok()),
            SystemParameterName::CaStage => Some(self.api.stage.as_str()),
            SystemParameterName::CaInstanceId => Some(self.instance),
            SystemParameterName::CaAppId => app.map(|app| app.app_id.as_str()),
            SystemParameterName::CaAppKey => app.map(|app| app.app_key.as_str()),
            SystemParameterName::CaBasicAuthUser => self.basic_user,
        }
    }
}
