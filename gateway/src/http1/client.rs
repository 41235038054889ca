//! HTTP/1.1 towards plain-http backends, kept small: the request head (and a small body) written
//! in one go, the response head parsed by httparse into zero-copy header values, and response
//! bodies framed by Content-Length, chunked coding or the end of the connection. No upgrades, no
//! pipelining, trailers dropped: requests that need more go through hyper's client.

use std::future::{Future, poll_fn};
use std::io;
use std::mem::MaybeUninit;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Response, StatusCode, Version};
use hyper::body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::{
    BoxError, FieldSpans, Framing, FramingHeaders, MAX_HEADERS, READ_BYTES, Sending, Source, WriteError,
    put_content_length, put_fields, write_message,
};

/// Largest response head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What went wrong in an exchange with a backend.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The socket failed, or closed early.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The backend's answer is not HTTP/1.1.
    #[error("invalid response from the backend: {0}")]
    Protocol(String),
    /// The request body could not be read from the client.
    #[error("{0}")]
    RequestBody(BoxError),
    /// The response head did not arrive before the deadline.
    #[error("the backend did not answer in time")]
    TimedOut,
}

fn protocol(reason: impl ToString) -> ExchangeError {
    ExchangeError::Protocol(reason.to_string())
}

/// An open connection to a backend.
pub struct Connection {
    wire: Wire,
    /// The deadline of the exchange in progress: one timer for all the connection's exchanges,
    /// moved forward each time (cheaper than a timer made and dropped per request).
    deadline: Pin<Box<Sleep>>,
}

/// The socket of a connection, the bytes read from it and not consumed yet, and the buffers
/// its heads are written and parsed with (reused).
struct Wire {
    stream: TcpStream,
    buffer: BytesMut,
    out: Vec<u8>,
    spans: FieldSpans,
}

impl Connection {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        let idle = tokio::time::sleep(Duration::from_secs(3600));
        let wire = Wire { stream, buffer: BytesMut::new(), out: Vec::new(), spans: FieldSpans::default() };
        Self { wire, deadline: Box::pin(idle) }
    }

    /// Whether an idle connection can carry a request: the backend has neither closed it nor
    /// sent anything unasked. Costs no system call while the socket has nothing to read.
    pub fn is_open_and_idle(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.wire.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Pending: readiness was stale; anything read (bytes, end, error) rules it out.
            Poll::Ready(Ok(())) => self.wire.poll_fill(&mut cx).is_pending(),
        }
    }

    /// Sends a request (`target` is its origin-form path and query) and reads the response
    /// head, both before `deadline`. The response's body owns the connection from then on.
    pub async fn exchange<B>(
        mut self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        body: B,
        deadline: Instant,
    ) -> Result<Response<ResponseBody>, ExchangeError>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        self.deadline.as_mut().reset(deadline);
        let head = {
            let Self { wire, deadline: timer } = &mut self;
            let mut exchange = pin!(async {
                wire.send_request(method, target, headers, body).await?;
                wire.read_head().await
            });
            poll_fn(|cx| match exchange.as_mut().poll(cx) {
                Poll::Ready(head) => Poll::Ready(head),
                Poll::Pending => timer.as_mut().poll(cx).map(|()| Err(ExchangeError::TimedOut)),
            })
            .await?
        };
        let framing = head.framing.response_framing(method, head.status);
        // After 101 the connection speaks another protocol: never back to the pool.
        let reusable = head.framing.keeps_alive(head.version)
            && !matches!(framing, Framing::UntilClose)
            && head.status != StatusCode::SWITCHING_PROTOCOLS;
        let mut response = Response::new(ResponseBody { connection: self, framing, reusable });
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        Ok(response)
    }
}

impl Wire {
    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Sends a request: Content-Length or chunked coding is chosen from the body; the headers'
    /// own framing headers are not sent.
    async fn send_request<B>(
        &mut self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        body: B,
    ) -> Result<(), ExchangeError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let length = if body.is_end_stream() { Some(0) } else { body.size_hint().exact() };
        self.out.clear();
        encode_head(&mut self.out, method, target, headers, length);
        let sending = length.map_or(Sending::Chunked, Sending::Length);
        write_message(&mut self.stream, &mut self.out, body, sending).await.map_err(|error| match error {
            WriteError::Body(error) => ExchangeError::RequestBody(error),
            WriteError::Io(error) => ExchangeError::Io(error),
        })
    }

    /// Reads the response head, skipping interim (1xx) answers.
    async fn read_head(&mut self) -> Result<Head, ExchangeError> {
        loop {
            if let Some(head) = parse_head(&mut self.buffer, &mut self.spans)? {
                if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS {
                    continue;
                }
                return Ok(head);
            }
            if self.buffer.len() > MAX_HEAD_BYTES {
                return Err(protocol("the response head is larger than 64 KiB"));
            }
            if self.fill().await? == 0 {
                return Err(if self.buffer.is_empty() {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the backend closed the connection without answering")
                } else {
                    super::unexpected_end()
                }
                .into());
            }
        }
    }
}

