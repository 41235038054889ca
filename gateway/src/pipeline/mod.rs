//! The request pipeline, in its fixed order: route (host, method, path, stage) -> protocol ->
//! parameters (extract, check, default) -> backend request (mapping, constants, system
//! parameters, X-Ca-* / X-Forwarded-* / Via headers) -> backend (HTTP, HTTP-VPC, FC or MOCK) ->
//! response (hop-by-hop headers removed, `X-Ca-Request-Id` added) -> metrics and access log.

mod auth;
mod cache;
pub mod client;
pub mod context;
mod credentials;
pub mod forward;
pub mod params;
mod phases;
mod request;
mod response;
pub mod target;
pub mod websocket;

use request::{normalize_host, response_system_parameters};
pub use response::error_response;
use response::{header_safe, mock_response};

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, sync::LazyLock, time::Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::{Either, Full, Limited};
use opentelemetry::KeyValue;
use percent_encoding::percent_decode_str;
use tracing::Instrument;

use crate::backend::ClientBody;
use crate::backend::target::{CompiledBackend, Destination, HttpTarget};
use crate::backend::{BackendClient, ProxyBody, call, function};
pub use crate::body::NetworkBody;
use crate::body::{ClientRequestBody, TimedBody, body_error, is_form, read_limited};
use crate::config::api::CompiledApi;
use crate::config::apps::AppEntry;
use crate::config::live::LiveConfig;
use crate::config::route_table::RouteMatch;
use crate::error::GatewayError;
use crate::http1::server::OnUpgrade;
use crate::pipeline::client::{Client, TrustedProxies};
use crate::plugins::answer::Answered;
use crate::plugins::error_mapping::CompiledErrorMapping;
use crate::plugins::traffic_control::{Checks, TrafficCounters};
use crate::state::replay::{NonceCache, Replay};
use crate::state::response_cache::ResponseCache;
use crate::state::shared::SharedState;
use crate::telemetry::access_log::{AccessLog, AccessRecord, Rfc3339Millis};
use crate::telemetry::metrics::{BackendErrorLabels, Metrics, RequestLabels};
use crate::telemetry::request_id::{self, X_CA_REQUEST_ID};
use crate::telemetry::traces::{Finished, RequestTrace, Tracing};
use context::RequestContext;

pub(crate) const X_CA_ERROR_MESSAGE: HeaderName = HeaderName::from_static("x-ca-error-message");
pub(crate) const X_CA_ERROR_CODE: HeaderName = HeaderName::from_static("x-ca-error-code");
const X_CA_STAGE: HeaderName = HeaderName::from_static("x-ca-stage");
const X_CA_ROUTING_NAME: HeaderName = HeaderName::from_static("x-ca-routing-name");

/// Settings of the pipeline that do not change with the config.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This gateway's id, sent in `Via` and as `CaProxy`.
    pub gateway_id: String,
    /// The instance served, sent as `CaInstanceId`.
    pub instance: String,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a client may send no byte of a body the gateway reads.
    pub body_read_timeout: std::time::Duration,
    /// What `%2F`, `%5C` and `\` in a request path do.
    pub escaped_slashes: target::EscapedSlashes,
    /// Whether signed requests must send and sign `X-Ca-Nonce` and `X-Ca-Timestamp` where an
    /// Api leaves `auth.forceNonceCheck` unset.
    pub force_nonce_check: bool,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The bytes the caching plugin may keep in this process.
    pub cache_bytes: usize,
}

/// The connection a request came on.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The TCP peer's address.
    pub peer: SocketAddr,
    /// The client: the peer, or the source its PROXY protocol header names; per request, the
    /// client behind trusted proxies ([`Settings::trusted_proxies`]).
    pub client: Client,
    /// Whether it is TLS.
    pub tls: bool,
    /// Whether it is the internal listener (self-invocation domains).
    pub internal: bool,
    /// Self-invocations this request went through in this process (0 from the network).
    pub hops: u8,
}

/// The most self-invocations one client request may go through; more is a loop.
pub const MAX_SELF_INVOCATION_HOPS: u8 = 5;

