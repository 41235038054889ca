//! The JSON access log: one line per request, as nginx's `access_log ... buffer=64k flush=1s`
//! writes it. Each worker thread writes its lines straight into a buffer of its own (no lock, no
//! allocation per line); a full buffer, or one holding a line older than a second, is handed to
//! a writer thread that alone touches stdout. A stdout that cannot keep up never blocks a
//! request: once [`QUEUED_BUFFERS`] buffers wait, further ones are dropped and their lines counted
//! in `apigw_gateway_access_log_dropped_lines_total`. [`AccessLog::finish`] writes out every
//! line before the process exits.

use std::cell::RefCell;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use super::json_line::{JsonLine, push_digits, push_hex128};

/// A buffer is handed to the writer once it holds this many bytes.
pub const BUFFER_BYTES: usize = 64 * 1024;
/// ... or once its oldest line is this old.
pub const FLUSH_AFTER: Duration = Duration::from_secs(1);
/// Buffers that may wait for stdout; beyond, buffers are dropped.
pub const QUEUED_BUFFERS: usize = 16;

/// One request, as logged.
#[derive(Debug)]
pub struct AccessRecord<'a> {
    /// When the request was answered (written as RFC 3339 in milliseconds, UTC).
    pub time: Rfc3339Millis,
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
    /// The Api as `(namespace, group, api)`, written `namespace/group/api`; `None` (written
    /// empty) when no Api matched.
    pub api: Option<(&'a str, &'a str, &'a str)>,
    /// The Api's group.
    pub group: &'a str,
    /// Stage.
    pub stage: &'a str,
    /// Calling App's id, when authenticated.
    pub app: &'a str,
    /// Status answered.
    pub status: u16,
    /// `X-Ca-Error-Code`, when the gateway answered an error.
    pub error_code: &'a str,
    /// Request body bytes, as its `Content-Length` says (0 without one).
    pub request_bytes: u64,
    /// Response body bytes, when known from Content-Length.
    pub bytes: u64,
    /// Total time in milliseconds, to response headers (written to the microsecond).
    pub total_ms: f64,
    /// Backend time in milliseconds (every try).
    pub backend_ms: f64,
    /// The backend address the last try went to (`host:port`), empty when none was called.
    pub backend: &'a str,
    /// Backend tries after the first.
    pub retries: u8,
    /// `HIT` or `MISS` for an Api with the caching plugin, else empty.
    pub cache: &'a str,
    /// The W3C trace id (with `--otlp-endpoint`), written as 32 hex digits; empty for `None`.
    pub trace_id: Option<u128>,
}

impl AccessRecord<'_> {
    /// The record as one JSON line at the end of `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        let micros = |ms: f64| (ms * 1000.0).round() as u64;
        let api = self.api.map(|(namespace, group, api)| [namespace, group, api]);
        let mut line = JsonLine::begin(out);
        line.plain("time", |out| self.time.write(out))
            .string("requestId", self.request_id)
            .string("clientIp", self.client_ip)
            .string("host", self.host)
            .string("method", self.method)
            .string("path", self.path)
            .joined("api", api.as_ref().map_or(&[][..], |parts| &parts[..]), b'/')
            .string("group", self.group)
            .string("stage", self.stage)
            .string("app", self.app)
            .integer("status", self.status.into())
            .string("errorCode", self.error_code)
            .integer("requestBytes", self.request_bytes)
            .integer("bytes", self.bytes)
            .millis("totalMs", micros(self.total_ms))
            .millis("backendMs", micros(self.backend_ms))
            .string("backend", self.backend)
            .integer("retries", self.retries.into())
            .string("cache", self.cache)
            .plain("traceId", |out| {
                if let Some(id) = self.trace_id {
                    push_hex128(out, id);
                }
            });
        line.end();
    }
}

/// A time as `2026-12-01T18:00:00.123Z`, kept as Unix milliseconds until written; the text of
/// the second is made once per second per thread.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339Millis(pub i64);

impl Rfc3339Millis {
    /// Now.
    pub fn now() -> Self {
        Self(jiff::Timestamp::now().as_millisecond())
    }

