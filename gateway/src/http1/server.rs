//! HTTP/1.1 towards clients: request heads parsed by httparse into zero-copy header values,
//! request bodies read off the connection as the handler takes them, a response with a small
//! body written in one system call, keep-alive and pipelining, `100 Continue`, upgrades, and the
//! limits of a public server (head size, head read time, idle time). Request trailers are read
//! and dropped; response trailers are not sent.
//!
//! A connection is one task: it reads a head, awaits the handler, writes the answer, and loops.
//! A request body borrows the connection's read side and gives it back when it is dropped; a
//! body not read to its end closes the connection after the answer.

use std::future::{Future, poll_fn};
use std::io;
use std::mem::MaybeUninit;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use http::{Method, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::AsyncWriteExt;
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, Sleep};

use super::io::{ClientStream, Reader, Upgraded, WriteSide};
use super::{
    ADDED_HEADERS, BoxError, FieldSpans, Framing, FramingHeaders, MAX_HEADERS, Sending, Source, WriteError,
    put_content_length, put_field, write_message,
};

/// Limits applied to every client connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Largest request head (request line and headers), in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Time allowed to send a request head once its first byte came (slowloris defence); slower
    /// gets 408.
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    pub idle_timeout: Duration,
    /// Once the server stops, how long an idle keep-alive connection stays open for its
    /// client's next request (answered, with `Connection: close`) before it is closed: a client
    /// sending on a connection the server closes at once gets no answer at all.
    pub shutdown_grace: Duration,
}

/// What answers the requests of a connection.
pub trait Handler {
    /// The body of its responses.
    type Body: Body<Data = Bytes> + Send;

    /// Answers a request.
    fn call(&self, request: Request<RequestBody>) -> impl Future<Output = Response<Self::Body>> + Send;

    /// The answer to a request the codec refuses with `status` (malformed, head too large or
    /// too slow), for `reason`.
    fn refuse(&self, status: StatusCode, reason: &'static str) -> Response<Self::Body>;
}

/// The room an answer's head (and small body) is written in, kept between requests; grown for a
/// larger answer, it is kept up to `KEPT_ANSWER_BUFFER_BYTES`.
const ANSWER_BUFFER_BYTES: usize = 1024;
const KEPT_ANSWER_BUFFER_BYTES: usize = 4 * 1024;
/// How long and how much a refused client may still send before the connection is closed, so
/// that it reads the refusal instead of a reset.
const LINGER: (Duration, usize) = (Duration::from_secs(1), 256 * 1024);

/// Serves HTTP/1.1 on `stream`, whose first bytes (`received`) are read already, until the
/// client closes, an answer closes the connection, it idles too long or `shutdown` turns true.
pub fn serve<'a, H: Handler>(
    stream: ClientStream,
    received: BytesMut,
    handler: &'a H,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + 'a
where
    <H::Body as Body>::Error: Into<BoxError>,
{
    let (reader, writer) = stream.split(received);
    let server = Server {
        writer,
        out: Vec::with_capacity(ANSWER_BUFFER_BYTES),
        spans: FieldSpans::default(),
        limits,
        timer: Box::pin(tokio::time::sleep(limits.idle_timeout)),
        stop: Stop::new(shutdown),
    };
    // Returned, not awaited in an async fn, which would keep room for `server` and `reader`
    // beside the future they move into for as long as the connection lives.
    server.run(reader, handler).map(|served| {
        if let Err(error) = served {
            tracing::debug!(%error, "client connection ended with an error");
        }
    })
}

/// One client connection's state between requests.
struct Server {
    writer: WriteSide,
    /// The head (and small body) of the answer being written, reused.
    out: Vec<u8>,
    /// Where the fields of the request head being parsed lie, reused.
    spans: FieldSpans,
    limits: ConnectionLimits,
    /// The deadline of the wait for the next head, reset per request.
    timer: Pin<Box<Sleep>>,
    stop: Stop,
}

/// What follows an exchange.
enum Next {
    /// Another request, read with this.
    KeepAlive(Reader),
    /// The connection was upgraded: it goes to the handler that asked.
    Upgrade(Reader, oneshot::Sender<Upgraded>),
    /// The connection closes.
    Close,
    /// The request was refused: the connection closes once the client stopped sending.
    Refused(Reader),
}

impl Server {
    async fn run<H: Handler>(mut self, mut reader: Reader, handler: &H) -> io::Result<()>
    where
        <H::Body as Body>::Error: Into<BoxError>,
    {
        loop {
            match self.exchange(reader, handler).await? {
                Next::KeepAlive(next) => reader = next,
                Next::Upgrade(reader, upgraded) => {
                    let _ = upgraded.send(Upgraded::new(reader, self.writer));
                    return Ok(());
                }
                Next::Close => return self.writer.shutdown().await,
                Next::Refused(reader) => {
                    self.writer.shutdown().await?;
                    Box::pin(linger(reader)).await;
                    return Ok(());
                }
            }
        }
    }

