//! `apigw-gateway`: serves the APIs of one gateway instance.
//!
//! `apigw-gateway --manifests examples/quickstart` serves custom-resource YAML directly, without
//! a cluster, and reloads it when it changes. Without `--manifests`, `apigw-gateway --instance
//! NAME` serves what the operator publishes for the instance (connecting like kubectl).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use apigw_gateway::{
    pipeline::client::TrustedProxies,
    pipeline::{Gateway, Settings, target::EscapedSlashes},
    server::listener::{self, ConnectionCap, ConnectionLimits, ListenerKind},
    server::{admin, tls},
    source::{cluster::ClusterSource, manifests as config_source},
    state::shared::{OnFailure, SharedState},
    telemetry::access_log::AccessLog,
    telemetry::traces::Tracing,
};
use clap::Parser;
use tokio::sync::watch;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(name = "apigw-gateway", version, about = "The apigw data plane")]
struct Args {
    /// Custom-resource YAML files or folders to serve (no cluster needed); reloaded on change.
    /// Without it, the gateway reads its instance's config from the cluster.
    #[arg(long, num_args = 1..)]
    manifests: Vec<PathBuf>,
    /// In a cluster: the namespace the operator publishes configs into.
    #[arg(long, env = "APIGW_CONFIG_NAMESPACE", default_value = "apigw-system")]
    config_namespace: String,
    /// The gateway instance served (ApiGroups choose one with spec.instance).
    #[arg(long, default_value = "default", env = "APIGW_INSTANCE")]
    instance: String,
    /// Public HTTP listener (HTTP/1.1 and h2c).
    #[arg(long, default_value = "0.0.0.0:8080")]
    http: SocketAddr,
    /// Public HTTPS listener (HTTP/1.1 and HTTP/2 by ALPN; certificates by SNI from tlsSecretRef).
    #[arg(long)]
    https: Option<SocketAddr>,
    /// Internal HTTP listener: the groups' self-invocation domains, and only those.
    #[arg(long)]
    internal_http: Option<SocketAddr>,
    /// Internal HTTPS listener.
    #[arg(long)]
    internal_https: Option<SocketAddr>,
    /// Admin listener: /metrics, /healthz, /readyz, /config.
    #[arg(long, default_value = "127.0.0.1:9090")]
    admin: SocketAddr,
    /// This gateway's id, sent in Via (default: the host name).
    #[arg(long, env = "APIGW_GATEWAY_ID")]
    gateway_id: Option<String>,
    /// In a cluster: the UID of this gateway's pod (named by the gateway id), which then owns
    /// the Lease reporting the loaded version, so that the Lease goes with the pod.
    #[arg(long, env = "APIGW_POD_UID")]
    pod_uid: Option<String>,
    /// Largest request body accepted, in bytes (larger gets 413).
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Bytes the caching plugin may keep in this process (bodies, headers and keys); once
    /// full, nothing more is kept until answers expire.
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    cache_bytes: usize,
    /// Largest request head, in bytes (larger gets 431).
    #[arg(long, default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// Seconds allowed to send the request head (slowloris defence).
    #[arg(long, default_value_t = 10)]
    header_read_timeout: u64,
    /// Seconds a client may send no byte of a request body the gateway reads or streams
    /// (slow-body defence); slower gets 408 I408BT. Shorter than the default backend timeout, so
    /// that a stalled upload is the client's 408, not the backend's 504.
    #[arg(long, default_value_t = 5)]
    body_read_timeout: u64,
    /// What `%2F`, `%5C` and `\` in a request path do: `reject` (400 I400PT) or `decode` (to
    /// `/`, then `.` and `..` segments are removed).
    #[arg(long, value_enum, default_value = "reject")]
    escaped_slashes: EscapedSlashes,
    /// Signed requests must send and sign X-Ca-Nonce and X-Ca-Timestamp, where an Api leaves
    /// `auth.forceNonceCheck` unset.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    force_nonce_check: bool,
    /// Most client connections one listener holds; a plain-HTTP client beyond it gets 503
    /// I503CL, a TLS one is closed.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Listeners whose connections open with a PROXY protocol header (v1 or v2) naming the
    /// client, as a load balancer configured for it sends; a connection without one is closed.
    #[arg(long, value_enum, value_delimiter = ',')]
    proxy_protocol: Vec<ListenerName>,
    /// Address blocks of proxies in front of the gateway (an Ingress controller's pods, a load
    /// balancer) whose X-Forwarded-For is believed: the client is its right-most entry outside
    /// these blocks. From any other peer, X-Forwarded-*, X-Real-IP and Forwarded are replaced.
    #[arg(long, value_delimiter = ',')]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, default_value_t = 75)]
    idle_timeout: u64,
    /// Seconds after SIGTERM during which listeners still accept, idle keep-alive connections
    /// stay open for one more request, and every HTTP/1 answer closes its connection (HTTP/2
    /// gets GOAWAY); then listeners close and the drain begins.
    #[arg(long, default_value_t = 5)]
    shutdown_grace: u64,
    /// Seconds in-flight requests get to finish on shutdown, after the grace.
    #[arg(long, default_value_t = 30)]
    drain_timeout: u64,
    /// Write a JSON access-log line per request to stdout.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    access_log: bool,
    /// PEM file of CA certificates trusted for https backends, besides Mozilla's roots.
    #[arg(long)]
    backend_ca_file: Option<PathBuf>,
    /// Redis shared by every gateway of the instance, for cluster-wide traffic-control limits,
    /// nonces and JWT ids, and the caching plugin's answers (`redis://host:6379/0`); without it
    /// each pod keeps its own.
    #[arg(long, env = "APIGW_REDIS_URL")]
    redis: Option<String>,
    /// When Redis does not answer: `open` counts on this pod, `closed` answers 503 I503SS.
    #[arg(long, value_enum, default_value = "open")]
    redis_failure: OnFailure,
    /// Worker threads, each serving every listener on a runtime of its own (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// OTLP/HTTP endpoint traces go to (`http://otel-collector:4318/v1/traces`); without one
    /// nothing is traced and a client's trace context passes to the backend untouched.
    #[arg(long, env = "APIGW_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Share (0 to 1) of the requests that start a trace here that get spans.
    #[arg(long, default_value_t = 0.01)]
    trace_sampling_ratio: f64,
    /// Join the client's trace: its `traceparent`, `tracestate` and sampling decision. Off, every
    /// request starts a trace here (a client cannot make the gateway record spans).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    trust_traceparent: bool,
}

