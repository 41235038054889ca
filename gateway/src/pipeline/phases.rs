//! The phases of [`Gateway::serve`], in the order they run: accept the head (one normalised
//! path, one host), answer a CORS preflight, route to an Api, identify the caller (APP
//! signatures on the head alone), read the body when something needs it, authenticate (the
//! signature over the body, nonces), verify a JWT, basic authentication, IP control, traffic
//! control, remote authentication (in `serve`), then access control and the routing plugin,
//! which pick the backend, and the circuit breaker, which may answer instead of it. (The cache's
//! phases are in [`super::cache`].)

use std::borrow::Cow;

use apigw_core::resources::{AuthType, Protocol, SystemParameterName};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};

use super::auth::{self, Identity};
use super::context::RequestContext;
use super::request::{content_length, request_host, with_path};
use super::{Connection, Exchange, Gateway, RequestBody, X_CA_ROUTING_NAME, X_CA_STAGE, target};
use crate::backend::ClientBody;
use crate::backend::target::CompiledBackend;
use crate::body::NetworkBody;
use crate::config::api::CompiledApi;
use crate::config::apps::AppEntry;
use crate::config::live::Loaded;
use crate::config::route_table::{DEFAULT_STAGE, RouteMatch};
use crate::error::GatewayError;
use crate::plugins::circuit_breaker::{Admission, Change, Outcome};
use crate::plugins::error_mapping::CompiledErrorMapping;
use crate::plugins::jwt_auth::Verified;
use crate::plugins::parameters::RequestInputs;
use crate::plugins::routing::CompiledRoute;

/// The circuit breaker's states, as its metric gives them.
const BREAKER_CLOSED: i64 = 0;
const BREAKER_OPEN: i64 = 1;
const BREAKER_HALF_OPEN: i64 = 2;

impl Gateway {
    /// Accept: the path normalised once for everything after (router, plugins, signature,
    /// backend), and the one host the request names.
    #[inline]
    pub(super) fn accept(&self, parts: &mut Parts) -> Result<Option<HeaderValue>, GatewayError> {
        if let Cow::Owned(path) = target::normalize_path(parts.uri.path(), self.settings.escaped_slashes)? {
            parts.uri = with_path(&parts.uri, &path)?;
        }
        request_host(parts)
    }

    /// Identify: who an APP-authenticated Api's caller is, from the head alone, so that an
    /// unauthenticated caller never makes the gateway read a body.
    pub(super) fn identify(
        &self,
        api: &CompiledApi,
        loaded: &Loaded,
        parts: &Parts,
    ) -> Result<Option<Identity>, GatewayError> {
        match api.auth.kind {
            AuthType::App => Ok(Some(auth::identify(api, &loaded.apps, parts, self.settings.force_nonce_check)?)),
            _ => Ok(None),
        }
    }

    /// The body: read whole when a plugin, a function backend or the signature needs it (within
    /// the size limit), else left to stream to the backend.
    pub(super) async fn request_body(
        &self,
        api: &CompiledApi,
        identified: bool,
        parts: &Parts,
        body: RequestBody,
    ) -> Result<(Option<Bytes>, Option<NetworkBody>), GatewayError> {
        let reads_body = api.reads_body
            || matches!(api.backend, CompiledBackend::Function(_))
            || (identified && auth::needs_body(parts));
        match body {
            RequestBody::Buffered(bytes) if bytes.len() > self.settings.max_body_bytes => {
                Err(GatewayError::BodyTooLarge)
            }
            RequestBody::Buffered(bytes) => Ok((Some(bytes), None)),
            RequestBody::Network(body) if reads_body => Ok((Some(self.read_body(body).await?), None)),
            RequestBody::Network(_) if content_length(&parts.headers) > self.settings.max_body_bytes as u64 => {
                Err(GatewayError::BodyTooLarge)
            }
            RequestBody::Network(body) => Ok((None, Some(body))),
        }
    }