    /// Reads one request, has it answered and writes the answer.
    async fn exchange<H: Handler>(&mut self, mut reader: Reader, handler: &H) -> io::Result<Next>
    where
        <H::Body as Body>::Error: Into<BoxError>,
    {
        // Boxed: answering holds the request's state, its response and body while it lasts, so
        // that an idle connection's task keeps room only for waiting for a head. (The head goes
        // into the box at once: a binding of it would keep room in the task too.)
        let answering = match self.read_head(&mut reader).await {
            Ok(Some(head)) => Box::pin(self.answer(head, reader, handler)),
            Ok(None) => return Ok(Next::Close),
            Err(refusal) if refusal.silent => {
                tracing::debug!(reason = refusal.reason, "closing a connection that does not speak HTTP/1");
                return Ok(Next::Close);
            }
            Err(refusal) => return Box::pin(self.refuse(refusal, reader, handler)).await,
        };
        answering.await
    }

    /// Answers a request the codec refused; the connection closes once the client stopped
    /// sending.
    async fn refuse<H: Handler>(&mut self, refusal: Refusal, reader: Reader, handler: &H) -> io::Result<Next>
    where
        <H::Body as Body>::Error: Into<BoxError>,
    {
        let reply = Reply { to_head: false, http10: false, close: true };
        self.write_response(handler.refuse(refusal.status, refusal.reason), reply).await?;
        Ok(Next::Refused(reader))
    }

    /// Has the request of `head` answered and writes the answer.
    async fn answer<H: Handler>(&mut self, head: RequestHead, mut reader: Reader, handler: &H) -> io::Result<Next>
    where
        <H::Body as Body>::Error: Into<BoxError>,
    {
        let RequestHead { request, noted, framing, .. } = head;
        let http10 = request.version() == Version::HTTP_10;
        let to_head = request.method() == Method::HEAD;
        let mut close = !noted.keeps_alive(request.version());

        let mut body = RequestBody::default();
        let (mut returned, mut wants_continue, mut upgrade) = (None, None, None);
        let mut reader = if framing == Framing::Done {
            if noted.upgrade {
                let (sender, receiver) = oneshot::channel();
                (upgrade, body.upgrade) = (Some(sender), Some(OnUpgrade(receiver)));
            }
            Some(reader)
        } else {
            reader.reading_body(true);
            let (back, home) = oneshot::channel();
            let asks = (noted.expects_continue && !http10).then(oneshot::channel);
            let (asks, waits) = asks.map_or((None, None), |(asks, waits)| (Some(asks), Some(waits)));
            body.lent = Some(Lent { reader, framing, back, wants_continue: asks });
            (returned, wants_continue) = (Some(home), waits);
            None
        };

        let request = request.map(|()| body);
        let response = match wants_continue {
            Some(asked) => self.call_with_continue(handler.call(request), asked).await?,
            None => handler.call(request).await,
        };
        if let Some(mut home) = returned {
            // The body is back when it was dropped; read to its end, the connection is reusable.
            reader = match home.try_recv() {
                Ok((mut reader, Framing::Done)) => {
                    reader.reading_body(false);
                    Some(reader)
                }
                _ => None,
            };
        }
        close |= reader.is_none() || self.stop.is_stopped();
        let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        let keep_alive = self.write_response(response, Reply { to_head, http10, close }).await?;
        Ok(match (reader, upgrade) {
            (Some(reader), Some(upgrade)) if upgraded => Next::Upgrade(reader, upgrade),
            (Some(reader), _) if keep_alive && !upgraded => Next::KeepAlive(reader),
            _ => Next::Close,
        })
    }

    /// Awaits `call` and, when its request body asks, tells the client to send the body.
    async fn call_with_continue<F: Future>(&mut self, call: F, asked: oneshot::Receiver<()>) -> io::Result<F::Output> {
        let mut call = pin!(call);
        let mut asked = Some(asked);
        loop {
            tokio::select! {
                biased;
                response = &mut call => return Ok(response),
                wanted = async { asked.as_mut().expect("polled only while waiting").await }, if asked.is_some() => {
                    asked = None;
                    if wanted.is_ok() {
                        self.writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
                        self.writer.flush().await?;
                    }
                }
            }
        }
    }

