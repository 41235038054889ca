//! Distributed tracing (`--otlp-endpoint`): the W3C trace context (`traceparent`,
//! `tracestate`) taken from the client when `--trust-traceparent` says so (always from this
//! gateway's own self-invocations), and sent on to the backend. A sampled request becomes an
//! OTLP server span with the pipeline's phases as events and the backend call as a child client
//! span; an unsampled one costs a parse and the header written.

use std::time::SystemTime;

use http::HeaderMap;
use http::header::HeaderName;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The W3C `tracestate` header.
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// What tracing does: where spans go, how many requests get them, whose trace context counts.
pub struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
    /// Share of the requests that start a trace here which get spans (0 to 1).
    ratio: f64,
    /// Whether a client's `traceparent` joins its trace (and its sampling decision).
    trust_client: bool,
}

/// One request's place in its trace.
pub struct RequestTrace {
    /// The trace and the remote parent (the client's span, when trusted), or an empty context.
    parent: Context,
    trace_id: TraceId,
    /// The server span's context, when sampled.
    server: Option<Context>,
    /// The backend call's span, while it runs.
    backend: Option<opentelemetry_sdk::trace::Span>,
    /// Whether the client's `tracestate` is sent on.
    keep_state: bool,
}

/// What a finished request was, for its server span.
pub struct Finished<'a> {
    /// The request's method (the span is named `METHOD group/api`).
    pub method: &'a str,
    /// Api, group, stage and namespace (empty when no Api matched).
    pub api: (&'a str, &'a str, &'a str, &'a str),
    /// The App's id, when one called.
    pub app: &'a str,
    /// The answer's status.
    pub status: u16,
    /// The gateway's error code, when it answered with an error.
    pub error_code: &'static str,
    /// Backend tries after the first.
    pub retries: u8,
}

impl Tracing {
    /// Tracing through `provider`, sampling `ratio` of new traces, trusting clients' trace
    /// context when `trust_client`.
    pub fn new(provider: SdkTracerProvider, ratio: f64, trust_client: bool) -> Self {
        let tracer = provider.tracer("apigw-gateway");
        Self { provider, tracer, propagator: TraceContextPropagator::new(), ratio: ratio.clamp(0.0, 1.0), trust_client }
    }

    /// Sends the spans still queued (on shutdown).
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "flushing the last spans");
        }
    }

    /// The trace a request with `headers` joins; `internal` for this gateway's own
    /// self-invocations, whose context is always trusted. `describe` gives the server span's
    /// name and first attributes (called for sampled requests only).
    pub fn begin(
        &self,
        headers: &HeaderMap,
        internal: bool,
        describe: impl FnOnce() -> (String, Vec<KeyValue>),
    ) -> RequestTrace {
        let trusted = self.trust_client || internal;
        let extracted = match trusted {
            true => self.propagator.extract(&HeaderExtractor(headers)),
            false => Context::new(),
        };
        let remote = extracted.span().span_context().clone();
        let (parent, trace_id, sampled) = match remote.is_valid() {
            true => (extracted, remote.trace_id(), remote.is_sampled()),
            false => {
                let trace_id = TraceId::from_bytes(fastrand::u128(1..).to_be_bytes());
                (Context::new(), trace_id, fastrand::f64() < self.ratio)
            }
        };
        let server = sampled.then(|| {
            let (name, attributes) = describe();
            let span = self
                .tracer
                .span_builder(name)
                .with_kind(SpanKind::Server)
                .with_start_time(SystemTime::now())
                .with_attributes(attributes)
                .start_with_context(&self.tracer, &parent);
            parent.with_span(span)
        });
        RequestTrace { parent, trace_id, server, backend: None, keep_state: trusted }
    }

    /// Starts the backend call's span and writes the trace context the backend gets into its
    /// request `headers`.
    pub fn backend_call(&self, trace: &mut RequestTrace, headers: &mut HeaderMap) {
        let context = match &trace.server {
            Some(server) => {
                let span = self
                    .tracer
                    .span_builder("backend")
                    .with_kind(SpanKind::Client)
                    .start_with_context(&self.tracer, server);
                let context = span.span_context().clone();
                trace.backend = Some(span);
                context
            }
            None => {
                // Not recorded: the backend still joins the trace, under an id of this hop.
                let state = trace.parent.span().span_context().trace_state().clone();
                let span_id = SpanId::from_bytes(fastrand::u64(1..).to_be_bytes());
                SpanContext::new(trace.trace_id, span_id, TraceFlags::default(), false, state)
            }
        };
        let context = Context::new().with_remote_span_context(context);
        self.propagator.inject_context(&context, &mut HeaderInjector(headers));
        // The propagator writes `tracestate` even when empty; an untrusted one never goes on.
        if !trace.keep_state || headers.get(TRACESTATE).is_some_and(|state| state.is_empty()) {
            headers.remove(TRACESTATE);
        }
    }
}

impl RequestTrace {
    /// The trace id (for the access log).
    pub fn trace_id(&self) -> u128 {
        u128::from_be_bytes(self.trace_id.to_bytes())
    }

    /// Records that the request reached phase `name` (sampled requests only).
    pub fn mark(&self, name: &'static str) {
        if let Some(server) = &self.server {
            server.span().add_event(name, Vec::new());
        }
    }

    /// Ends the backend call's span: `address` it went to, `retries` after the first try,
    /// `failed` with the gateway's error code when it failed.
    pub fn backend_done(&mut self, address: Option<&str>, retries: u8, failed: Option<&'static str>) {
        let Some(mut span) = self.backend.take() else { return };
        if let Some(address) = address {
            span.set_attribute(KeyValue::new("server.address", address.to_owned()));
        }
        span.set_attribute(KeyValue::new("apigw.retries", i64::from(retries)));
        if let Some(code) = failed {
            span.set_status(Status::error(code));
        }
        span.end();
    }

    /// Ends the server span with what the request was.
    pub fn finish(mut self, finished: &Finished) {
        self.backend_done(None, finished.retries, None);
        let Some(server) = self.server else { return };
        let span = server.span();
        let (api, group, stage, namespace) = finished.api;
        if !api.is_empty() {
            span.update_name(format!("{} {group}/{api}", finished.method));
        }
        span.set_attributes([
            KeyValue::new("http.response.status_code", i64::from(finished.status)),
            KeyValue::new("apigw.api", api.to_owned()),
            KeyValue::new("apigw.group", group.to_owned()),
            KeyValue::new("apigw.stage", stage.to_owned()),
            KeyValue::new("apigw.namespace", namespace.to_owned()),
            KeyValue::new("apigw.app_id", finished.app.to_owned()),
            KeyValue::new("apigw.retries", i64::from(finished.retries)),
        ]);
        if !finished.error_code.is_empty() {
            span.set_attribute(KeyValue::new("apigw.error_code", finished.error_code));
        }
        if finished.status >= 500 {
            span.set_status(Status::error(finished.error_code));
        }
        span.end();
    }
}