    /// Writes the time's text at the end of `out`.
    fn write(self, out: &mut Vec<u8>) {
        thread_local! {
            static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
        }
        let (second, millis) = (self.0.div_euclid(1000), self.0.rem_euclid(1000));
        SECOND.with_borrow_mut(|(cached, text)| {
            if *cached != second {
                *cached = second;
                *text = jiff::Timestamp::from_second(second)
                    .map(|time| time.strftime("%Y-%m-%dT%H:%M:%S").to_string())
                    .unwrap_or_default();
            }
            out.extend_from_slice(text.as_bytes());
        });
        out.push(b'.');
        push_digits(out, millis as u64, 3);
        out.push(b'Z');
    }
}

/// A worker's lines not yet handed to the writer.
struct Pending {
    bytes: Vec<u8>,
    lines: u64,
    /// The time of its first line, in Unix milliseconds.
    since_ms: i64,
}

thread_local! {
    static PENDING: RefCell<Pending> = const { RefCell::new(Pending { bytes: Vec::new(), lines: 0, since_ms: 0 }) };
}

/// What the worker threads share: the way to the writer thread and its spent buffers.
struct Writer {
    queue: SyncSender<Vec<u8>>,
    /// Buffers the writer emptied, for workers to fill again.
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
    dropped: Counter,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Where access lines go. The worker buffers are per thread, not per log: a process has one.
#[derive(Clone)]
pub struct AccessLog {
    writer: Option<Arc<Writer>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("AccessLog").field("enabled", &self.enabled()).finish()
    }
}

impl AccessLog {
    /// A log written to stdout by a thread of its own.
    pub fn stdout() -> Self {
        Self::to(std::io::stdout())
    }

    /// A log written to `out` by a thread of its own.
    pub fn to(out: impl Write + Send + 'static) -> Self {
        let (queue, full) = std::sync::mpsc::sync_channel(QUEUED_BUFFERS);
        let spare: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let returned = spare.clone();
        let thread = thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_out(out, &full, &returned))
            .expect("the access-log thread starts");
        let writer = Writer { queue, spare, dropped: Counter::default(), thread: Mutex::new(Some(thread)) };
        Self { writer: Some(Arc::new(writer)) }
    }

    /// A log that writes nothing.
    pub fn disabled() -> Self {
        Self { writer: None }
    }

    /// Whether lines are written at all.
    pub fn enabled(&self) -> bool {
        self.writer.is_some()
    }

    /// Lines dropped because stdout did not keep up (a metric's handle).
    pub fn dropped(&self) -> Option<Counter> {
        self.writer.as_ref().map(|writer| writer.dropped.clone())
    }

    /// Logs one request into this thread's buffer; hands the buffer on when it is full or holds
    /// a line older than [`FLUSH_AFTER`].
    pub fn record(&self, record: &AccessRecord<'_>) {
        let Some(writer) = &self.writer else { return };
        PENDING.with_borrow_mut(|pending| {
            if pending.bytes.capacity() == 0 {
                pending.bytes = writer.buffer();
            }
            let now = record.time.0;
            if pending.lines == 0 {
                pending.since_ms = now;
            }
            record.write_line(&mut pending.bytes);
            pending.lines += 1;
            if pending.bytes.len() >= BUFFER_BYTES || now - pending.since_ms >= FLUSH_AFTER.as_millis() as i64 {
                writer.hand_on(pending);
            }
        });
    }

    /// Hands this thread's lines to the writer, however few; a worker calls it every
    /// [`FLUSH_AFTER`] and when it stops.
    pub fn flush_thread(&self) {
        let Some(writer) = &self.writer else { return };
        PENDING.with_borrow_mut(|pending| {
            if pending.lines > 0 {
                writer.hand_on(pending);
            }
        });
    }

    /// Flushes this thread's lines every [`FLUSH_AFTER`], for as long as the runtime runs.
    pub async fn flush_periodically(self) {
        if !self.enabled() {
            return;
        }
        let mut interval = tokio::time::interval(FLUSH_AFTER);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            self.flush_thread();
        }
    }

    /// Writes out every line handed on (and this thread's), then stops the writer thread. Lines
    /// recorded after it are dropped.
    pub fn finish(&self) {
        let Some(writer) = &self.writer else { return };
        self.flush_thread();
        // An empty buffer tells the writer to stop once it has written what came before.
        let _ = writer.queue.send(Vec::new());
        let thread = writer.thread.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Writer {
    /// An empty buffer: a spent one, or a new one.
    fn buffer(&self) -> Vec<u8> {
        let spare = self.spare.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(BUFFER_BYTES + 4096))
    }

    /// Queues `pending`'s lines for stdout (or drops and counts them when the queue is full) and
    /// leaves it an empty buffer.
    fn hand_on(&self, pending: &mut Pending) {
        let full = std::mem::replace(&mut pending.bytes, self.buffer());
        let lines = std::mem::take(&mut pending.lines);
        match self.queue.try_send(full) {
            Ok(()) => {}
            Err(TrySendError::Full(mut buffer) | TrySendError::Disconnected(mut buffer)) => {
                self.dropped.inc_by(lines);
                buffer.clear();
                self.spare.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(buffer);
            }
        }
    }
}

