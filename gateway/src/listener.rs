//! Client listeners: HTTP/1.1 with keep-alive and HTTP/2 (h2c prior knowledge) on one port,
//! with limits on header size and header read time, and graceful shutdown.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::pipeline::{Connection, Gateway};

/// Limits applied to every client connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Largest request head (request line and headers), in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Time allowed to send the request head (slowloris defence); slower is closed with 408.
    pub header_read_timeout: Duration,
}

/// What a listener serves.
#[derive(Clone)]
pub struct ListenerKind {
    /// Serves the groups' internal domains (and only those) when true.
    pub internal: bool,
    /// Terminates TLS (certificates by SNI) when set.
    pub tls: Option<TlsAcceptor>,
}

/// How long a client gets to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` until `shutdown` turns true, then waits for in-flight
/// requests to finish.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    kind: ListenerKind,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new()).max_header_list_size(limits.max_header_bytes as u32);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let client_ip = HeaderValue::try_from(peer.ip().to_string()).expect("an IP address is a valid header value");
        let connection = Connection { peer, client_ip, tls: kind.tls.is_some(), internal: kind.internal, hops: 0 };
        let (gateway, builder, watcher, tls) = (gateway.clone(), builder.clone(), graceful.watcher(), kind.tls.clone());
        tokio::spawn(async move {
            gateway.metrics.connections.inc();
            match tls {
                None => serve_connection(&builder, watcher, TokioIo::new(stream), &gateway, connection).await,
                Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        serve_connection(&builder, watcher, TokioIo::new(stream), &gateway, connection).await
                    }
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
            gateway.metrics.connections.dec();
        });
    }
    graceful.shutdown().await;
}

async fn serve_connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    io: I,
    gateway: &Arc<Gateway>,
    connection: Connection,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (service_gateway, peer) = (gateway.clone(), connection.peer);
    let service = service_fn(move |request| {
        let gateway = service_gateway.clone();
        let connection = connection.clone();
        async move { Ok::<_, Infallible>(gateway.handle(request, connection).await) }
    });
    let served = watcher.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
    if let Err(error) = served.await {
        tracing::debug!(%peer, %error, "connection ended with an error");
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
    runtime.block_on(async move {
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
