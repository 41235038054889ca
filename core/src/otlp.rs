//! OTLP export of trace spans, shared by the gateway and the operator: OTLP/HTTP with protobuf
//! bodies (the collector's port 4318), in batches sent by the SDK's batch processor on a thread
//! of its own, off the request path. Each batch's HTTP request runs on the process's control
//! runtime, which gives hyper the Tokio reactor it needs.

use std::time::Duration;

use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

/// How long one batch may take to send.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why spans cannot be exported.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter for {endpoint}: {source}")]
pub struct OtlpError {
    endpoint: String,
    #[source]
    source: opentelemetry_otlp::ExporterBuildError,
}

/// A tracer provider exporting every span it is given to `endpoint` (such as
/// `http://otel-collector:4318/v1/traces`) as service `service`; sends run on `runtime`.
/// Which requests get spans is the caller's choice: the provider records all it is handed.
pub fn tracer_provider(
    endpoint: &str,
    service: &'static str,
    runtime: tokio::runtime::Handle,
) -> Result<SdkTracerProvider, OtlpError> {
    let client = OnRuntime { runtime, client: HyperClient::with_default_connector(EXPORT_TIMEOUT, None) };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(client)
        .build()
        .map_err(|source| OtlpError { endpoint: endpoint.to_owned(), source })?;
    Ok(SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(Resource::builder().with_service_name(service).build())
        .with_batch_exporter(exporter)
        .build())
}

/// The OTLP HTTP client, sending on a Tokio runtime from the batch processor's plain thread.
#[derive(Debug)]
struct OnRuntime {
    runtime: tokio::runtime::Handle,
    client: HyperClient,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime.spawn(async move { client.send_bytes(request).await }).await?
    }
}
