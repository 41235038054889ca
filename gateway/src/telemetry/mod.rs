//! What the gateway tells about what it does: Prometheus metrics, the access log, request ids,
//! distributed traces.

pub mod access_log;
pub mod json_line;
pub mod metrics;
pub mod request_id;
pub mod traces;
