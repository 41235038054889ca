//! Distributed tracing (`--otlp-endpoint`): the W3C trace context (`traceparent`,
//! `tracestate`) taken from the client when `--trust-traceparent` says so (always from this
//! gateway's own self-invocations), and sent on to the backend. A sampled request becomes an
//! OTLP server span with the pipeline's phases as events and the backend call as a child client
//! span; an unsampled one costs a parse and the header written.

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    Span as _, SpanId, SpanKind, Status, TraceContextExt, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The W3C `traceparent` header.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
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

/// One request's place in its trace. An unsampled request holds only ids; a sampled one's spans
/// are boxed, so that neither costs the other.
pub struct RequestTrace {
    trace_id: TraceId,
    /// The client's `tracestate`, when trusted: sent on to the backend.
    state: Option<HeaderValue>,
    /// The spans, when sampled.
    recorded: Option<Box<Recorded>>,
}

/// A sampled request's spans.
struct Recorded {
    /// The context holding the server span.
    server: Context,
    /// The backend call's span, while it runs.
    backend: Option<opentelemetry_sdk::trace::Span>,
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
        let trusted = (self.trust_client || internal) && headers.contains_key(TRACEPARENT);
        let parent = match trusted {
            true => self.propagator.extract(&HeaderExtractor(headers)),
            false => Context::new(),
        };
        let remote = parent.span().span_context().clone();
        let (mut trace_id, sampled) = match remote.is_valid() {
            true => (remote.trace_id(), remote.is_sampled()),
            false => (TraceId::from_bytes(fastrand::u128(1..).to_be_bytes()), fastrand::f64() < self.ratio),
        };
        let state = headers.get(TRACESTATE).filter(|_| remote.is_valid()).cloned();
        let recorded = sampled.then(|| {
            let (name, attributes) = describe();
            let span = self
                .tracer
                .span_builder(name)
                .with_kind(SpanKind::Server)
                .with_attributes(attributes)
                .start_with_context(&self.tracer, &parent);
            // A root span's trace id is the SDK's.
            trace_id = span.span_context().trace_id();
            Box::new(Recorded { server: parent.with_span(span), backend: None })
        });
        RequestTrace { trace_id, state, recorded }
    }

    /// Starts the backend call's span and writes the trace context the backend gets into its
    /// request `headers`: `traceparent`, and `tracestate` when the client's was trusted.
    pub fn backend_call(&self, trace: &mut RequestTrace, headers: &mut HeaderMap) {
        let (span_id, sampled) = match &mut trace.recorded {
            Some(recorded) => {
                let span = self
                    .tracer
                    .span_builder("backend")
                    .with_kind(SpanKind::Client)
                    .start_with_context(&self.tracer, &recorded.server);
                let span_id = span.span_context().span_id();
                recorded.backend = Some(span);
                (span_id, true)
            }
            // Not recorded: the backend still joins the trace, under an id of this hop.
            None => (SpanId::from_bytes(fastrand::u64(1..).to_be_bytes()), false),
        };
        headers.insert(TRACEPARENT, traceparent(trace.trace_id, span_id, sampled));
        match &trace.state {
            Some(state) => headers.insert(TRACESTATE, state.clone()),
            None => headers.remove(TRACESTATE),
        };
    }
}

/// `00-<trace id>-<parent id>-<flags>`, written without formatting machinery.
fn traceparent(trace_id: TraceId, span_id: SpanId, sampled: bool) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let digits = trace_id.to_bytes().into_iter().zip((3..).step_by(2));
    for (byte, at) in digits.chain(span_id.to_bytes().into_iter().zip((36..).step_by(2))) {
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 15)];
    }
    if sampled {
        text[54] = b'1';
    }
    HeaderValue::from_bytes(&text).expect("hex digits and dashes are a valid header value")
}

impl RequestTrace {
    /// The trace id (for the access log).
    pub fn trace_id(&self) -> u128 {
        u128::from_be_bytes(self.trace_id.to_bytes())
    }

    /// Records that the request reached phase `name` (sampled requests only).
    pub fn mark(&self, name: &'static str) {
        if let Some(recorded) = &self.recorded {
            recorded.server.span().add_event(name, Vec::new());
        }
    }

    /// Ends the backend call's span: `address` it went to, `retries` after the first try,
    /// `failed` with the gateway's error code when it failed.
    pub fn backend_done(&mut self, address: Option<&str>, retries: u8, failed: Option<&'static str>) {
        let Some(mut span) = self.recorded.as_mut().and_then(|recorded| recorded.backend.take()) else { return };
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
        let Some(recorded) = self.recorded else { return };
        let span = recorded.server.span();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_written_as_the_w3c_specification_spells_it() {
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let span = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        assert_eq!(traceparent(trace, span, true), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(traceparent(trace, span, false), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    }
}