/// Writes the request line, the headers and the framing header of a body of `length` bytes
/// (`None`: unknown, chunked).
fn encode_head(out: &mut Vec<u8>, method: &Method, target: &str, headers: &HeaderMap, length: Option<u64>) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    put_fields(out, headers);
    match length {
        None => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        // A method that defines a meaning for content announces even an empty one (RFC 9110 §8.6).
        Some(0) if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {}
        Some(length) => put_content_length(out, length),
    }
    out.extend_from_slice(b"\r\n");
}

/// A parsed response head.
struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    /// What its framing headers say.
    framing: FramingHeaders,
}

/// Room left in a response's header map for the headers the gateway adds.
const ADDED_HEADERS: usize = 4;

/// Parses a complete response head off the front of `buffer` (`None`: not complete yet). Header
/// values are slices of the head's bytes, not copies.
fn parse_head(buffer: &mut BytesMut, spans: &mut FieldSpans) -> Result<Option<Head>, ExchangeError> {
    if buffer.is_empty() {
        return Ok(None);
    }
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed =
        httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buffer, &mut fields);
    let length = match parsed.map_err(protocol)? {
        httparse::Status::Complete(length) => length,
        httparse::Status::Partial => return Ok(None),
    };
    let code = response.code.ok_or_else(|| protocol("no status code"))?;
    let status = StatusCode::from_u16(code).map_err(protocol)?;
    let version = if response.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    spans.record(buffer, response.headers);
    let head = buffer.split_to(length).freeze();
    let (headers, framing) = spans.into_headers(&head, ADDED_HEADERS).map_err(protocol)?;
    Ok(Some(Head { status, version, headers, framing }))
}

/// A backend response body, read off its connection as the client takes it.
pub struct ResponseBody {
    connection: Connection,
    framing: Framing,
    /// The connection may carry another request once the body is read.
    reusable: bool,
}

impl ResponseBody {
    /// The connection, when the body was read to its end and the backend keeps it open.
    pub fn into_reusable_connection(self) -> Option<Connection> {
        (self.framing == Framing::Done && self.reusable && self.connection.wire.buffer.is_empty())
            .then_some(self.connection)
    }
}

impl Source for Wire {
    fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// A short read tells tokio the socket is drained, so the next readiness check needs no
    /// system call.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.buffer.reserve(READ_BYTES);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.buffer)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        Poll::Ready(
            ready!(this.framing.poll_next(&mut this.connection.wire, cx)).transpose().map(|data| data.map(Frame::data)),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    fn size_hint(&self) -> SizeHint {
        self.framing.exact().map(SizeHint::with_exact).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, header};
    use http_body_util::{BodyExt, Full, StreamBody};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A backend on 127.0.0.1 that reads one request (head and `body_bytes` more), writes
    /// `answer` in pieces of `piece` bytes, and closes when `close`. Returns what it read.
    async fn backend(
        answer: &'static [u8],
        piece: usize,
        body_bytes: usize,
        close: bool,
    ) -> (Connection, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut byte = [0u8; 1];
            while !seen.ends_with(b"\r\n\r\n") {
                socket.read_exact(&mut byte).await.unwrap();
                seen.push(byte[0]);
            }
            let mut body = vec![0u8; body_bytes];
            socket.read_exact(&mut body).await.unwrap();
            seen.extend_from_slice(&body);
            for part in answer.chunks(piece) {
                socket.write_all(part).await.unwrap();
                socket.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
            if !close {
                // Keep the connection open until the client is done with it.
                let _ = socket.read(&mut byte).await;
            }
            seen
        });
        (Connection::new(TcpStream::connect(address).await.unwrap()), served)
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    async fn get(
        answer: &'static [u8],
        piece: usize,
        close: bool,
    ) -> Result<(Response<()>, Vec<u8>, bool), ExchangeError> {
        let (connection, _served) = backend(answer, piece, 0, close).await;
        let response =
            connection.exchange(&Method::GET, "/", &HeaderMap::new(), Full::<Bytes>::default(), later()).await?;
        let (parts, mut body) = response.into_parts();
        let mut read = Vec::new();
        while let Some(frame) = body.frame().await {
            read.extend_from_slice(&frame?.into_data().unwrap());
        }
        let reusable = body.into_reusable_connection().is_some();
        Ok((Response::from_parts(parts, ()), read, reusable))
    }