/// The writer thread: each buffer written whole and flushed, then given back; an empty buffer
/// (from [`AccessLog::finish`]) ends it.
fn write_out(mut out: impl Write, full: &Receiver<Vec<u8>>, spare: &Mutex<Vec<Vec<u8>>>) {
    while let Ok(mut buffer) = full.recv() {
        if buffer.is_empty() {
            break;
        }
        let _ = out.write_all(&buffer).and_then(|()| out.flush());
        buffer.clear();
        let mut spare = spare.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if spare.len() < QUEUED_BUFFERS {
            spare.push(buffer);
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(request_id: &str) -> AccessRecord<'_> {
        AccessRecord {
            time: Rfc3339Millis(1_764_612_000_123),
            request_id,
            client_ip: "10.0.0.1",
            host: "shop.example.com",
            method: "GET",
            path: "/a \"quoted\" path",
            api: Some(("demo", "shop", "orders")),
            group: "shop",
            stage: "RELEASE",
            app: "",
            status: 200,
            error_code: "",
            request_bytes: 0,
            bytes: 13,
            total_ms: 1.5,
            backend_ms: 1.0,
            backend: "10.0.0.2:8080",
            retries: 0,
            cache: "",
            trace_id: Some(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        }
    }

    #[test]
    fn lines_are_json_and_all_written_by_finish() {
        let out = Shared::default();
        let log = AccessLog::to(out.clone());
        let ids: Vec<String> = (0..2_000).map(|index| format!("id-{index}")).collect();
        for id in &ids {
            log.record(&record(id));
        }
        log.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), ids.len(), "more than one buffer's worth, none lost");
        assert_eq!(lines[0]["time"], "2025-12-01T18:00:00.123Z");
        assert_eq!(lines[0]["api"], "demo/shop/orders");
        assert_eq!(lines[0]["path"], "/a \"quoted\" path");
        assert_eq!(lines[0]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!((lines[0]["status"].as_u64(), lines[0]["totalMs"].as_f64()), (Some(200), Some(1.5)));
        assert_eq!(lines[0]["backendMs"].as_f64(), Some(1.0));
        assert_eq!(lines[1999]["requestId"], "id-1999");
        assert_eq!(log.dropped().map(|dropped| dropped.get()), Some(0));
    }

    #[test]
    fn a_stdout_that_does_not_keep_up_drops_and_counts_lines() {
        /// Blocks every write until the test ends.
        struct Stuck(Arc<Mutex<()>>);
        impl Write for Stuck {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                drop(self.0.lock().unwrap());
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let log = AccessLog::to(Stuck(gate.clone()));
        let started = std::time::Instant::now();
        let mut written = 0u64;
        while log.dropped().unwrap().get() == 0 {
            log.record(&record("id"));
            written += 1;
            assert!(written < 10_000_000, "nothing was ever dropped");
        }
        assert!(started.elapsed() < Duration::from_secs(10), "recording never waited on the stuck stdout");
        drop(held);
        log.finish();
    }
}