/// A request body: from the network (streamed when the API allows), or already in memory (a
/// self-invocation dispatched inside the process).
pub enum RequestBody {
    /// A client's body.
    Network(NetworkBody),
    /// A body read whole.
    Buffered(Bytes),
}

impl RequestBody {
    /// The client connection once upgraded, when the request came over HTTP/1.1 and asks to
    /// switch protocols.
    fn take_upgrade(&mut self) -> Option<OnUpgrade> {
        match self {
            Self::Network(body) => match body.get_mut() {
                Either::Right(body) => body.take_upgrade(),
                Either::Left(_) => None,
            },
            Self::Buffered(_) => None,
        }
    }
}

/// Everything a request needs: the live config, the backend client, metrics and the access log.
pub struct Gateway {
    /// The served config.
    pub live: LiveConfig,
    /// The metrics.
    pub metrics: Metrics,
    access_log: AccessLog,
    settings: Settings,
    gateway_id: HeaderValue,
    nonces: NonceCache,
    /// JWT ids seen (preventJtiReplay).
    token_ids: NonceCache,
    counters: TrafficCounters,
    /// Redis, when limits, nonces and JWT ids are shared by every pod (`--redis`).
    shared: Option<SharedState>,
    /// The caching plugin's answers.
    cache: ResponseCache,
    /// Distributed tracing (`--otlp-endpoint`).
    tracing: Option<Tracing>,
}

/// What is known about a request once it is handled, for metrics, the access log, error
/// mapping and CORS: kept beside [`RequestContext`], which borrows from the request and ends
/// before `respond` does.
#[derive(Default)]
struct Exchange {
    api: Option<Arc<CompiledApi>>,
    app: Option<Arc<AppEntry>>,
    backend_ms: f64,
    /// Backend tries after the first.
    retries: u8,
    /// The backend address the last try went to.
    backend: Option<http::uri::Authority>,
    /// `HIT` or `MISS` for an Api with the caching plugin.
    cache: &'static str,
    error_code: &'static str,
    /// The verified JWT's claims, kept only when error mapping reads them.
    claims: serde_json::Map<String, serde_json::Value>,
    /// The request's place in its trace, with tracing on.
    trace: Option<RequestTrace>,
}

impl Exchange {
    /// Records that the request reached phase `name` (on sampled traces).
    fn mark(&self, name: &'static str) {
        if let Some(trace) = &self.trace {
            trace.mark(name);
        }
    }
}

impl Gateway {
    /// A gateway with nothing loaded yet.
    pub fn new(settings: Settings, access_log: AccessLog) -> Self {
        let mut metrics = Metrics::default();
        if let Some(dropped) = access_log.dropped() {
            metrics.register_access_log(dropped);
        }
        Self {
            live: LiveConfig::default(),
            metrics,
            access_log,
            gateway_id: HeaderValue::try_from(settings.gateway_id.as_str())
                .unwrap_or(HeaderValue::from_static("apigw")),
            nonces: NonceCache::default(),
            token_ids: NonceCache::default(),
            counters: TrafficCounters::default(),
            shared: None,
            cache: ResponseCache::new(settings.cache_bytes),
            tracing: None,
            settings,
        }
    }

    /// The access log.
    pub fn access_log(&self) -> &AccessLog {
        &self.access_log
    }

    /// Traces requests with `tracing`.
    pub fn with_tracing(mut self, tracing: Tracing) -> Self {
        self.tracing = Some(tracing);
        self
    }

    /// Distributed tracing, when on.
    pub fn tracing(&self) -> Option<&Tracing> {
        self.tracing.as_ref()
    }

    /// Shares traffic-control counters, nonces and JWT ids through `shared` (Redis).
    pub fn with_shared_state(mut self, shared: SharedState) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Answers one request from the network.
    pub async fn handle(
        &self,
        request: Request<ClientRequestBody>,
        mut connection: Connection,
    ) -> Response<ClientBody> {
        let request_id = request_id::next();
        let timeout = self.settings.body_read_timeout;
        let mut request = request.map(|body| RequestBody::Network(TimedBody::new(body, timeout)));
        connection.client = self.settings.trusted_proxies.resolve(&connection.client, request.headers_mut());
        self.respond(request, connection, request_id).await
    }

