//! HTTP/1.1 to plain-http backends, driven from the request's own task.
//!
//! hyper's pooled client runs every backend connection as a task of its own and hands requests
//! and responses over through channels: two task switches per request. Here a worker thread keeps
//! its idle connections itself; the request's task polls the connection while it waits for the
//! response head, and the response body keeps polling it until the body ends, when the connection
//! goes back to the thread's pool. Used for `http://` backends that speak HTTP/1.1 and are not
//! upgraded; everything else goes through [`super::BackendClient`].

use std::{
    cell::RefCell,
    collections::HashMap,
    future::{Future, poll_fn},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, uri::Authority};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::ProxyBody;
use crate::error::GatewayError;

/// Idle connections kept per backend authority and worker thread.
const MAX_IDLE_PER_AUTHORITY: usize = 256;

/// A backend connection: the request sender and the connection it drives.
struct Pooled {
    sender: SendRequest<ProxyBody>,
    connection: Pin<Box<Connection<TokioIo<TcpStream>, ProxyBody>>>,
    /// The connection future has completed and must not be polled again.
    ended: bool,
}

impl Pooled {
    /// Drives the connection; `Ready` means it has ended and cannot be used any more.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.ended && self.connection.as_mut().poll(cx).is_ready() {
            self.ended = true;
        }
        if self.ended { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Ready for a request, or `Err` when the connection has ended.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        if self.drive(cx).is_ready() {
            return Poll::Ready(Err(()));
        }
        self.sender.poll_ready(cx).map_err(|_| ())
    }
}

thread_local! {
    static IDLE: RefCell<HashMap<Authority, Vec<Pooled>>> = RefCell::new(HashMap::new());
}

fn checkout(authority: &Authority) -> Option<Pooled> {
    IDLE.with(|idle| idle.borrow_mut().get_mut(authority).and_then(Vec::pop))
}

fn checkin(authority: Authority, pooled: Pooled) {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let connections = idle.entry(authority).or_default();
        if connections.len() < MAX_IDLE_PER_AUTHORITY {
            connections.push(pooled);
        }
    });
}

async fn connect(authority: &Authority) -> Result<Pooled, GatewayError> {
    let stream = TcpStream::connect((authority.host(), authority.port_u16().unwrap_or(80)))
        .await
        .map_err(|error| GatewayError::BackendConnect(error.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| GatewayError::BackendConnect(error.to_string()))?;
    Ok(Pooled { sender, connection: Box::pin(connection), ended: false })
}

/// A ready connection to `authority`: an idle one that is still open, else a new one. Nothing has
/// been sent on a connection that turns out closed, so trying the next one is always safe.
async fn ready_connection(authority: &Authority) -> Result<Pooled, GatewayError> {
    while let Some(mut pooled) = checkout(authority) {
        if poll_fn(|cx| pooled.poll_ready(cx)).await.is_ok() {
            return Ok(pooled);
        }
    }
    let mut pooled = connect(authority).await?;
    poll_fn(|cx| pooled.poll_ready(cx))
        .await
        .map_err(|()| GatewayError::BackendConnect("the backend closed the connection".to_owned()))?;
    Ok(pooled)
}

/// Sends `request` to `authority`; its response head must arrive within `timeout`.
pub async fn send(
    authority: &Authority,
    request: Request<ProxyBody>,
    timeout: Duration,
) -> Result<Response<DirectBody>, GatewayError> {
    let exchange = async {
        let mut pooled = ready_connection(authority).await?;
        let mut response = std::pin::pin!(pooled.sender.send_request(request));
        // Until the head arrives, drive the connection; if it ends, the response future says why.
        let response = poll_fn(|cx| {
            let _ = pooled.drive(cx);
            response.as_mut().poll(cx)
        })
        .await
        .map_err(|error| GatewayError::BackendConnect(super::describe(&error)))?;
        Ok(response.map(|body| DirectBody { body, pooled: Some(pooled), authority: authority.clone() }))
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| GatewayError::BackendTimeout)?
}

/// A backend response body that keeps its connection going, and returns it to the pool at the end.
pub struct DirectBody {
    body: Incoming,
    pooled: Option<Pooled>,
    authority: Authority,
}

impl Body for DirectBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(pooled) = &mut this.pooled
            && pooled.drive(cx).is_ready()
        {
            this.pooled = None;
        }
        Pin::new(&mut this.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for DirectBody {
    /// A body read to its end leaves its connection reusable (the server stops polling a body
    /// whose length it knows, so the end is seen here, not in `poll_frame`); any other is closed.
    fn drop(&mut self) {
        if let Some(pooled) = self.pooled.take()
            && self.body.is_end_stream()
        {
            checkin(self.authority.clone(), pooled);
        }
    }
}
