//! The admin port: `/metrics` (Prometheus), `/healthz`, `/readyz` (ready once a config is loaded),
//! `/config` (version, hash, API count, last refusal) and `/endpoints` (the passive health of
//! every VpcAccess endpoint).

use std::{convert::Infallible, sync::Arc};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::pipeline::Gateway;

/// Serves the admin endpoints for as long as the process runs. Once `shutdown` turns true,
/// `/readyz` answers 503 (the pod leaves its Services) while `/healthz` and `/metrics` go on,
/// so that a draining pod is neither restarted nor unobserved.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, shutdown: watch::Receiver<bool>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (gateway, stopping) = (gateway.clone(), *shutdown.borrow());
                async move { Ok::<_, Infallible>(answer(&gateway, &request, stopping)) }
            });
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn answer(gateway: &Gateway, request: &Request<Incoming>, stopping: bool) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match request.uri().path() {
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" if stopping => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", "shutting down\n".to_owned()),
        "/readyz" => {
            let status = gateway.live.status();
            let body = serde_json::to_string_pretty(&status).unwrap_or_default();
            let code = if status.loaded { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            (code, "application/json", body)
        }
        "/config" => (
            StatusCode::OK,
            "application/json",
            serde_json::to_string_pretty(&gateway.live.status()).unwrap_or_default(),
        ),
        "/endpoints" => (
            StatusCode::OK,
            "application/json",
            serde_json::to_string_pretty(&crate::backend::health::report()).unwrap_or_default(),
        ),
        "/metrics" => {
            (StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", gateway.metrics.encode())
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /healthz, /readyz, /config, /endpoints\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}