/// The client listeners, as `--proxy-protocol` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ListenerName {
    /// `--http`.
    Http,
    /// `--https`.
    Https,
    /// `--internal-http`.
    InternalHttp,
    /// `--internal-https`.
    InternalHttps,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into collected logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // The control thread: config loading and watching, the admin port, signals. Requests are
    // served by worker threads of their own (see `run`).
    let control = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "starting the runtime");
            return ExitCode::FAILURE;
        }
    };
    match control.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "gateway stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let extra_roots = args.backend_ca_file.as_ref().map(std::fs::read).transpose()?;
    apigw_gateway::backend::trust_backend_roots(extra_roots.as_deref())?;
    let gateway_id = args.gateway_id.clone().unwrap_or_else(default_gateway_id);
    let settings = Settings {
        gateway_id: gateway_id.clone(),
        instance: args.instance.clone(),
        max_body_bytes: args.max_body_bytes,
        body_read_timeout: Duration::from_secs(args.body_read_timeout),
        escaped_slashes: args.escaped_slashes,
        force_nonce_check: args.force_nonce_check,
        trusted_proxies: TrustedProxies::new(args.trusted_proxies.clone()),
        cache_bytes: args.cache_bytes,
    };
    let access_log = if args.access_log { AccessLog::stdout() } else { AccessLog::disabled() };
    let mut gateway = Gateway::new(settings, access_log);
    if let Some(url) = &args.redis {
        gateway = gateway.with_shared_state(SharedState::new(url, args.redis_failure)?);
        tracing::info!(failure = ?args.redis_failure, "limits, nonces, JWT ids and cached answers shared through Redis");
    }
    if let Some(endpoint) = &args.otlp_endpoint {
        let provider = apigw_core::otlp::tracer_provider(endpoint, "apigw-gateway", tokio::runtime::Handle::current())?;
        gateway = gateway.with_tracing(Tracing::new(provider, args.trace_sampling_ratio, args.trust_traceparent));
        tracing::info!(endpoint, ratio = args.trace_sampling_ratio, trust = args.trust_traceparent, "tracing to OTLP");
    }
    let gateway = Arc::new(gateway);
    let mut _watcher = None;
    let mut cluster = None;
    if args.manifests.is_empty() {
        let client = kube::Client::try_default().await?;
        let source =
            ClusterSource::new(client, &args.config_namespace, &args.instance, &gateway_id, args.pod_uid.as_deref());
        tracing::info!(namespace = %args.config_namespace, instance = %args.instance, "reading the config from the cluster");
        tokio::spawn(source.clone().run(gateway.clone()));
        cluster = Some(source);
    } else {
        // An invalid first set is logged and refused like any later one: /readyz stays 503.
        config_source::reload_off_runtime(gateway.clone(), args.manifests.clone(), args.instance.clone(), 1).await;
        _watcher = Some(config_source::watch(gateway.clone(), args.manifests.clone(), args.instance.clone())?);
    }

    let tls = tls::acceptor(gateway.clone());
    let mut sockets = Vec::new();
    for (name, address, internal, tls) in [
        (ListenerName::Http, Some(args.http), false, None),
        (ListenerName::Https, args.https, false, Some(tls.clone())),
        (ListenerName::InternalHttp, args.internal_http, true, None),
        (ListenerName::InternalHttps, args.internal_https, true, Some(tls)),
    ] {
        let Some(address) = address else { continue };
        let socket = listener::bind_shared(address)?;
        let proxy_protocol = args.proxy_protocol.contains(&name);
        tracing::info!(address = %socket.local_addr()?, proxy_protocol, "{name:?} listener");
        let connections = Arc::new(ConnectionCap::new(args.max_connections));
        sockets.push((socket, ListenerKind { internal, tls, connections, proxy_protocol }));
    }
    let (stop, stopped) = watch::channel(false);
    let admin_listener = listener::bind(args.admin).await?;
    tracing::info!(address = %admin_listener.local_addr()?, "admin listener");
    tokio::spawn(admin::serve(admin_listener, gateway.clone(), stopped.clone()));

    let limits = ConnectionLimits {
        max_header_bytes: args.max_header_bytes,
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)).max(1);
    let mut threads = Vec::with_capacity(workers);
    for index in 0..workers {
        let sockets = sockets
            .iter()
            .map(|(socket, kind)| Ok((socket.try_clone()?, kind.clone())))
            .collect::<std::io::Result<Vec<_>>>()?;
        let (gateway, stopped) = (gateway.clone(), stopped.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || listener::run_worker(sockets, gateway, limits, stopped))?,
        );
    }

    shutdown_signal().await;
    if let Some(cluster) = cluster {
        cluster.withdraw().await;
    }
    tracing::info!(
        grace_seconds = args.shutdown_grace,
        drain_seconds = args.drain_timeout,
        "shutting down: answers close their connections, then in-flight requests drain"
    );
    let _ = stop.send(true);
    let joined = tokio::task::spawn_blocking(move || threads.into_iter().for_each(|thread| drop(thread.join())));
    let allowed = Duration::from_secs(args.shutdown_grace + args.drain_timeout);
    if tokio::time::timeout(allowed, joined).await.is_err() {
        tracing::warn!("drain timeout: closing the remaining connections");
    }
    // The workers handed on their last lines as they stopped: write them all out.
    let access_log = gateway.access_log().clone();
    let _ = tokio::task::spawn_blocking(move || access_log.finish()).await;
    // The last spans are sent by this runtime: wait for them off it.
    let _ = tokio::task::spawn_blocking(move || gateway.tracing().map(Tracing::shutdown)).await;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match terminate.as_mut() { Some(signal) => { signal.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn default_gateway_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "apigw".to_owned())
}