    /// The next request head: `None` when the client closes, idles too long, or the server
    /// stops while the connection is idle.
    async fn read_head(&mut self, reader: &mut Reader) -> Result<Option<RequestHead>, Refusal> {
        let mut armed = None;
        loop {
            if !reader.buffer().is_empty() {
                if let Some(head) = parse_request(reader.buffer(), &mut self.spans)? {
                    // The limit holds however the head arrived (a large one may come in one read).
                    if head.bytes > self.limits.max_header_bytes {
                        return Err(Refusal::new(
                            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                            "the request head is too large",
                        ));
                    }
                    return Ok(Some(head));
                }
                if reader.buffer().len() > self.limits.max_header_bytes {
                    return Err(Refusal::new(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "the request head is too large",
                    ));
                }
            }
            let phase = match armed {
                _ if !reader.buffer().is_empty() => Phase::Head,
                Some((Phase::Closing, _)) => Phase::Closing,
                _ => Phase::Idle,
            };
            // A phase's deadline is set as it begins.
            if armed.is_none_or(|(armed, _)| armed != phase) {
                let now = Instant::now();
                let allowed = match phase {
                    Phase::Head => self.limits.header_read_timeout,
                    _ => {
                        // Idle: the buffers go until the client sends again, as nginx's do (a
                        // busy connection makes them anew per request, which costs less than an
                        // idle one keeping them).
                        reader.shed();
                        self.out = Vec::new();
                        self.limits.idle_timeout
                    }
                };
                self.timer.as_mut().reset(now + allowed);
                armed = Some((phase, now));
            }
            let idle = phase != Phase::Head;
            let watch_stop = phase == Phase::Idle;
            let (timer, stop) = (&mut self.timer, &mut self.stop);
            let waited = poll_fn(|cx| {
                if let Poll::Ready(read) = reader.poll_fill(cx) {
                    return Poll::Ready(Wait::Read(read));
                }
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wait::TimedOut);
                }
                if watch_stop && stop.poll(cx).is_ready() {
                    return Poll::Ready(Wait::Stopped);
                }
                Poll::Pending
            })
            .await;
            match waited {
                Wait::Read(Ok(0) | Err(_)) => return Ok(None),
                Wait::Stopped if self.limits.shutdown_grace.is_zero() => return Ok(None),
                Wait::Stopped => {
                    // The next request is still answered (and closes the connection), until the
                    // grace ends or the idle time would have.
                    let now = Instant::now();
                    let idle_ends = armed.map_or(now, |(_, since)| since) + self.limits.idle_timeout;
                    self.timer.as_mut().reset(idle_ends.min(now + self.limits.shutdown_grace));
                    armed = Some((Phase::Closing, now));
                }
                Wait::TimedOut if phase == Phase::Closing => return Ok(None),
                Wait::Read(Ok(_)) => {}
                Wait::TimedOut if idle => return Ok(None),
                Wait::TimedOut => {
                    return Err(Refusal::new(StatusCode::REQUEST_TIMEOUT, "the request head was not sent in time"));
                }
            }
        }
    }

    /// Writes `response`: the framing (Content-Length, chunked, or the end of the connection)
    /// from its body, a small body in the head's write. Returns whether the connection can
    /// carry another request.
    async fn write_response<B>(&mut self, response: Response<B>, reply: Reply) -> io::Result<bool>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = response.into_parts();
        let status = parts.status;
        let out = &mut self.out;
        out.clear();
        out.reserve(ANSWER_BUFFER_BYTES);
        put_status_line(out, status);
        // HEAD and 304 answers keep the length of the representation they stand for.
        let keeps_length = reply.to_head || status == StatusCode::NOT_MODIFIED;
        let mut has_date = false;
        for (name, value) in &parts.headers {
            if !keeps_length && (name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING) {
                continue;
            }
            has_date |= name == header::DATE;
            put_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
        if !has_date {
            put_date(out);
        }
        let bodiless = keeps_length || status.is_informational() || status == StatusCode::NO_CONTENT;
        let mut close = reply.close;
        let sending = if bodiless {
            Sending::Nothing
        } else if let Some(length) = if body.is_end_stream() { Some(0) } else { body.size_hint().exact() } {
            put_content_length(out, length);
            Sending::Length(length)
        } else if !reply.http10 {
            put_field(out, b"transfer-encoding", b"chunked");
            Sending::Chunked
        } else {
            close = true;
            Sending::UntilClose
        };
        if close {
            put_field(out, b"connection", b"close");
        } else if reply.http10 {
            put_field(out, b"connection", b"keep-alive");
        }
        out.extend_from_slice(b"\r\n");

        match write_message(&mut self.writer, out, body, sending).await {
            Ok(()) => {}
            Err(WriteError::Body(error)) => return Err(io::Error::other(error)),
            Err(WriteError::Io(error)) => return Err(error),
        }
        if self.out.capacity() > KEPT_ANSWER_BUFFER_BYTES {
            // A large answer's buffer is not kept by an idle connection.
            self.out = Vec::with_capacity(ANSWER_BUFFER_BYTES);
        }
        Ok(!close)
    }
}

/// How an answer goes out, from its request and the connection's state.
struct Reply {
    /// The request was HEAD: no body.
    to_head: bool,
    /// The request was HTTP/1.0: no chunked coding, keep-alive only when asked.
    http10: bool,
    /// The connection closes after the answer.
    close: bool,
}

/// Where a connection is in its wait for a request head.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No byte of the next head yet (the buffers let go).
    Idle,
    /// Idle while the server stops: waiting out the shutdown grace for one more request.
    Closing,
    /// Part of a head came.
    Head,
}

