//! The JSON access log: one line per request, written by a thread of its own so that requests
//! never wait on stdout.

use std::{
    io::{BufWriter, Write},
    sync::mpsc,
    thread,
};

use serde::Serialize;

/// One request, as logged.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord<'a> {
    /// RFC 3339 time the request arrived.
    pub time: &'a str,
    /// `X-Ca-Request-Id`.
    pub request_id: &'a str,
    /// The client's IP.
    pub client_ip: &'a str,
    /// Host asked for.
    pub host: &'a str,
    /// Method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// `namespace/group/api`, empty when no API matched.
    pub api: &'a str,
    /// Stage.
    pub stage: &'a str,
    /// Calling App's id, when authenticated.
    pub app: &'a str,
    /// Status answered.
    pub status: u16,
    /// `X-Ca-Error-Code`, when the gateway answered an error.
    pub error_code: &'a str,
    /// Response body bytes, when known from Content-Length.
    pub bytes: u64,
    /// Total time in milliseconds, to response headers.
    pub total_ms: f64,
    /// Backend time in milliseconds (every try).
    pub backend_ms: f64,
    /// Backend tries after the first.
    pub retries: u8,
    /// `HIT` or `MISS` for an Api with the caching plugin, else empty.
    pub cache: &'a str,
}

/// Where access lines go.
#[derive(Clone, Debug)]
pub struct AccessLog {
    lines: Option<mpsc::Sender<String>>,
}

impl AccessLog {
    /// A log writing to stdout from a background thread.
    pub fn stdout() -> Self {
        let (sender, receiver) = mpsc::channel::<String>();
        thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || {
                let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
                while let Ok(line) = receiver.recv() {
                    let _ = writeln!(out, "{line}");
                    while let Ok(line) = receiver.try_recv() {
                        let _ = writeln!(out, "{line}");
                    }
                    let _ = out.flush();
                }
            })
            .expect("the access-log thread starts");
        Self { lines: Some(sender) }
    }

    /// A log that writes nothing.
    pub fn disabled() -> Self {
        Self { lines: None }
    }

    /// Whether lines are written at all.
    pub fn enabled(&self) -> bool {
        self.lines.is_some()
    }

    /// Logs one request.
    pub fn record(&self, record: &AccessRecord<'_>) {
        if let Some(lines) = &self.lines
            && let Ok(line) = serde_json::to_string(record)
        {
            let _ = lines.send(line);
        }
    }
}