    #[tokio::test]
    async fn reads_a_content_length_body_in_pieces_and_keeps_the_connection() {
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Test:  spaced value \r\n\r\nhello world";
        let (response, body, reusable) = get(answer, 3, false).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-test"], "spaced value");
        assert_eq!((body.as_slice(), reusable), (&b"hello world"[..], true));
    }

    #[tokio::test]
    async fn decodes_chunked_bodies_with_extensions_and_trailers_byte_by_byte() {
        let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
        let (_, body, reusable) = get(answer, 1, false).await.unwrap();
        assert_eq!((body.as_slice(), reusable), (&b"hello world"[..], true));
    }

    #[tokio::test]
    async fn reads_a_body_without_length_to_the_end_of_the_connection() {
        let (_, body, reusable) = get(b"HTTP/1.1 200 OK\r\n\r\nuntil close", 4, true).await.unwrap();
        assert_eq!((body.as_slice(), reusable), (&b"until close"[..], false));
        let (_, _, reusable) =
            get(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 64, true).await.unwrap();
        assert!(!reusable, "Connection: close");
        let (_, _, reusable) = get(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 64, true).await.unwrap();
        assert!(!reusable, "HTTP/1.0 without keep-alive");
    }

    #[tokio::test]
    async fn skips_interim_answers_and_knows_bodiless_statuses() {
        let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
        let (response, body, reusable) = get(answer, 7, false).await.unwrap();
        assert_eq!((response.status(), body.len(), reusable), (StatusCode::NO_CONTENT, 0, true));
        let switched = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\n\r\n";
        let (response, _, reusable) = get(switched, 64, false).await.unwrap();
        assert_eq!((response.status(), reusable), (StatusCode::SWITCHING_PROTOCOLS, false));
    }

    #[tokio::test]
    async fn refuses_what_is_not_http_and_an_early_end() {
        let error = get(b"SSH-2.0-OpenSSH\r\n\r\n", 64, true).await.unwrap_err();
        assert!(matches!(error, ExchangeError::Protocol(_)), "{error}");
        let error =
            get(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 64, true).await.unwrap_err();
        assert!(error.to_string().contains("more than one Content-Length"), "{error}");
        let error = get(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 64, true).await.unwrap_err();
        assert!(matches!(&error, ExchangeError::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof), "{error}");
        let error = get(b"", 64, true).await.unwrap_err();
        assert!(error.to_string().contains("without answering"), "{error}");
    }

    #[tokio::test]
    async fn frames_request_bodies_by_length_or_chunks() {
        let mut head = Vec::new();
        encode_head(&mut head, &Method::GET, "/a?b=1", &HeaderMap::new(), Some(0));
        assert_eq!(head, b"GET /a?b=1 HTTP/1.1\r\n\r\n");
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        head.clear();
        encode_head(&mut head, &Method::POST, "/", &headers, Some(0));
        assert_eq!(head, b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n", "the body's length, not the header's");

        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let (connection, served) = backend(answer, 64, 23, false).await;
        let frames = ["abc", "defgh"].map(|data| Ok::<_, io::Error>(Frame::data(Bytes::from_static(data.as_bytes()))));
        let body = StreamBody::new(futures::stream::iter(frames));
        connection.exchange(&Method::PUT, "/up", &HeaderMap::new(), body, later()).await.unwrap();
        let seen = served.await.unwrap();
        let expected = "PUT /up HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n";
        assert_eq!(String::from_utf8(seen).unwrap(), expected);
    }

    #[tokio::test]
    async fn an_idle_connection_the_backend_closed_is_not_reused() {
        let (mut connection, served) = backend(b"", 1, 0, true).await;
        assert!(connection.is_open_and_idle(), "open and silent");
        connection.wire.send_request(&Method::GET, "/", &HeaderMap::new(), Full::<Bytes>::default()).await.unwrap();
        served.await.unwrap();
        let closed = std::time::Instant::now();
        while connection.is_open_and_idle() {
            assert!(closed.elapsed() < std::time::Duration::from_secs(5), "the close was never seen");
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_response_head_late_for_the_deadline_times_out() {
        let (connection, _served) = backend(b"", 1, 0, false).await;
        let deadline = Instant::now() + Duration::from_millis(100);
        let body = Full::<Bytes>::default();
        let answer = connection.exchange(&Method::GET, "/", &HeaderMap::new(), body, deadline).await;
        assert!(matches!(answer, Err(ExchangeError::TimedOut)), "{:?}", answer.err());
        assert!(Instant::now() >= deadline);
    }
}
