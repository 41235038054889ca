//! HTTP/1.1 to plain-http backends, driven from the request's own task.
//!
//! hyper's pooled client runs every backend connection as a task of its own and hands requests
//! and responses over through channels. Here a worker thread keeps its idle connections itself,
//! the request's task writes the request and reads the answer with the small codec of
//! [`crate::http1::client`], and the response body reads its connection until the body ends,
//! when the connection goes back to the thread's pool. Used for `http://` backends that speak
//! HTTP/1.1 and are not upgraded; everything else goes through [`super::BackendClient`].

use std::{
    cell::RefCell,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use fnv::FnvHashMap;
use http::{HeaderMap, Method, Response, uri::Authority};
use hyper::body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{ProxyBody, TryError};
use crate::error::GatewayError;
use crate::http1::client::{Connection, ExchangeError, ResponseBody};

/// Idle connections kept per backend authority and worker thread.
const MAX_IDLE_PER_AUTHORITY: usize = 256;

thread_local! {
    /// Keyed by the authority's text as written in the config (byte-exact: hashing a `str` is
    /// one pass, where `Authority` hashes byte by byte, lower-cased). FNV: two lookups per
    /// request, on short keys.
    static IDLE: RefCell<FnvHashMap<Box<str>, Vec<Connection>>> = RefCell::default();
}

fn checkout(authority: &Authority) -> Option<Connection> {
    IDLE.with(|idle| idle.borrow_mut().get_mut(authority.as_str()).and_then(Vec::pop))
}

fn checkin(authority: &Authority, connection: Connection) {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        match idle.get_mut(authority.as_str()) {
            Some(connections) if connections.len() < MAX_IDLE_PER_AUTHORITY => connections.push(connection),
            Some(_) => {}
            None => {
                idle.insert(authority.as_str().into(), vec![connection]);
            }
        }
    });
}

/// An idle connection to `authority` that is still open, else a new one (connected before
/// `deadline`). Nothing has been sent on a connection that turns out closed, so trying the next
/// one is always safe; an error here means nothing was sent.
async fn connect(authority: &Authority, deadline: Instant) -> Result<Connection, GatewayError> {
    while let Some(mut connection) = checkout(authority) {
        if connection.is_open_and_idle() {
            return Ok(connection);
        }
    }
    let connect = TcpStream::connect((authority.host(), authority.port_u16().unwrap_or(80)));
    let stream = tokio::time::timeout_at(deadline, connect)
        .await
        .map_err(|_| GatewayError::BackendTimeout)?
        .map_err(|error| GatewayError::BackendConnect(error.to_string()))?;
    let _ = stream.set_nodelay(true);
    Ok(Connection::new(stream))
}

/// Sends a request (`path` is its origin-form target) to `authority`; its response head must
/// arrive before `deadline`.
pub async fn send(
    authority: &Authority,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: ProxyBody,
    deadline: Instant,
) -> Result<Response<DirectBody>, TryError> {
    if !is_request_target(path) {
        return Err(TryError::Sent(GatewayError::BadBackendAddress(format!("invalid backend path {path:?}"))));
    }
    let connection = match connect(authority, deadline).await {
        Ok(connection) => connection,
        Err(error) => return Err(TryError::NotSent(error, Some(body))),
    };
    let response = connection.exchange(method, path, headers, body, deadline).await;
    let response = response.map_err(|error| TryError::Sent(into_gateway_error(error)))?;
    Ok(response.map(|body| DirectBody { body: Some(body), authority: authority.clone() }))
}

/// Whether `target` can go on a request line: a path, without spaces or control characters.
fn is_request_target(target: &str) -> bool {
    target.starts_with('/') && target.bytes().all(|byte| byte > b' ' && byte != 0x7f)
}

fn into_gateway_error(error: ExchangeError) -> GatewayError {
    match error {
        ExchangeError::RequestBody(error) => crate::body::body_error(&*error),
        ExchangeError::TimedOut => GatewayError::BackendTimeout,
        error => GatewayError::BackendConnect(error.to_string()),
    }
}

/// A backend response body that returns its connection to the pool once read to its end.
pub struct DirectBody {
    body: Option<ResponseBody>,
    authority: Authority,
}

impl Body for DirectBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match &mut self.body {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for DirectBody {
    /// The server stops polling a body whose length it knows, so the end is often seen here,
    /// not in `poll_frame`: a body read to its end leaves its connection reusable; any other
    /// connection is closed.
    fn drop(&mut self) {
        if let Some(connection) = self.body.take().and_then(ResponseBody::into_reusable_connection) {
            checkin(&self.authority, connection);
        }
    }
}