    /// Counts a request against its traffic-control limits: in Redis when configured (cluster-wide),
    /// else (or when Redis fails open) on this pod.
    async fn count(&self, checks: &Checks<'_>) -> Result<(), GatewayError> {
        if let Some(shared) = &self.shared {
            // Boxed: the Redis call's state stays out of every request's future.
            match Box::pin(shared.count(&checks.windowed(), checks.window_seconds())).await? {
                Some(None) => return Ok(()),
                Some(Some(index)) => return Err(checks.refused(index)),
                None => {}
            }
        }
        checks.count_locally(&self.counters)
    }

    /// Whether `replay`'s key (a nonce, a JWT id) is used for the first time: in Redis
    /// when configured, else (or when Redis fails open) in this pod's `local` cache.
    async fn first_use(&self, local: &NonceCache, replay: &Replay) -> Result<bool, GatewayError> {
        if let Some(shared) = &self.shared
            && let Some(first) = Box::pin(shared.first_use(&replay.key, replay.keep_for)).await?
        {
            return Ok(first);
        }
        Ok(local.first_use(&replay.key, replay.keep_for))
    }

    /// Answers a self-invocation inside the process: the same pipeline, on the internal domains,
    /// under the request id of the client request it serves.
    fn invoke_self<'a>(
        &'a self,
        request: Request<RequestBody>,
        connection: Connection,
        request_id: HeaderValue,
    ) -> std::pin::Pin<Box<dyn Future<Output = Response<ClientBody>> + Send + 'a>> {
        Box::pin(self.respond(request, connection, request_id))
    }

    /// Answers one request, logging and counting it.
    async fn respond(
        &self,
        request: Request<RequestBody>,
        connection: Connection,
        request_id: HeaderValue,
    ) -> Response<ClientBody> {
        let started = Instant::now();
        // Cheap to keep: the method, the URI's shared bytes and the Host header's.
        let log = self.access_log.enabled().then(|| {
            let host = request.uri().authority().is_none().then(|| request.headers().get(header::HOST).cloned());
            let sent = request::content_length(request.headers());
            (request.method().clone(), request.uri().clone(), host.flatten(), sent)
        });
        let trace = self.tracing.as_ref().map(|tracing| {
            tracing.begin(request.headers(), connection.internal, || {
                let attributes = vec![
                    KeyValue::new("http.request.method", request.method().to_string()),
                    KeyValue::new("url.path", request.uri().path().to_owned()),
                    KeyValue::new("client.address", connection.client.ip.to_string()),
                    KeyValue::new("apigw.request_id", request_id.to_str().unwrap_or_default().to_owned()),
                ];
                (request.method().to_string(), attributes)
            })
        });
        let mut exchange = Exchange { trace, ..Exchange::default() };
        let origin = request.headers().get(header::ORIGIN).cloned();
        let traced_method = exchange.trace.as_ref().map(|_| request.method().clone());
        // A span per request at debug level: free when disabled, and with RUST_LOG=debug it ties
        // the request's log lines (backend errors, upgrades) to its id.
        let span =
            tracing::debug_span!("request", id = request_id.to_str().unwrap_or_default(), peer = %connection.peer);
        let served = self.serve(request, &connection, &request_id, &mut exchange).instrument(span).await;
        let mut response = match served {
            Ok(response) => response,
            Err(error) => {
                exchange.error_code = error.code();
                let failed_api = exchange.api.as_ref().filter(|_| error.is_backend_failure());
                if let Some(api) = failed_api {
                    self.metrics
                        .backend_errors
                        .get_or_create(&BackendErrorLabels {
                            namespace: api.namespace.clone(),
                            group: api.group.clone(),
                            api: api.name.clone(),
                            code: error.code(),
                        })
                        .inc();
                }
                let response = error_response(&error, request_id.to_str().unwrap_or_default());
                match failed_api.and_then(|api| Some((api, api.error_mapping.as_ref()?))) {
                    Some((api, mapping)) => {
                        let mapped = self
                            .map_errors(api, mapping, response, Some(error.code()), &exchange.claims, &request_id)
                            .await;
                        mapped.unwrap_or_else(|error| error_response(&error, request_id.to_str().unwrap_or_default()))
                    }
                    None => response,
                }
            }
        };
        response.headers_mut().insert(X_CA_REQUEST_ID, request_id.clone());
        if let (Some(origin), Some(cors)) = (&origin, exchange.api.as_ref().and_then(|api| api.cors.as_ref()))
            && !response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        {
            cors.decorate(origin, response.headers_mut());
        }
        let elapsed = started.elapsed().as_secs_f64();
        self.observe(&exchange, response.status(), elapsed);
        let trace_id = exchange.trace.as_ref().map(RequestTrace::trace_id);
        if let Some(trace) = exchange.trace.take() {
            let api = exchange.api.as_deref();
            trace.finish(&Finished {
                method: traced_method.as_ref().map_or("", http::Method::as_str),
                api: api.map_or(("", "", "", ""), |api| {
                    (api.name.as_str(), api.group.as_str(), api.stage.as_str(), api.namespace.as_str())
                }),
                app: exchange.app.as_ref().map_or("", |app| app.app_id.as_str()),
                status: response.status().as_u16(),
                error_code: exchange.error_code,
                retries: exchange.retries,
            });
        }
        if let Some((method, uri, host, request_bytes)) = log {
            let api = exchange.api.as_deref();
            let host = uri.authority().map(|host| host.as_str()).or(host.as_ref().and_then(|host| host.to_str().ok()));
            self.access_log.record(&AccessRecord {
                time: Rfc3339Millis::now(),
                request_id: request_id.to_str().unwrap_or_default(),
                client_ip: connection.client.header.to_str().unwrap_or_default(),
                host: host.unwrap_or_default(),
                method: method.as_str(),
                path: uri.path(),
                api: api.map(|api| (api.namespace.as_str(), api.group.as_str(), api.name.as_str())),
                group: api.map_or("", |api| api.group.as_str()),
                stage: api.map_or("", |api| api.stage.as_str()),
                app: exchange.app.as_ref().map_or("", |app| app.app_id.as_str()),
                status: response.status().as_u16(),
                error_code: exchange.error_code,
                request_bytes,
                bytes: hyper::body::Body::size_hint(response.body()).exact().unwrap_or(0),
                total_ms: elapsed * 1000.0,
                backend_ms: exchange.backend_ms,
                backend: exchange.backend.as_ref().map_or("", |address| address.as_str()),
                retries: exchange.retries,
                cache: exchange.cache,
                trace_id,
            });
        }
        response
    }

    fn observe(&self, exchange: &Exchange, status: StatusCode, elapsed: f64) {
        match &exchange.api {
            Some(api) => api.metrics.observe(&self.metrics, status.as_u16(), elapsed, exchange.backend_ms / 1000.0),
            None => {
                static NONE: LazyLock<Arc<String>> = LazyLock::new(|| Arc::new(String::new()));
                let labels = RequestLabels {
                    namespace: NONE.clone(),
                    group: NONE.clone(),
                    api: NONE.clone(),
                    stage: NONE.clone(),
                    code: status.as_u16(),
                };
                self.metrics.requests.get_or_create(&labels).inc();
            }
        }
    }

    /// The request path, phase by phase (docs/gateway.md, "Request pipeline"); each phase is a
    /// method of its own in [`phases`].
    async fn serve(
        &self,
        mut request: Request<RequestBody>,
        connection: &Connection,
        request_id: &HeaderValue,
        exchange: &mut Exchange,
    ) -> Result<Response<ClientBody>, GatewayError> {
        let loaded = self.live.current().ok_or(GatewayError::NotReady)?;
        let upgrade = websocket::is_upgrade(request.headers()).then(|| request.body_mut().take_upgrade()).flatten();
        let (mut parts, body) = request.into_parts();
        let host_header = self.accept(&mut parts)?;
        let host = normalize_host(host_header.as_ref().and_then(|value| value.to_str().ok()).unwrap_or_default());
        if let Some(answer) = phases::preflight(&loaded, connection, &host, &parts, exchange) {
            return Ok(answer);
        }
        let RouteMatch { api, params: path_values, rest } =
            phases::route(&loaded, connection, &host, &parts, parts.uri.path(), upgrade.is_some())?;
        exchange.api = Some(api.clone());
        exchange.mark("routed");
        let identity = self.identify(api, &loaded, &parts)?;
        let (read, stream) = self.request_body(api, identity.is_some(), &parts, body).await?;
        self.authenticate(identity, &parts, read.as_ref(), exchange).await?;
        let token = self.verify_token(api, &parts, exchange).await?;
        let basic_user = match &api.basic_auth {
            Some(basic) => Some(Box::pin(basic.authenticate(&parts.headers)).await?),
            None => None,
        };
        exchange.mark("authenticated");
        self.ip_control(api, connection, &parts, exchange)?;
        self.traffic_control(api, exchange).await?;
        if let Some(remote) = &api.remote_auth {
            // Boxed: the service call's state stays out of every request's future.
            Box::pin(remote.authenticate(&parts.uri, &mut parts.headers, read.as_ref(), request_id)).await?;
        }
        let sources = params::Sources {
            path: &path_values,
            query: parts.uri.query(),
            headers: &parts.headers,
            body: read.as_ref(),
        };
        let values = params::extract(api, &sources)?;
        exchange.mark("admitted");
        let app = exchange.app.clone();
        let mut context = RequestContext {
            connection,
            request_id,
            gateway_id: &self.gateway_id,
            instance: &self.settings.instance,
            host: &host,
            host_header: host_header.as_ref(),
            api,
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            rest,
            path_values: &path_values,
            values,
            body: read.as_ref(),
            app: app.as_deref(),
            token: &token,
            basic_user: basic_user.as_deref(),
            route: None,
            handle_time: Default::default(),
        };
        context.route = phases::access_control_and_routing(&context, &parts.headers)?;
        let cache = cache::cache_lookup(&context, &parts.headers);
        let hit = match &cache {
            Some(lookup) => self.cached(lookup, exchange).await,
            None => None,
        };
        let response = match hit {
            Some(hit) => hit,
            None => {
                let (headers, backend) = phases::backend_of(api, context.route, &mut parts.headers)?;
                let (backend, admission) = self.circuit_breaker(api, backend)?;
                let result = match backend {
                    CompiledBackend::Mock(answer) => Ok(mock_response(answer)),
                    CompiledBackend::Http(target) => {
                        let body = match (&read, stream) {
                            (Some(bytes), _) => Either::Right(Full::new(bytes.clone())),
                            (None, Some(incoming)) => {
                                Either::Left(Limited::new(incoming, self.settings.max_body_bytes))
                            }
                            (None, None) => Either::Right(Full::default()),
                        };
                        // Boxed: inline, its state made every request's future ~11 KB, moved
                        // around on each request; boxed, that future is ~3 KB.
                        Box::pin(self.forward(target, &context, headers, body, upgrade, exchange)).await
                    }
                    CompiledBackend::Function(target) => {
                        let body = read.clone().unwrap_or_default();
                        Box::pin(self.call_function(target, &context, headers, &body, exchange)).await
                    }
                };
                self.count_for_breaker(api, &admission, &result);
                match (cache, result) {
                    (Some(lookup), Ok(response)) => Box::pin(self.keep(api, lookup, response)).await?,
                    (_, result) => result?,
                }
            }
        };
        match &api.error_mapping {
            Some(mapping) => {
                Box::pin(self.map_errors(api, mapping, response, None, &exchange.claims, request_id)).await
            }
            None => Ok(response),
        }
    }

    /// Applies the error-mapping plugin to a backend's answer, or to the gateway's answer when the
    /// backend call failed with `error_code` (reading the body when a parameter needs a JSON field).
    async fn map_errors(
        &self,
        api: &CompiledApi,
        mapping: &CompiledErrorMapping,
        response: Response<ClientBody>,
        error_code: Option<&str>,
        claims: &serde_json::Map<String, serde_json::Value>,
        request_id: &HeaderValue,
    ) -> Result<Response<ClientBody>, GatewayError> {
        let (mut parts, body) = response.into_parts();
        let (body, read) = if mapping.reads_body() {
            let bytes = read_limited(body, self.settings.max_body_bytes)
                .await
                .map_err(|error| GatewayError::BackendConnect(error.to_string()))?;
            (Either::Right(Full::new(bytes.clone())), Some(bytes))
        } else {
            (body, None)
        };
        let system = response_system_parameters(api, request_id);
        let answered = Answered { status: parts.status, error_code, headers: &parts.headers, body: read.as_deref() };
        if let Some((status, message)) = mapping.map(answered, claims, &system) {
            parts.status = status;
            if let Ok(value) = HeaderValue::try_from(header_safe(&message)) {
                parts.headers.insert(X_CA_ERROR_MESSAGE, value);
            }
        }
        Ok(Response::from_parts(parts, body))
    }

    async fn read_body(&self, body: NetworkBody) -> Result<Bytes, GatewayError> {
        read_limited(body, self.settings.max_body_bytes).await.map_err(|error| body_error(&*error))
    }

    async fn forward(
        &self,
        target: &HttpTarget,
        context: &RequestContext<'_>,
        headers: http::HeaderMap,
        body: ProxyBody,
        upgrade: Option<OnUpgrade>,
        exchange: &mut Exchange,
    ) -> Result<Response<ClientBody>, GatewayError> {
        let client_upgrade = upgrade.as_ref().and_then(|_| headers.get(header::UPGRADE).cloned());
        let mut backend = forward::backend_parts(target, context, headers)?;
        if let Some(protocol) = client_upgrade {
            websocket::keep_upgrade_headers(protocol, &mut backend.headers);
        }
        let method = target.method.clone().unwrap_or_else(|| context.method.clone());
        if let (Some(tracing), Some(trace)) = (&self.tracing, &mut exchange.trace) {
            tracing.backend_call(trace, &mut backend.headers);
        }
        if let Some(signer) = &context.api.backend_signer {
            let form =
                backend.body.as_deref().or(context.body.map(|body| &body[..])).filter(|_| is_form(&backend.headers));
            let nonce = context.request_id.to_str().unwrap_or_default();
            signer.sign(method.as_str(), &backend.path_and_query, &mut backend.headers, form, nonce);
        }
        let body = match backend.body {
            Some(replaced) => Either::Right(Full::from(replaced)),
            None => body,
        };
        if let Destination::SelfInvocation { host } = &target.destination {
            let mut headers = backend.headers;
            headers.insert(header::HOST, host.clone());
            let path_and_query = Uri::try_from(backend.path_and_query)
                .map_err(|error| GatewayError::BadBackendAddress(error.to_string()))?;
            let started = Instant::now();
            let dispatch = self.dispatch_to_self(context, method, path_and_query, headers, body);
            let response = Box::pin(dispatch).await;
            exchange.backend_ms = started.elapsed().as_secs_f64() * 1000.0;
            if let Some(trace) = &mut exchange.trace {
                trace.backend_done(host.to_str().ok(), 0, response.as_ref().err().map(GatewayError::code));
            }
            return response;
        }
        let outgoing = call::Outgoing {
            method,
            path_and_query: backend.path_and_query,
            headers: backend.headers,
            body,
            upgrade: upgrade.is_some(),
        };
        let called = call::call(target, outgoing).await;
        exchange.backend_ms = called.backend_ms;
        exchange.retries = called.retries;
        if let Some(trace) = &mut exchange.trace {
            let address = called.address.as_ref().map(http::uri::Authority::as_str);
            trace.backend_done(address, called.retries, called.result.as_ref().err().map(GatewayError::code));
        }
        exchange.backend = called.address;
        if called.retries > 0 {
            context.api.metrics.retried(&self.metrics, called.retries);
        }
        let mut response = called.result?;
        if let Some(client) = upgrade
            && response.status() == StatusCode::SWITCHING_PROTOCOLS
        {
            websocket::tunnel(client, hyper::upgrade::on(&mut response));
            return Ok(response.map(Either::Left));
        }
        forward::strip_hop_by_hop(response.headers_mut());
        Ok(response.map(Either::Left))
    }

    /// Sends a backend request for an internal domain through this gateway's own pipeline, as
    /// the internal listener would receive it, without a network hop. The hop count cuts loops.
    async fn dispatch_to_self(
        &self,
        context: &RequestContext<'_>,
        method: http::Method,
        uri: Uri,
        headers: http::HeaderMap,
        body: ProxyBody,
    ) -> Result<Response<ClientBody>, GatewayError> {
        let hops = context.connection.hops + 1;
        if hops > MAX_SELF_INVOCATION_HOPS {
            return Err(GatewayError::SelfInvocationLoop(MAX_SELF_INVOCATION_HOPS));
        }
        let body = read_limited(body, self.settings.max_body_bytes).await.map_err(|error| body_error(&*error))?;
        let mut request = Request::new(RequestBody::Buffered(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let client = Client::new(context.connection.client.ip);
        let connection = Connection { peer: SocketAddr::new(client.ip, 0), client, tls: false, internal: true, hops };
        Ok(self.invoke_self(request, connection, context.request_id.clone()).await)
    }

    async fn call_function(
        &self,
        target: &HttpTarget,
        context: &RequestContext<'_>,
        headers: http::HeaderMap,
        body: &Bytes,
        exchange: &mut Exchange,
    ) -> Result<Response<ClientBody>, GatewayError> {
        let backend = forward::backend_parts(target, context, headers)?;
        let path_parameters: BTreeMap<String, String> = context
            .api
            .path_params
            .iter()
            .zip(context.path_values)
            .map(|(name, value)| (name.clone(), percent_decode_str(value).decode_utf8_lossy().into_owned()))
            .collect();
        // The event carries the API's request path; the query as mapped for the backend.
        let query = backend.path_and_query.split_once('?').map(|(_, query)| query);
        let method = target.method.clone().unwrap_or_else(|| context.method.clone());
        let event_body = backend.body.as_deref().unwrap_or(body);
        let event = function::FunctionEvent::new(
            method.as_str(),
            context.path,
            &backend.headers,
            query,
            path_parameters,
            event_body,
        );
        let event = serde_json::to_vec(&event).map_err(|error| GatewayError::BadBody(error.to_string()))?;
        let Destination::Fixed { scheme, authority, .. } = &target.destination else {
            return Err(GatewayError::BadBackendAddress("an FC backend needs a URL address".to_owned()));
        };
        let uri = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query(if target.base_path.is_empty() { "/" } else { target.base_path.as_str() })
            .build()
            .map_err(|error| GatewayError::BadBackendAddress(error.to_string()))?;
        let mut request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, authority.as_str())
            .header(X_CA_REQUEST_ID, context.request_id.clone())
            .body(Either::Right(Full::from(event)))
            .map_err(|error| GatewayError::BadBackendAddress(error.to_string()))?;
        if let (Some(tracing), Some(trace)) = (&self.tracing, &mut exchange.trace) {
            tracing.backend_call(trace, request.headers_mut());
        }
        let started = Instant::now();
        let answer = async {
            let response = BackendClient::for_this_thread().send(request, target.timeout, target.http2).await?;
            read_limited(response.into_body(), self.settings.max_body_bytes)
                .await
                .map_err(|error| GatewayError::BadFunctionResponse(error.to_string()))
        };
        let answer = tokio::time::timeout(target.timeout, answer).await.map_err(|_| GatewayError::BackendTimeout);
        exchange.backend_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(trace) = &mut exchange.trace {
            let failed = match &answer {
                Ok(Ok(_)) => None,
                Ok(Err(error)) | Err(error) => Some(error.code()),
            };
            trace.backend_done(Some(authority.as_str()), 0, failed);
        }
        let answer = answer??;
        Ok(function::response(&answer)?.map(|body| Either::Right(Full::new(body))))
    }
}
