//! Client listeners: HTTP/1.1 through the gateway's own codec ([`crate::http1::server`]) and
//! HTTP/2 through hyper (h2c prior knowledge on plain ports, ALPN on TLS ones) on one port, with
//! limits on header size, header read time, idle time, the connections a listener holds and the
//! control frames an HTTP/2 client sends, and graceful shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::BytesMut;
use http::{Request, Response, StatusCode};
use http_body_util::Either;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::backend::ClientBody;
use crate::error::GatewayError;
use crate::http1::io::{ClientStream, Upgraded};
pub use crate::http1::server::ConnectionLimits;
use crate::http1::{self, HEAD_READ_BYTES};
use crate::pipeline::client::Client;
use crate::pipeline::{Connection, Gateway, error_response};
use crate::server::http2_guard::FloodGuard;
use crate::server::proxy_protocol;
use crate::telemetry::request_id;

/// What a listener serves.
#[derive(Clone)]
pub struct ListenerKind {
    /// Serves the groups' internal domains (and only those) when true.
    pub internal: bool,
    /// Terminates TLS (certificates by SNI) when set.
    pub tls: Option<TlsAcceptor>,
    /// The connections it holds, shared by every worker thread.
    pub connections: Arc<ConnectionCap>,
    /// Every connection opens with a PROXY protocol (v1 or v2) header naming the client;
    /// one that does not is closed.
    pub proxy_protocol: bool,
}

/// The most connections one listener holds, and how many it holds now.
#[derive(Debug)]
pub struct ConnectionCap {
    max: usize,
    open: AtomicUsize,
}

/// One held connection of a [`ConnectionCap`], given back when dropped.
struct ConnectionSlot(Arc<ConnectionCap>);

impl ConnectionCap {
    /// A cap of `max` connections.
    pub fn new(max: usize) -> Self {
        Self { max, open: AtomicUsize::new(0) }
    }

    /// A slot, unless `max` connections are open.
    fn acquire(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let taken =
            self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < self.max).then_some(open + 1));
        taken.ok().map(|_| ConnectionSlot(self.clone()))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a client gets to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// What an HTTP/2 client with prior knowledge sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The preface's first line: a client that sends it speaks HTTP/2, whatever follows.
const H2_REQUEST_LINE: usize = 16;

/// Accepts connections on `listener` until the shutdown grace has passed since `shutdown`
/// turned true (connections accepted meanwhile are answered and closed, as a load balancer
/// that has not yet seen the pod go may still send them), then waits for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    kind: ListenerKind,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections = TaskTracker::new();
    let mut closing_at = None;
    loop {
        let grace_over = async {
            match closing_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed(), if closing_at.is_none() => {
                if limits.shutdown_grace.is_zero() {
                    break;
                }
                closing_at = Some(tokio::time::Instant::now() + limits.shutdown_grace);
                continue;
            }
            () = grace_over => break,
        };
        let _ = stream.set_nodelay(true);
        let Some(slot) = kind.connections.acquire() else {
            gateway.metrics.refused_connections.inc();
            if kind.tls.is_none() {
                connections.spawn(refuse_connection(stream));
            }
            continue;
        };
        let connection = Connection {
            peer,
            client: Client::new(peer.ip()),
            tls: kind.tls.is_some(),
            internal: kind.internal,
            hops: 0,
        };
        let mut client = ClientConnection { gateway: gateway.clone(), connection, limits, shutdown: shutdown.clone() };
        let (tls, proxy_protocol) = (kind.tls.clone(), kind.proxy_protocol);
        connections.spawn(async move {
            let mut stream = stream;
            if proxy_protocol {
                let header = Box::pin(tokio::time::timeout(
                    limits.header_read_timeout,
                    proxy_protocol::read_header(&mut stream),
                ));
                match header.await {
                    Ok(Ok(source)) => {
                        if let Some(source) = source {
                            client.connection.client = Client::new(source.ip());
                        }
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "closing a connection without a valid PROXY header");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "closing a connection whose PROXY header timed out");
                        return;
                    }
                }
            }
            client.gateway.metrics.connections.inc();
            match tls {
                None => client.serve_plain(stream).await,
                // Boxed (as the PROXY header's read, the plain connection's sniffing and HTTP/2
                // below): the handshake's state stays out of every connection's task.
                Some(acceptor) => {
                    match Box::pin(tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))).await {
                        // Boxed too: a TLS connection's state is larger than a plain one's, and
                        // a plain connection's task would otherwise keep room for it.
                        Ok(Ok(stream)) => Box::pin(client.serve_tls(stream)).await,
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            client.gateway.metrics.connections.dec();
            drop(slot);
        });
    }
    connections.close();
    connections.wait().await;
}