    /// Authenticate: the signature (over the form body when there is one) and its nonce.
    pub(super) async fn authenticate(
        &self,
        identity: Option<Identity>,
        parts: &Parts,
        read: Option<&Bytes>,
        exchange: &mut Exchange,
    ) -> Result<(), GatewayError> {
        match identity {
            Some(Identity::ByAppCode(app)) => exchange.app = Some(app),
            Some(Identity::ByKey { app, method }) => {
                let (app, replay) = auth::verify(app, method, parts, read)?;
                if let Some(replay) = replay
                    && !self.first_use(&self.nonces, &replay).await?
                {
                    return Err(GatewayError::NonceUsed);
                }
                exchange.app = Some(app);
            }
            None => {}
        }
        Ok(())
    }

    /// The jwtAuth plugin: the token verified and, with preventJtiReplay, its id used once.
    pub(super) async fn verify_token(
        &self,
        api: &CompiledApi,
        parts: &Parts,
        exchange: &mut Exchange,
    ) -> Result<Verified, GatewayError> {
        let token = match &api.jwt_auth {
            Some(jwt) => jwt.verify(&parts.headers, parts.uri.query())?,
            None => Verified::default(),
        };
        if let Some(replay) = &token.replay
            && !self.first_use(&self.token_ids, replay).await?
        {
            return Err(GatewayError::TokenReplayed);
        }
        if api.error_mapping.as_deref().is_some_and(CompiledErrorMapping::reads_token) {
            exchange.claims = token.claims.clone();
        }
        Ok(token)
    }

    /// The ipControl plugin, over the resolved client and the App.
    pub(super) fn ip_control(
        &self,
        api: &CompiledApi,
        connection: &Connection,
        parts: &Parts,
        exchange: &Exchange,
    ) -> Result<(), GatewayError> {
        let Some(ip_control) = &api.ip_control else { return Ok(()) };
        ip_control.check(connection.client.ip, &parts.headers, exchange.app.as_ref().map(|app| app.app_id.as_str()))
    }

    /// The circuit breaker: the backend, or the downgrade backend while the breaker is open
    /// (`503 D503CB` without one), and how the request was admitted.
    #[inline]
    pub(super) fn circuit_breaker<'a>(
        &self,
        api: &'a CompiledApi,
        backend: &'a CompiledBackend,
    ) -> Result<(&'a CompiledBackend, Admission), GatewayError> {
        let breaker = &api.circuit_breaker;
        match breaker.admit() {
            Admission::Open => Ok((breaker.downgrade.as_deref().ok_or(GatewayError::CircuitOpen)?, Admission::Open)),
            admission => {
                if admission == (Admission::Probe { first: true }) {
                    api.metrics.circuit_breaker(&self.metrics, BREAKER_HALF_OPEN);
                }
                Ok((backend, admission))
            }
        }
    }

    /// Tells the circuit breaker how an admitted backend call went.
    #[inline]
    pub(super) fn count_for_breaker(
        &self,
        api: &CompiledApi,
        admission: &Admission,
        result: &Result<http::Response<ClientBody>, GatewayError>,
    ) {
        let outcome = match result {
            Ok(response) => Outcome { status: response.status(), timed_out: false },
            Err(error) => Outcome { status: error.status(), timed_out: matches!(error, GatewayError::BackendTimeout) },
        };
        match api.circuit_breaker.record(admission, &outcome) {
            Some(Change::Opened) => api.metrics.circuit_breaker(&self.metrics, BREAKER_OPEN),
            Some(Change::Closed) => api.metrics.circuit_breaker(&self.metrics, BREAKER_CLOSED),
            None => {}
        }
    }

    /// The trafficControl plugin: the App's, its owner's and the Api's counters.
    pub(super) async fn traffic_control(&self, api: &CompiledApi, exchange: &Exchange) -> Result<(), GatewayError> {
        let Some(limits) = &api.traffic_control else { return Ok(()) };
        let app = exchange.app.as_deref();
        let checks = limits.checks(app.map(|app| app.app_id.as_str()), app.map(AppEntry::owner));
        self.count(&checks).await
    }
}