/// What ended a wait for bytes of a head.
enum Wait {
    Read(io::Result<usize>),
    TimedOut,
    Stopped,
}

/// Reads and drops what a refused client still sends, for a short while, so that closing the
/// connection does not reset it before the client read the refusal.
async fn linger(mut reader: Reader) {
    let (time, bytes) = LINGER;
    let _ = tokio::time::timeout(time, async {
        let mut drained = 0;
        while drained < bytes {
            reader.buffer().clear();
            match poll_fn(|cx| reader.poll_fill(cx)).await {
                Ok(0) | Err(_) => return,
                Ok(read) => drained += read,
            }
        }
    })
    .await;
}

fn put_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `date` of answers (IMF-fixdate, 29 bytes), formatted once a second per thread.
    static DATE: std::cell::RefCell<(u64, [u8; 29])> = const { std::cell::RefCell::new((0, [0; 29])) };
}

fn put_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    DATE.with_borrow_mut(|(formatted_at, date)| {
        if *formatted_at != second {
            date.copy_from_slice(httpdate::fmt_http_date(now).as_bytes());
            *formatted_at = second;
        }
        put_field(out, b"date", date);
    });
}

/// A request the codec answers itself (unless `silent`), and closes the connection after.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    reason: &'static str,
    /// Closed without an answer: the peer does not speak HTTP/1.
    silent: bool,
}

impl Refusal {
    fn new(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason, silent: false }
    }

    fn bad(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }
}

/// A parsed request head.
struct RequestHead {
    /// Its size on the wire.
    bytes: usize,
    request: Request<()>,
    /// What its framing headers say.
    noted: FramingHeaders,
    /// How its body is framed.
    framing: Framing,
}

/// Parses a complete request head off the front of `buffer` (`None`: not complete yet). The
/// target and header values are slices of the head's bytes, not copies.
fn parse_request(buffer: &mut BytesMut, spans: &mut FieldSpans) -> Result<Option<RequestHead>, Refusal> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let result = httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut parsed, buffer, &mut fields);
    let length = match result {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "more than 100 header fields"));
        }
        Err(httparse::Error::Version) => {
            // HTTP/1.2 and later minors are served as HTTP/1.1 (RFC 9110 §2.5): the minor digit
            // is read as 1 and the head parsed again.
            let minor = newer_minor_version(buffer)?;
            buffer[minor] = b'1';
            return parse_request(buffer, spans);
        }
        Err(_) => return Err(Refusal::bad("malformed request head")),
    };
    let method =
        Method::from_bytes(parsed.method.unwrap_or_default().as_bytes()).map_err(|_| Refusal::bad("invalid method"))?;
    let version = if parsed.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    let target = parsed.path.unwrap_or_default();
    let target_start = target.as_ptr() as usize - buffer.as_ptr() as usize;
    let target = target_start..target_start + target.len();
    spans.record(buffer, parsed.headers);
    let head = buffer.split_to(length).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target)).map_err(|_| Refusal::bad("invalid request target"))?;
    let (headers, noted) = spans.into_headers(&head, ADDED_HEADERS).map_err(Refusal::bad)?;
    let framing = noted.request_framing(version).map_err(Refusal::bad)?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(Some(RequestHead { bytes: length, request, noted, framing }))
}

/// The head parser alone, as a connection runs it on what it has read (the fuzz target
/// `http1_head` drives it): a request, `None` while incomplete, or the status it is refused
/// with (`None` inside: closed unanswered).
pub fn parse_head(buffer: &mut BytesMut) -> Result<Option<Request<()>>, Option<StatusCode>> {
    match parse_request(buffer, &mut FieldSpans::default()) {
        Ok(head) => Ok(head.map(|head| head.request)),
        Err(refusal) => Err((!refusal.silent).then_some(refusal.status)),
    }
}

/// Where the minor digit of an `HTTP/1.x` version (x from 2 to 9) lies in `buffer`, whose
/// request line httparse refused for its version; other versions are refused: `HTTP/d.d` with
/// another major with 505, anything else (a request line with more spaces, too) with 400.
fn newer_minor_version(buffer: &[u8]) -> Result<usize, Refusal> {
    let line_end = buffer.iter().position(|&byte| byte == b'\r' || byte == b'\n').unwrap_or(buffer.len());
    let start = buffer[..line_end].iter().rposition(|&byte| byte == b' ').map_or(0, |space| space + 1);
    match &buffer[start..line_end] {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] => Ok(start + 7),
        [b'H', b'T', b'T', b'P', b'/', b'0' | b'2'..=b'9', b'.', minor] if minor.is_ascii_digit() => {
            Err(Refusal::new(StatusCode::HTTP_VERSION_NOT_SUPPORTED, "only HTTP/1.x is spoken on this connection"))
        }
        version if version.len() >= 5 && version[..5].eq_ignore_ascii_case(b"HTTP/") => {
            Err(Refusal::bad("malformed HTTP version"))
        }
        // Not HTTP/1 at all (such as an invalid HTTP/2 preface): closed without an answer the
        // peer would misread (RFC 9113 §3.4).
        _ => Err(Refusal { silent: true, ..Refusal::bad("not an HTTP/1 request line") }),
    }
}