/// Answers a plain-HTTP client over the connection cap with 503 `I503CL` without reading its
/// request, and closes.
async fn refuse_connection(mut stream: TcpStream) {
    let error = GatewayError::TooManyConnections;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nx-ca-error-code: {}\r\nx-ca-error-message: {error}\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        error.code()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// One client connection and what serves it.
struct ClientConnection {
    gateway: Arc<Gateway>,
    connection: Connection,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
}

impl ClientConnection {
    /// A plain connection: HTTP/2 when it opens with the HTTP/2 preface, else HTTP/1.1.
    async fn serve_plain(&self, mut stream: TcpStream) {
        let mut received = BytesMut::with_capacity(HEAD_READ_BYTES);
        // Boxed as it is made, as every state a connection passes through once: its task then
        // keeps room only for what serving it needs.
        let sniffed = Box::pin(tokio::time::timeout(self.limits.header_read_timeout, async {
            while received.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(&received) {
                if stream.read_buf(&mut received).await? == 0 {
                    return Ok(false);
                }
            }
            Ok::<_, std::io::Error>(true)
        }));
        if !matches!(sniffed.await, Ok(Ok(true))) {
            return;
        }
        if received.starts_with(H2_PREFACE) {
            let (reader, writer) = ClientStream::Tcp(stream).split(received);
            Box::pin(self.serve_http2(Upgraded::new(reader, writer))).await;
        } else if received.starts_with(&H2_PREFACE[..H2_REQUEST_LINE]) {
            // An HTTP/2 client whose preface went wrong: a connection error (RFC 9113 §3.4),
            // closed without an HTTP/1 answer it would misread.
            tracing::debug!(peer = %self.connection.peer, "closing a connection with an invalid HTTP/2 preface");
        } else {
            http1::server::serve(ClientStream::Tcp(stream), received, self, self.limits, self.shutdown.clone()).await;
        }
    }

    /// A TLS connection: HTTP/2 when ALPN chose it, else HTTP/1.1.
    async fn serve_tls(&self, stream: tokio_rustls::server::TlsStream<TcpStream>) {
        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
            Box::pin(self.serve_http2(stream)).await;
        } else {
            let (limits, shutdown) = (self.limits, self.shutdown.clone());
            http1::server::serve(ClientStream::Tls(Box::new(stream)), BytesMut::new(), self, limits, shutdown).await;
        }
    }

    /// HTTP/2 through hyper, which on shutdown sends GOAWAY and finishes the open streams.
    async fn serve_http2<I>(&self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(|request: Request<hyper::body::Incoming>| {
            let (gateway, connection) = (self.gateway.clone(), self.connection.clone());
            async move { Ok::<_, Infallible>(gateway.handle(request.map(Either::Left), connection).await) }
        });
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new()).max_header_list_size(self.limits.max_header_bytes as u32);
        let served = builder.serve_connection(TokioIo::new(FloodGuard::new(io)), service);
        let mut served = std::pin::pin!(served);
        let mut shutdown = self.shutdown.clone();
        let result = tokio::select! {
            result = served.as_mut() => result,
            _ = async { shutdown.wait_for(|stopping| *stopping).await.is_ok() } => {
                served.as_mut().graceful_shutdown();
                served.await
            }
        };
        if let Err(error) = result {
            tracing::debug!(peer = %self.connection.peer, %error, "HTTP/2 connection ended with an error");
        }
    }
}

impl http1::server::Handler for ClientConnection {
    type Body = ClientBody;

    fn call(&self, request: Request<http1::server::RequestBody>) -> impl Future<Output = Response<ClientBody>> + Send {
        self.gateway.handle(request.map(Either::Right), self.connection.clone())
    }

    fn refuse(&self, status: StatusCode, reason: &'static str) -> Response<ClientBody> {
        let request_id = request_id::next();
        let error = GatewayError::RefusedHead { status, reason };
        let mut response = error_response(&error, request_id.to_str().unwrap_or_default());
        response.headers_mut().insert(crate::telemetry::request_id::X_CA_REQUEST_ID, request_id);
        response
    }
}

/// Runs one worker thread: a single-threaded runtime serving every listener on `sockets` (shared
/// with the other workers) until `shutdown`, then draining. Thread-per-core keeps a request, its
/// backend connection and its tasks on one core, as nginx workers do.
pub fn run_worker(
    sockets: Vec<(std::net::TcpListener, ListenerKind)>,
    gateway: Arc<Gateway>,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "starting a worker runtime");
            return;
        }
    };
    let access_log = gateway.access_log().clone();
    runtime.block_on(async move {
        // Not in `tasks`: it ends with the runtime.
        tokio::spawn(gateway.access_log().clone().flush_periodically());
        let mut tasks = tokio::task::JoinSet::new();
        for (socket, kind) in sockets {
            match TcpListener::from_std(socket) {
                Ok(listener) => {
                    tasks.spawn(serve(listener, gateway.clone(), kind, limits, shutdown.clone()));
                }
                Err(error) => tracing::error!(%error, "registering a listener"),
            }
        }
        while tasks.join_next().await.is_some() {}
    });
    access_log.flush_thread();
}

/// Binds a listening socket the worker threads share, with the address in the error.
pub fn bind_shared(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = std::net::TcpListener::bind(address)
        .map_err(|error| std::io::Error::new(error.kind(), format!("binding {address}: {error}")))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Binds a listener, with the address in the error.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|error| std::io::Error::new(error.kind(), format!("binding {address}: {error}")))
}
