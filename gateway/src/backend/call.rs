//! One backend request over HTTP: the endpoint chosen, the request tried again as its backend's
//! retry policy and budget allow, and each try's outcome told to passive health.
//!
//! A try that could not connect sent nothing, so it is tried again whatever the method (on
//! another endpoint where there is one). A try that was sent is tried again only when the
//! request is idempotent and its body is known whole (empty, or read by the gateway): on a
//! timeout of its own (`retries.perTryTimeout`), a broken connection, or an answer listed in
//! `retries.onStatus`. Every try stays within the backend's `timeout`.

use std::time::Instant as StdInstant;

use http::uri::{Authority, Scheme};
use http::{HeaderMap, Method, Request, Response, Uri, header};
use http_body_util::{Either, Full};
use hyper::body::Body;
use tokio::time::Instant;

use super::retry::is_idempotent;
use super::target::{Destination, HttpTarget};
use super::upstream::InFlight;
use super::{BackendBody, BackendClient, ProxyBody, TryError, direct};
use crate::error::GatewayError;

/// A backend request ready to send.
pub struct Outgoing {
    /// Its method.
    pub method: Method,
    /// Its origin-form target: path and query.
    pub path_and_query: String,
    /// Its headers; `Host` is set to the endpoint's authority unless present.
    pub headers: HeaderMap,
    /// Its body.
    pub body: ProxyBody,
    /// Whether it asks to switch protocols (always through the pooled client).
    pub upgrade: bool,
}

/// How a backend call went: its answer or error, the tries after the first, and the time it took.
pub struct Called {
    /// The backend's answer, or why there is none.
    pub result: Result<Response<BackendBody>, GatewayError>,
    /// Tries after the first.
    pub retries: u8,
    /// The address the last try went to (`host:port`), when one was chosen.
    pub address: Option<Authority>,
    /// Milliseconds from the first try to the last answer's head.
    pub backend_ms: f64,
}

/// Sends `request` to `target`'s destination (a fixed address or a VpcAccess's endpoints; a
/// self-invocation is dispatched by the pipeline, not here).
pub async fn call(target: &HttpTarget, request: Outgoing) -> Called {
    let started = StdInstant::now();
    let (mut retries, mut address) = (0, None);
    let result = tries(target, request, &mut retries, &mut address).await;
    Called { result, retries, address, backend_ms: started.elapsed().as_secs_f64() * 1000.0 }
}