/// The server's shutdown signal, as one connection watches it: each check reads the signal's
/// version (an atomic load), and the connection's task is registered for the wake-up once.
struct Stop {
    watcher: watch::Receiver<bool>,
    /// Wakes the connection's task when the signal comes; polled once, which registers it.
    wakeup: Pin<Box<dyn Future<Output = ()> + Send>>,
    registered: bool,
    stopped: bool,
}

impl Stop {
    fn new(shutdown: watch::Receiver<bool>) -> Self {
        let mut watcher = shutdown.clone();
        let stopped = *watcher.borrow_and_update();
        let mut waiter = shutdown;
        let wakeup = Box::pin(async move {
            let _ = waiter.changed().await;
        });
        Self { watcher, wakeup, registered: false, stopped }
    }

    /// Ready once the server stops; registers the calling task (always this connection's) for
    /// the wake-up on the first call.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_stopped() {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            if self.wakeup.as_mut().poll(cx).is_ready() {
                self.stopped = true;
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }

    fn is_stopped(&mut self) -> bool {
        self.stopped = self.stopped || self.watcher.has_changed().unwrap_or(true);
        self.stopped
    }
}

/// The client connection once a `101 Switching Protocols` answer is written; requests that ask
/// to upgrade carry one in their body ([`RequestBody::take_upgrade`]).
pub struct OnUpgrade(oneshot::Receiver<Upgraded>);

impl Future for OnUpgrade {
    type Output = io::Result<Upgraded>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the connection was not upgraded"))
    }
}

/// A request body, read off the client connection as the handler takes it.
#[derive(Default)]
pub struct RequestBody {
    /// The connection's read side, while the body has it.
    lent: Option<Lent>,
    upgrade: Option<OnUpgrade>,
}

/// The read side lent to a body, and how to give it back.
struct Lent {
    reader: Reader,
    framing: Framing,
    back: oneshot::Sender<(Reader, Framing)>,
    /// Tells the connection to send `100 Continue` when the body is first read.
    wants_continue: Option<oneshot::Sender<()>>,
}

