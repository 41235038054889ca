//! `apigw-operator`: watches the apigw custom resources, publishes each gateway instance's config
//! into ConfigMaps and a Secret of the config namespace, and reports status on every object.
//! Connects like kubectl (in-cluster config, else `KUBECONFIG`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use apigw_operator::admin::{self, Health};
use apigw_operator::alarms::AlarmWriter;
use apigw_operator::cache::{Cache, Changes};
use apigw_operator::leader::Elector;
use apigw_operator::metrics::Metrics;
use apigw_operator::reconcile::Reconciler;
use clap::Parser;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use opentelemetry::trace::TracerProvider as _;
use tokio::sync::watch;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A `name=value` label of `--alarm-rule-labels`.
fn label(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("{text:?}: expected name=value"))?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

/// Command-line flags.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Namespace the config ConfigMaps, Secrets and Leases live in.
    #[arg(long, env = "APIGW_CONFIG_NAMESPACE", default_value = "apigw-system")]
    config_namespace: String,
    /// Watch custom resources in this namespace only (default: all namespaces).
    #[arg(long, env = "APIGW_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Admin listener: /metrics, /healthz, /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    admin: SocketAddr,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "apigw-operator")]
    lease_name: String,
    /// The Deployment in the config namespace that owns the ConfigMaps, Secrets and Lease this
    /// operator writes, so that they are deleted with it (the chart sets its own).
    #[arg(long, env = "APIGW_OWNER_DEPLOYMENT")]
    owner_deployment: Option<String>,
    /// This replica's identity in the Lease (default: the host name and process id).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Labels on the PrometheusRules rendered from alarms, for a Prometheus's `ruleSelector`
    /// (`release=monitoring`; repeat or separate with commas).
    #[arg(long, env = "APIGW_ALARM_RULE_LABELS", value_delimiter = ',', value_parser = label)]
    alarm_rule_labels: Vec<(String, String)>,
    /// OTLP/HTTP endpoint a span of every reconcile pass goes to
    /// (`http://otel-collector:4318/v1/traces`).
    #[arg(long, env = "APIGW_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into collected logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "starting the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "operator stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let client = kube::Client::try_default().await?;
    let traces = match &args.otlp_endpoint {
        Some(endpoint) => {
            tracing::info!(endpoint, "tracing reconcile passes to OTLP");
            Some(apigw_core::otlp::tracer_provider(endpoint, "apigw-operator", tokio::runtime::Handle::current())?)
        }
        None => None,
    };
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health { metrics: metrics.clone(), ready: false.into() });
    let listener = tokio::net::TcpListener::bind(args.admin).await?;
    tracing::info!(admin = %listener.local_addr()?, "admin listening");
    tokio::spawn(admin::serve(listener, health.clone()));

    // The caches fill while this replica waits for the Lease: a standby takes over warm.
    let changes = Arc::new(Changes::default());
    let cache = Cache::start(
        &client,
        args.watch_namespace.as_deref(),
        &args.config_namespace,
        changes.clone(),
        metrics.clone(),
    );

    let identity = args.identity.unwrap_or_else(|| {
        let host = hostname::get().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        format!("{host}-{}", std::process::id())
    });
    let owner = match &args.owner_deployment {
        Some(name) => owner_reference(&client, &args.config_namespace, name).await,
        None => None,
    };
    let elector =
        Arc::new(Elector::new(client.clone(), &args.config_namespace, &args.lease_name, &identity, owner.clone()));
    let (leading_sender, mut leading) = watch::channel(false);
    let campaign = elector.campaign(leading_sender);

    cache.wait_until_ready().await;
    health.ready.store(true, Ordering::Relaxed);
    tracing::info!(%identity, "caches synced; waiting to lead");
    loop {
        tokio::select! {
            result = leading.wait_for(|leading| *leading) => {
                result?;
            }
            _ = shutdown_signal() => break,
        }
        // A fresh reconciler each term: what is published is read back from the caches.
        let reconciler =
            Reconciler::new(client.clone(), cache.clone(), &args.config_namespace, metrics.clone(), owner.clone(), {
                AlarmWriter::new(
                    client.clone(),
                    args.watch_namespace.clone(),
                    args.alarm_rule_labels.iter().cloned().collect(),
                )
            })
            .with_tracer(traces.as_ref().map(|provider| provider.tracer("apigw-operator")));
        metrics.leader.set(1);
        let stop = tokio::select! {
            _ = reconciler.run(changes.clone(), leading.clone()) => false,
            _ = shutdown_signal() => true,
        };
        metrics.leader.set(0);
        if stop {
            break;
        }
        tracing::warn!("stopped leading; reconciling resumes when this replica leads again");
    }
    if let Err(error) = campaign.resign().await {
        tracing::warn!(%error, "releasing the Lease");
    }
    if let Some(provider) = traces {
        // The last spans are sent by this runtime: wait for them off it.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
    Ok(())
}

/// The owner reference of Deployment `namespace/name`, or none (logged) when it cannot be read:
/// what the operator writes then outlives it, as before.
async fn owner_reference(client: &kube::Client, namespace: &str, name: &str) -> Option<OwnerReference> {
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(client.clone(), namespace);
    match deployments.get(name).await {
        Ok(deployment) => {
            deployment.controller_owner_ref(&()).map(|owner| OwnerReference { controller: None, ..owner })
        }
        Err(error) => {
            tracing::warn!(%error, deployment = name, "reading the owner Deployment; published objects get no owner");
            None
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { if let Some(terminate) = terminate.as_mut() { terminate.recv().await; } else { std::future::pending::<()>().await } } => {}
    }
}