async fn tries(
    target: &HttpTarget,
    request: Outgoing,
    retries: &mut u8,
    address: &mut Option<Authority>,
) -> Result<Response<BackendBody>, GatewayError> {
    let Outgoing { method, path_and_query, mut headers, body, upgrade } = request;
    let policy = &target.retries;
    policy.count_request();
    let deadline = Instant::now() + target.timeout;
    // A body known whole (or known empty) can be sent again; a streamed one only while no try
    // used it.
    let replay = match &body {
        Either::Right(full) => Some(full.clone()),
        Either::Left(streamed) if streamed.is_end_stream() => Some(Full::default()),
        Either::Left(_) => None,
    };
    let resendable = replay.is_some() && is_idempotent(&method);
    let per_try = policy.per_try_timeout.filter(|_| resendable);
    let mut body = Some(body);
    // `Host` is the endpoint's unless the request set its own (a constant parameter).
    let mut own_host = None;
    let mut endpoint: Option<InFlight> = None;
    loop {
        let (scheme, authority, host) = match &target.destination {
            Destination::Fixed { scheme, authority, host } => (scheme.clone(), authority.clone(), host.clone()),
            Destination::Upstream(upstream) => {
                let next = match &endpoint {
                    Some(previous) => previous.other().or_else(|| upstream.pick()),
                    None => upstream.pick(),
                };
                let next = next.ok_or(GatewayError::NoReadyEndpoint)?;
                let (authority, host) = (next.authority().clone(), next.host().clone());
                endpoint = Some(next);
                (Scheme::HTTP, authority, host)
            }
            Destination::SelfInvocation { .. } => {
                return Err(GatewayError::BadBackendAddress(
                    "a self-invocation is not sent over the network".to_owned(),
                ));
            }
        };
        *address = Some(authority.clone());
        if !*own_host.get_or_insert_with(|| headers.contains_key(header::HOST)) {
            headers.insert(header::HOST, host);
        }
        let this_try = per_try.map_or(deadline, |per_try| deadline.min(Instant::now() + per_try));
        let sent =
            body.take().or_else(|| replay.clone().map(Either::Right)).unwrap_or_else(|| Either::Right(Full::default()));
        // The clock is read only once a try failed.
        let tries_left = *retries < policy.attempts;
        let may_retry = || tries_left && Instant::now() < deadline;
        let direct = scheme == Scheme::HTTP && !target.http2 && !upgrade;
        let outcome = if direct {
            let sent = direct::send(&authority, &method, &path_and_query, &headers, sent, this_try).await;
            sent.map(|response| response.map(Either::Right))
        } else {
            // The pooled client takes the headers; they are copied only when a retry may need them.
            let headers = if tries_left && replay.is_some() { headers.clone() } else { std::mem::take(&mut headers) };
            let send = send_pooled(target, scheme, &authority, &method, &path_and_query, headers, sent, this_try);
            Box::pin(send).await
        };
        match outcome {
            Ok(response) => {
                if let Some(endpoint) = &endpoint {
                    if response.status().is_server_error() { endpoint.failed() } else { endpoint.succeeded() }
                }
                if !(resendable && policy.retries_answer(response.status()) && may_retry() && policy.take_retry()) {
                    return Ok(response);
                }
                tracing::debug!(status = %response.status(), %authority, "answer retried");
            }
            Err(TryError::NotSent(error, unused)) => {
                if let Some(endpoint) = &endpoint {
                    endpoint.failed();
                }
                body = unused;
                if !((body.is_some() || replay.is_some()) && may_retry() && policy.take_retry()) {
                    return Err(error);
                }
                tracing::debug!(%error, %authority, "connect failed: tried again");
            }
            Err(TryError::Sent(error)) => {
                if let Some(endpoint) = &endpoint {
                    endpoint.failed();
                }
                let timed_out_whole = matches!(error, GatewayError::BackendTimeout) && Instant::now() >= deadline;
                if !(resendable && !timed_out_whole && may_retry() && policy.take_retry()) {
                    return Err(error);
                }
                tracing::debug!(%error, %authority, "try failed: tried again");
            }
        }
        *retries += 1;
    }
}

/// One try through the pooled client (TLS, HTTP/2, upgrades).
#[allow(clippy::too_many_arguments)]
async fn send_pooled(
    target: &HttpTarget,
    scheme: Scheme,
    authority: &Authority,
    method: &Method,
    path_and_query: &str,
    mut headers: HeaderMap,
    body: ProxyBody,
    deadline: Instant,
) -> Result<Response<BackendBody>, TryError> {
    let uri = Uri::builder().scheme(scheme).authority(authority.clone()).path_and_query(path_and_query).build();
    let uri = uri.map_err(|error| TryError::Sent(GatewayError::BadBackendAddress(error.to_string())))?;
    if matches!(body, Either::Right(_)) {
        // The gateway's body has its own length (the direct way sets framing itself).
        headers.remove(header::CONTENT_LENGTH);
    }
    let mut request = Request::new(body);
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    let timeout = deadline.saturating_duration_since(Instant::now());
    match BackendClient::for_this_thread().send(request, timeout, target.http2).await {
        Ok(response) => Ok(response.map(Either::Left)),
        Err(error) if error.connecting => Err(TryError::NotSent(error.error, None)),
        Err(error) => Err(TryError::Sent(error.error)),
    }
}