impl RequestBody {
    /// The upgraded connection, when the request asks to upgrade.
    pub fn take_upgrade(&mut self) -> Option<OnUpgrade> {
        self.upgrade.take()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(Lent { reader, framing, back, .. }) = self.lent.take() {
            let _ = back.send((reader, framing));
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let Some(lent) = &mut self.lent else { return Poll::Ready(None) };
        if let Some(wants) = lent.wants_continue.take() {
            let _ = wants.send(());
        }
        Poll::Ready(ready!(lent.framing.poll_next(&mut lent.reader, cx)).transpose().map(|data| data.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.lent.as_ref().is_none_or(|lent| lent.framing == Framing::Done)
    }

    fn size_hint(&self) -> SizeHint {
        let exact = self.lent.as_ref().map_or(Some(0), |lent| lent.framing.exact());
        exact.map(SizeHint::with_exact).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::combinators::BoxBody;
    use http_body_util::{BodyExt, Full, StreamBody};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Answers by path: `/echo` reads the body and sends it back, `/stream` answers two chunks of
    /// unknown length, `/ignore` leaves the body unread, `/upgrade` switches to an echo of bytes.
    struct Echo;

    type TestBody = BoxBody<Bytes, io::Error>;

    fn full(data: impl Into<Bytes>) -> TestBody {
        Full::new(data.into()).map_err(|never| match never {}).boxed()
    }

    impl Handler for Echo {
        type Body = TestBody;

        async fn call(&self, mut request: Request<RequestBody>) -> Response<TestBody> {
            let response = match request.uri().path() {
                "/echo" => {
                    let method = request.method().to_string();
                    let body = request.into_body().collect().await.map(|all| all.to_bytes());
                    let body = body.unwrap_or_else(|error| Bytes::from(format!("body error: {error}")));
                    Response::builder().header("x-method", method).body(full(body))
                }
                "/stream" => {
                    let frames = ["one,", "two"].map(|data| Ok(Frame::data(Bytes::from_static(data.as_bytes()))));
                    Response::builder().body(StreamBody::new(futures::stream::iter(frames)).boxed())
                }
                "/upgrade" => {
                    let upgrade = request.body_mut().take_upgrade().expect("an upgrade request");
                    tokio::spawn(async move {
                        let mut upgraded = upgrade.await.unwrap();
                        let mut data = [0u8; 64];
                        while let Ok(read @ 1..) = upgraded.read(&mut data).await {
                            upgraded.write_all(&data[..read]).await.unwrap();
                        }
                    });
                    Response::builder().status(101).header("upgrade", "echo").body(full(""))
                }
                _ => Response::builder().header("content-length", "999").body(full("ok")),
            };
            response.unwrap()
        }

        fn refuse(&self, status: StatusCode, reason: &'static str) -> Response<TestBody> {
            let mut response = Response::new(full(reason));
            *response.status_mut() = status;
            response
        }
    }

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max_header_bytes: 1024,
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(600),
        shutdown_grace: Duration::ZERO,
    };

    /// A server of [`Echo`] on 127.0.0.1, a client connected to it, and the shutdown switch.
    async fn connect() -> (TcpStream, watch::Sender<bool>) {
        connect_with(LIMITS).await
    }

    async fn connect_with(limits: ConnectionLimits) -> (TcpStream, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            serve(ClientStream::Tcp(stream), BytesMut::new(), &Echo, limits, shutdown).await;
        });
        (TcpStream::connect(address).await.unwrap(), stop)
    }

    /// Reads until `count` answers are complete (heads with Content-Length bodies, or chunked
    /// ones), or the connection ends.
    async fn read_answers(client: &mut TcpStream, count: usize) -> String {
        let mut seen = Vec::new();
        let mut data = [0u8; 4096];
        while complete_answers(&seen) < count {
            match tokio::time::timeout(Duration::from_secs(5), client.read(&mut data)).await.expect("an answer") {
                Ok(0) | Err(_) => break,
                Ok(read) => seen.extend_from_slice(&data[..read]),
            }
        }
        String::from_utf8(seen).unwrap()
    }

    fn complete_answers(mut seen: &[u8]) -> usize {
        let mut count = 0;
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut fields);
            let Ok(httparse::Status::Complete(head)) = response.parse(seen) else { return count };
            let field = |name: &str| response.headers.iter().find(|field| field.name.eq_ignore_ascii_case(name));
            let body = if let Some(length) = field("content-length") {
                std::str::from_utf8(length.value).unwrap().parse::<usize>().unwrap()
            } else if field("transfer-encoding").is_some() {
                match seen[head..].windows(5).position(|window| window == b"0\r\n\r\n") {
                    Some(end) => end + 5,
                    None => return count,
                }
            } else {
                0
            };
            if seen.len() < head + body {
                return count;
            }
            seen = &seen[head + body..];
            count += 1;
        }
    }

    /// What a new connection gets for `request`, read until the server closes it.
    async fn answer_to_the_end(request: &[u8]) -> String {
        let (mut client, _stop) = connect().await;
        client.write_all(request).await.unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        answer
    }

    async fn closed(client: &mut TcpStream) -> bool {
        let mut byte = [0u8; 1];
        matches!(tokio::time::timeout(Duration::from_secs(5), client.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
    }

    #[tokio::test]
    async fn answers_pipelined_requests_in_order_on_one_connection() {
        let (mut client, _stop) = connect().await;
        client
            .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
            .await
            .unwrap();
        let answers = read_answers(&mut client, 2).await;
        let (first, second) = answers.split_at(answers.find("HTTP/1.1 200 OK\r\nx-method").unwrap());
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(first.contains("\r\ndate: ") && first.ends_with("content-length: 2\r\n\r\nok"), "{first}");
        assert!(second.contains("x-method: POST\r\n") && second.ends_with("content-length: 3\r\n\r\nabc"), "{second}");
        client.write_all(b"GET /again HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(read_answers(&mut client, 1).await.ends_with("\r\n\r\nok"), "kept alive");
    }

    #[tokio::test]
    async fn reads_bodies_sent_byte_by_byte_by_length_or_chunks() {
        let (mut client, _stop) = connect().await;
        let chunked = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
        for byte in chunked {
            client.write_all(&[*byte]).await.unwrap();
        }
        assert!(read_answers(&mut client, 1).await.ends_with("content-length: 5\r\n\r\nabcde"));
        client.write_all(b"PUT /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nwxyz").await.unwrap();
        assert!(read_answers(&mut client, 1).await.ends_with("\r\n\r\nwxyz"), "the connection goes on");
    }

    #[tokio::test]
    async fn frames_answers_of_unknown_length_by_chunks_or_by_closing_for_http10() {
        let (mut client, _stop) = connect().await;
        client.write_all(b"GET /stream HTTP/1.1\r\n\r\n").await.unwrap();
        let answer = read_answers(&mut client, 1).await;
        assert!(answer.contains("transfer-encoding: chunked\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n"), "{answer}");

        client.write_all(b"GET /stream HTTP/1.0\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.contains("connection: close\r\n") && answer.ends_with("\r\n\r\none,two"), "{answer}");

        let (mut client, _stop) = connect().await;
        client.write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await.unwrap();
        assert!(read_answers(&mut client, 1).await.contains("connection: keep-alive\r\n"));
        client.write_all(b"GET /a HTTP/1.0\r\n\r\n").await.unwrap();
        assert!(read_answers(&mut client, 1).await.contains("connection: close\r\n"));
        assert!(closed(&mut client).await, "HTTP/1.0 without keep-alive closes");
    }

    #[tokio::test]
    async fn head_answers_keep_their_length_and_send_no_body() {
        let (mut client, _stop) = connect().await;
        client.write_all(b"HEAD /a HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\n").await.unwrap();
        let mut seen = String::new();
        while !seen.ends_with("\r\n\r\nok") {
            let mut data = [0u8; 1024];
            let read = client.read(&mut data).await.unwrap();
            seen.push_str(std::str::from_utf8(&data[..read]).unwrap());
        }
        let (head, get) = seen.split_at(seen.rfind("HTTP/1.1 200").unwrap());
        assert!(
            head.contains("content-length: 999\r\n") && head.ends_with("\r\n\r\n"),
            "the HEAD answer's own: {head}"
        );
        assert!(get.ends_with("content-length: 2\r\n\r\nok"), "the GET answer's length from its body: {get}");
    }

    #[tokio::test]
    async fn sends_100_continue_when_the_body_is_read() {
        let (mut client, _stop) = connect().await;
        client.write_all(b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").await.unwrap();
        let mut interim = [0u8; 25];
        client.read_exact(&mut interim).await.unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        client.write_all(b"hi").await.unwrap();
        assert!(read_answers(&mut client, 1).await.ends_with("\r\n\r\nhi"));
    }

    #[tokio::test]
    async fn closes_after_an_answer_when_the_body_was_not_read() {
        let (mut client, _stop) = connect().await;
        client.write_all(b"POST /ignore HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc").await.unwrap();
        let answer = read_answers(&mut client, 1).await;
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(closed(&mut client).await);
    }

    #[tokio::test]
    async fn refuses_bad_heads_and_closes() {
        let cases: [(&[u8], &str); 5] = [
            (b"NOT HTTP\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            (b"GET / HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"),
            (&[b'a'; 2048], "HTTP/1.1 431 Request Header Fields Too Large"),
        ];
        for (request, status) in cases {
            let answer = answer_to_the_end(request).await;
            assert!(answer.starts_with(status) && answer.contains("connection: close\r\n"), "{answer}");
        }
    }

    #[tokio::test]
    async fn refuses_lenient_framing_and_versions() {
        let large = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(1500));
        let cases: [(&[u8], &str); 11] = [
            (b"POST /echo HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", "HTTP/1.1 400 "),
            (b"POST /echo HTTP/1.1\r\nContent-Length: 3 3\r\n\r\nabc", "HTTP/1.1 400 "),
            (b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", "HTTP/1.1 400 "),
            (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "HTTP/1.1 400 "),
            (b"GET / HTTP/1.\r\n\r\n", "HTTP/1.1 400 "),
            (b"GET / HTTX/1.1\r\n\r\n", ""),
            (b"GET / HTTP/11\r\n\r\n", "HTTP/1.1 400 "),
            (b"GET / HTTP/3.0\r\n\r\n", "HTTP/1.1 505 "),
            (b"INVALID CONNECTION PREFACE\r\n\r\n", ""),
            (b"GET /a HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", "HTTP/1.1 400 "),
            (large.as_bytes(), "HTTP/1.1 431 "),
        ];
        // "": not an HTTP/1 request line (an HTTP/2 preface that went wrong): closed unanswered.
        for (request, status) in cases {
            let answer = answer_to_the_end(request).await;
            let expected = if status.is_empty() { answer.is_empty() } else { answer.starts_with(status) };
            assert!(expected, "{}: {answer}", String::from_utf8_lossy(request));
        }
        let (mut client, _stop) = connect().await;
        client.write_all(b"GET /a HTTP/1.2\r\n\r\n").await.unwrap();
        let answer = read_answers(&mut client, 1).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok"), "HTTP/1.2 is served as 1.1: {answer}");
    }

    #[test]
    fn chunk_sizes_are_hex_digits_and_nothing_else() {
        use super::super::chunk_size;
        let cases: [(&[u8], Option<u64>); 10] = [
            (b"5", Some(5)),
            (b"1aF", Some(0x1af)),
            (b"5;ext=1", Some(5)),
            (b"5 ;ext", Some(5)),
            (b"+5", None),
            (b" 5", None),
            (b"-1", None),
            (b"0x5", None),
            (b"", None),
            (b"10000000000000000", None),
        ];
        for (line, size) in cases {
            assert_eq!(chunk_size(line), size, "{}", String::from_utf8_lossy(line));
        }
    }

    #[tokio::test]
    async fn chunk_lines_must_end_in_crlf() {
        let (mut client, _stop) = connect().await;
        client
            .write_all(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answers(&mut client, 1).await;
        assert!(answer.contains("body error: a chunk line not ended by CRLF"), "{answer}");
    }

    #[tokio::test]
    async fn times_out_slow_heads_with_408_and_idle_connections_silently() {
        let answer = answer_to_the_end(b"GET / HTTP/1.1\r\nHost: sl").await;
        assert!(answer.starts_with("HTTP/1.1 408 Request Timeout"), "{answer}");

        let (mut client, _stop) = connect().await;
        client.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        read_answers(&mut client, 1).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        client.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(read_answers(&mut client, 1).await.ends_with("ok"), "idle for less than the idle timeout");
        let mut rest = String::new();
        client.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "", "closed without an answer once idle too long");
    }

    #[tokio::test]
    async fn a_connection_that_let_its_buffers_go_while_idle_serves_on() {
        let (mut client, _stop) =
            connect_with(ConnectionLimits { idle_timeout: Duration::from_secs(5), ..LIMITS }).await;
        client.write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi").await.unwrap();
        assert!(read_answers(&mut client, 1).await.ends_with("\r\n\r\nhi"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The next head comes in two pieces: the first read after shedding, then a normal one.
        client.write_all(b"POST /echo HTTP/1.1\r\nContent-").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.write_all(b"Length: 5\r\n\r\nagain").await.unwrap();
        assert!(read_answers(&mut client, 1).await.ends_with("\r\n\r\nagain"));
    }

    #[tokio::test]
    async fn hands_the_connection_over_after_101() {
        let (mut client, _stop) = connect().await;
        client.write_all(b"GET /upgrade HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nearly").await.unwrap();
        let mut seen = Vec::new();
        while !seen.ends_with(b"early") {
            let mut data = [0u8; 256];
            let read = client.read(&mut data).await.unwrap();
            assert_ne!(read, 0, "{}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&data[..read]);
        }
        let seen = String::from_utf8(seen).unwrap();
        assert!(seen.starts_with("HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\n"), "{seen}");
        assert!(!seen.contains("content-length") && !seen.contains("transfer-encoding"), "{seen}");
        client.write_all(b"later").await.unwrap();
        let mut echoed = [0u8; 5];
        client.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"later");
    }

    #[tokio::test]
    async fn on_shutdown_an_idle_connection_answers_one_more_request_within_the_grace_then_closes() {
        let limits = ConnectionLimits { shutdown_grace: Duration::from_millis(400), ..LIMITS };
        let (mut client, stop) = connect_with(limits).await;
        client.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(!read_answers(&mut client, 1).await.contains("connection: close"));
        stop.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        let answer = read_answers(&mut client, 1).await;
        assert!(answer.contains("connection: close\r\n") && answer.ends_with("ok"), "{answer}");
        assert!(closed(&mut client).await);

        let (mut quiet, stop) = connect_with(limits).await;
        quiet.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        read_answers(&mut quiet, 1).await;
        let stopped = std::time::Instant::now();
        stop.send(true).unwrap();
        assert!(closed(&mut quiet).await);
        assert!(stopped.elapsed() >= Duration::from_millis(300), "kept for the grace: {:?}", stopped.elapsed());
    }

    #[tokio::test]
    async fn idle_connections_close_on_shutdown() {
        let (mut client, stop) = connect().await;
        client.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        read_answers(&mut client, 1).await;
        stop.send(true).unwrap();
        assert!(closed(&mut client).await);
    }

    type Parsed = Result<Option<(Method, Uri, http::HeaderMap)>, Refusal>;

    /// What `parse_request` makes of `buffer`, in a comparable form.
    fn parsed(buffer: &mut BytesMut, spans: &mut FieldSpans) -> Parsed {
        let head = parse_request(buffer, spans)?;
        Ok(head.map(|head| (head.request.method().clone(), head.request.uri().clone(), head.request.headers().clone())))
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_wait_for_more_or_are_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parsed(&mut BytesMut::from(&bytes[..]), &mut FieldSpans::default());
        }

        #[test]
        fn a_head_cut_anywhere_parses_as_the_whole_head(
            method in "GET|POST|PUT|DELETE|PATCH|OPTIONS",
            path in "/[a-z0-9/._~%-]{0,30}(\\?[a-z0-9=&]{0,20})?",
            fields in proptest::collection::vec(("[a-z][a-z0-9-]{0,15}", "[ -~]{0,30}"), 0..8),
            cut in 1usize..400,
        ) {
            let mut head = format!("{method} {path} HTTP/1.1\r\n");
            for (name, value) in &fields {
                head.push_str(&format!("{name}: {}\r\n", value.trim()));
            }
            head.push_str("\r\n");
            let whole = parsed(&mut BytesMut::from(head.as_bytes()), &mut FieldSpans::default());
            proptest::prop_assert!(matches!(whole, Ok(Some(_))), "{head:?}: {whole:?}");
            let (first, rest) = head.as_bytes().split_at(cut % head.len());
            let mut buffer = BytesMut::from(first);
            let mut spans = FieldSpans::default();
            let early = parsed(&mut buffer, &mut spans);
            proptest::prop_assert!(matches!(early, Ok(None)), "a prefix waits for more: {early:?}");
            buffer.extend_from_slice(rest);
            let late = parsed(&mut buffer, &mut spans);
            proptest::prop_assert_eq!(format!("{late:?}"), format!("{whole:?}"));
        }
    }
}