/// A CORS preflight, answered for the Api of the method it asks about.
#[inline]
pub(super) fn preflight(
    loaded: &Loaded,
    connection: &Connection,
    host: &str,
    parts: &Parts,
    exchange: &mut Exchange,
) -> Option<http::Response<ClientBody>> {
    if parts.method != http::Method::OPTIONS {
        return None;
    }
    let origin = parts.headers.get(header::ORIGIN)?;
    let requested = parts.headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?.to_str().ok()?.parse().ok()?;
    let found = loaded.table.lookup(connection.internal, host, &requested, parts.uri.path(), stage(parts)).ok()?;
    let cors = found.api.cors.as_ref()?;
    exchange.api = Some(found.api.clone());
    Some(cors.preflight(origin, &parts.headers))
}

/// Route: the Api of the host, method, `path` and stage, if it accepts the request's protocol.
#[inline]
pub(super) fn route<'l>(
    loaded: &'l Loaded,
    connection: &Connection,
    host: &str,
    parts: &Parts,
    path: &'l str,
    upgrade: bool,
) -> Result<RouteMatch<'l>, GatewayError> {
    let found = loaded.table.lookup(connection.internal, host, &parts.method, path, stage(parts))?;
    let (protocol, name) = match (upgrade, connection.tls) {
        (true, _) => (Protocol::Ws, "WS"),
        (false, true) => (Protocol::Https, "HTTPS"),
        (false, false) => (Protocol::Http, "HTTP"),
    };
    if !found.api.protocols.contains(&protocol) {
        return Err(GatewayError::UnsupportedProtocol(name));
    }
    Ok(found)
}

/// The stage a request asks for (`X-Ca-Stage`, default RELEASE).
fn stage(parts: &Parts) -> &str {
    parts.headers.get(X_CA_STAGE).and_then(|value| value.to_str().ok()).unwrap_or(DEFAULT_STAGE)
}

/// The accessControl plugin (which may refuse), then the routing plugin's route, if any holds.
pub(super) fn access_control_and_routing<'a>(
    context: &RequestContext<'a>,
    headers: &HeaderMap,
) -> Result<Option<&'a CompiledRoute>, GatewayError> {
    let api = context.api;
    if api.access_control.is_none() && api.routing.is_none() {
        return Ok(None);
    }
    let declared = |name: &str| context.declared(name);
    let system = |name: &str| context.system(SystemParameterName::from_name(name)?, headers);
    let inputs = RequestInputs {
        method: context.method,
        path: context.path,
        query: context.query,
        headers,
        declared: &declared,
        system: &system,
        body: context.body.map(|body| &body[..]),
        claims: &context.token.claims,
    };
    if let Some(access_control) = &api.access_control {
        access_control.check(&inputs).map_err(GatewayError::AccessDenied)?;
    }
    Ok(api.routing.as_ref().and_then(|routing| routing.select(&inputs)))
}

/// The backend a request goes to (the route's, or the Api's) and the headers it is sent with,
/// taken from the request; `X-Ca-Routing-Name` names the route, never the client's.
#[inline]
pub(super) fn backend_of<'a>(
    api: &'a CompiledApi,
    route: Option<&'a CompiledRoute>,
    request_headers: &mut HeaderMap,
) -> Result<(HeaderMap, &'a CompiledBackend), GatewayError> {
    let mut headers = std::mem::take(request_headers);
    headers.remove(X_CA_ROUTING_NAME);
    let Some(route) = route else { return Ok((headers, &api.backend)) };
    headers.insert(X_CA_ROUTING_NAME, route.name.clone());
    let backend = route
        .backend
        .as_ref()
        .ok_or_else(|| GatewayError::IncompleteRouteBackend(route.name.to_str().unwrap_or_default().to_owned()))?;
    Ok((headers, backend))
}
