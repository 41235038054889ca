//! HTTP/1.1 on the wire (RFC 9112), both ways: the [`server`] side for clients and the
//! [`client`] side for plain-http backends. What both share lives here: the framing headers of a
//! head, the body decoder (Content-Length, chunked coding, end of connection) over any buffered
//! byte source, and the encoding of header fields and chunks.

pub mod client;
pub mod io;
pub mod names;
pub mod server;

use std::io::{Error, ErrorKind, Result};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use http_body_util::BodyExt;
use hyper::body::Body;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Room left in a request's header map for the headers the gateway adds towards the backend
/// (the forwarding headers, mapped parameters), so that the map is not grown per request.
pub const ADDED_HEADERS: usize = 8;
/// Most header fields accepted in a head (as hyper).
pub const MAX_HEADERS: usize = 100;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE_BYTES: usize = 4 * 1024;
/// Room made in a read buffer before each read of a body.
pub const READ_BYTES: usize = 16 * 1024;
/// Room made for a read while waiting for a request head: a client connection keeps this much
/// between requests (nginx keeps 1 KiB; heads larger than this take more reads).
pub const HEAD_READ_BYTES: usize = 4 * 1024;
/// A body of known length up to this size goes out in its head's write.
const INLINE_BODY_BYTES: usize = 16 * 1024;

/// One side of a connection, as a body decoder reads it: a buffer of bytes read and not
/// consumed yet, and a way to read more.
pub trait Source {
    /// The bytes read and not consumed yet.
    fn buffer(&mut self) -> &mut BytesMut;
    /// Reads what the socket has into the buffer: `Ready(Ok(0))` at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize>>;
}

fn invalid(reason: &str) -> Error {
    Error::new(ErrorKind::InvalidData, reason.to_owned())
}

/// The error of a connection closed in the middle of a body.
pub fn unexpected_end() -> Error {
    Error::new(ErrorKind::UnexpectedEof, "the peer closed the connection mid-body")
}

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// This many bytes are left (never 0: that is `Done`).
    Length(u64),
    /// Chunked coding, in this state.
    Chunked(Chunk),
    /// At the end of the connection (responses only).
    UntilClose,
    /// Read to its end.
    Done,
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, with this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Reading trailer lines up to the empty one.
    Trailers,
}

impl Framing {
    /// `left` more bytes: `Done` when there are none.
    pub fn remaining(left: u64) -> Self {
        if left == 0 { Self::Done } else { Self::Length(left) }
    }

    /// The exact number of bytes left, when known.
    pub fn exact(self) -> Option<u64> {
        match self {
            Self::Length(left) => Some(left),
            Self::Done => Some(0),
            _ => None,
        }
    }

    /// The body's next data off `source`, `None` at its end. Chunk extensions and trailers are
    /// read and dropped.
    pub fn poll_next(&mut self, source: &mut impl Source, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>> {
        loop {
            match *self {
                Self::Done => return Poll::Ready(Ok(None)),
                Self::Length(left) => {
                    let data = ready!(poll_data(source, cx, left))?;
                    *self = Self::remaining(left - data.len() as u64);
                    return Poll::Ready(Ok(Some(data)));
                }
                Self::UntilClose => {
                    if source.buffer().is_empty() && ready!(source.poll_fill(cx))? == 0 {
                        *self = Self::Done;
                        return Poll::Ready(Ok(None));
                    }
                    return Poll::Ready(Ok(Some(source.buffer().split().freeze())));
                }
                Self::Chunked(Chunk::Size) => {
                    let size =
                        chunk_size(&ready!(poll_line(source, cx))?).ok_or_else(|| invalid("invalid chunk size"))?;
                    *self = Self::Chunked(if size == 0 { Chunk::Trailers } else { Chunk::Data(size) });
                }
                Self::Chunked(Chunk::Data(left)) => {
                    let data = ready!(poll_data(source, cx, left))?;
                    let left = left - data.len() as u64;
                    *self = Self::Chunked(if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) });
                    return Poll::Ready(Ok(Some(data)));
                }
                Self::Chunked(Chunk::DataEnd) => {
                    if !ready!(poll_line(source, cx))?.is_empty() {
                        return Poll::Ready(Err(invalid("chunk data longer than its size")));
                    }
                    *self = Self::Chunked(Chunk::Size);
                }
                Self::Chunked(Chunk::Trailers) => {
                    if ready!(poll_line(source, cx))?.is_empty() {
                        *self = Self::Done;
                    }
                }
            }
        }
    }
}

/// The size of a chunk-size line (RFC 9112 §7.1): `1*HEXDIG`, then optional whitespace and
/// extensions after `;`. A sign, leading whitespace or more digits than a u64 holds are not.
pub fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|byte| byte.is_ascii_hexdigit()).count();
    let (size, rest) = line.split_at(digits);
    let rest = rest.trim_ascii_start();
    if digits == 0 || digits > 16 || !(rest.is_empty() || rest.starts_with(b";")) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(size).ok()?, 16).ok()
}

/// Whether `value` is a Content-Length: `1*DIGIT` (no sign, no space), within a u64.
fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Takes one CRLF-ended line off the buffer (without the CRLF), reading as needed. A bare LF
/// or CR in a chunk or trailer line is refused: peers that end lines otherwise would frame the
/// body otherwise.
fn poll_line(source: &mut impl Source, cx: &mut Context<'_>) -> Poll<Result<Bytes>> {
    loop {
        let buffer = source.buffer();
        if let Some(end) = buffer.iter().position(|&byte| byte == b'\n') {
            if end > MAX_LINE_BYTES {
                return Poll::Ready(Err(invalid("chunk line too long")));
            }
            if end == 0 || buffer[end - 1] != b'\r' || buffer[..end - 1].contains(&b'\r') {
                return Poll::Ready(Err(invalid("a chunk line not ended by CRLF")));
            }
            let mut line = buffer.split_to(end + 1);
            line.truncate(end - 1);
            return Poll::Ready(Ok(line.freeze()));
        }
        if buffer.len() > MAX_LINE_BYTES {
            return Poll::Ready(Err(invalid("chunk line too long")));
        }
        if ready!(source.poll_fill(cx))? == 0 {
            return Poll::Ready(Err(unexpected_end()));
        }
    }
}

/// Takes up to `limit` bytes of data off the buffer, reading when it is empty (where the end of
/// the connection is an error).
fn poll_data(source: &mut impl Source, cx: &mut Context<'_>, limit: u64) -> Poll<Result<Bytes>> {
    if source.buffer().is_empty() && ready!(source.poll_fill(cx))? == 0 {
        return Poll::Ready(Err(unexpected_end()));
    }
    let buffer = source.buffer();
    let take = buffer.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
    Poll::Ready(Ok(buffer.split_to(take).freeze()))
}

/// What a head's Content-Length, Transfer-Encoding and Connection headers say, noted while it
/// is read.
#[derive(Debug, Default)]
pub struct FramingHeaders {
    /// The Content-Length, when given.
    pub length: Option<u64>,
    /// Whether the last transfer coding is chunked, when there is a Transfer-Encoding.
    pub chunked: Option<bool>,
    /// Whether the Transfer-Encoding is anything but one `chunked` (refused in requests).
    other_codings: bool,
    close: bool,
    keep_alive: bool,
    /// Whether the request expects `100 Continue` before sending its body.
    pub expects_continue: bool,
    /// Whether the request asks to switch protocols (has an Upgrade header).
    pub upgrade: bool,
}

impl FramingHeaders {
    /// Notes the header field `name: value`. A Content-Length must be one `1*DIGIT` value, given
    /// once; a Transfer-Encoding may only be `chunked`, given once (any other coding, or
    /// chunked twice, is how requests are smuggled past proxies that read them otherwise).
    pub fn note(&mut self, name: &HeaderName, value: &[u8]) -> std::result::Result<(), &'static str> {
        let items = || value.split(|&byte| byte == b',').map(<[u8]>::trim_ascii);
        if name == header::CONTENT_LENGTH {
            if self.length.is_some() {
                return Err("more than one Content-Length");
            }
            self.length = Some(content_length(value.trim_ascii()).ok_or("invalid Content-Length")?);
        } else if name == header::TRANSFER_ENCODING {
            let mut codings = items();
            let only_chunked = codings.next().is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked"))
                && codings.next().is_none();
            self.other_codings |= self.chunked.is_some() || !only_chunked;
            self.chunked = Some(items().next_back().is_some_and(|last| last.eq_ignore_ascii_case(b"chunked")));
        } else if name == header::CONNECTION {
            self.close |= items().any(|item| item.eq_ignore_ascii_case(b"close"));
            self.keep_alive |= items().any(|item| item.eq_ignore_ascii_case(b"keep-alive"));
        } else if name == header::UPGRADE {
            self.upgrade = true;
        } else if name == header::EXPECT {
            self.expects_continue = value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }

    /// How the body of a response to `method` with `status` is framed (RFC 9112 §6.3).
    pub fn response_framing(&self, method: &Method, status: StatusCode) -> Framing {
        let bodiless = *method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        match (bodiless, self.chunked, self.length) {
            (true, _, _) => Framing::Done,
            (false, Some(true), _) => Framing::Chunked(Chunk::Size),
            (false, Some(false), _) | (false, None, None) => Framing::UntilClose,
            (false, None, Some(length)) => Framing::remaining(length),
        }
    }

    /// How a request's body is framed (RFC 9112 §6.3): a Transfer-Encoding must end in chunked,
    /// and may not come with a Content-Length (the request-smuggling shape).
    pub fn request_framing(&self, version: Version) -> std::result::Result<Framing, &'static str> {
        if version == Version::HTTP_10 && self.chunked.is_some() {
            // RFC 9112 §6.1: HTTP/1.0 has no transfer codings; its framing is faulty.
            return Err("Transfer-Encoding in an HTTP/1.0 request");
        }
        if self.other_codings {
            return Err("a Transfer-Encoding other than one chunked");
        }
        match (self.chunked, self.length) {
            (Some(true), None) => Ok(Framing::Chunked(Chunk::Size)),
            (Some(_), Some(_)) => Err("both Transfer-Encoding and Content-Length"),
            (Some(false), None) => Err("a Transfer-Encoding that does not end in chunked"),
            (None, length) => Ok(Framing::remaining(length.unwrap_or(0))),
        }
    }

    /// Whether the connection stays open after a message of `version`.
    pub fn keeps_alive(&self, version: Version) -> bool {
        if version == Version::HTTP_10 { self.keep_alive } else { !self.close }
    }
}

/// Where each header field of a head parsed by httparse lies in the head's bytes, so that the
/// values can share those bytes once the head is split off the read buffer. A connection keeps
/// one and reuses it for every head.
#[derive(Default)]
pub struct FieldSpans {
    /// Name start and end, value start and end.
    spans: Vec<(u32, u32, u32, u32)>,
}

impl FieldSpans {
    /// Notes the positions of `fields`, parsed out of `buffer` (offsets fit: heads are limited
    /// far below 4 GiB).
    pub fn record(&mut self, buffer: &[u8], fields: &[httparse::Header<'_>]) {
        let base = buffer.as_ptr() as usize;
        let offset = |slice: &[u8]| (slice.as_ptr() as usize - base) as u32;
        self.spans.clear();
        self.spans.extend(fields.iter().map(|field| {
            let (name, value) = (offset(field.name.as_bytes()), offset(field.value));
            (name, name + field.name.len() as u32, value, value + field.value.len() as u32)
        }));
    }

    /// The header map over `head` (the bytes the fields were parsed from, now split off), with
    /// room for `room` more, and what its framing headers say.
    pub fn into_headers(
        &self,
        head: &Bytes,
        room: usize,
    ) -> std::result::Result<(HeaderMap, FramingHeaders), &'static str> {
        let mut headers = HeaderMap::with_capacity(self.spans.len() + room);
        let mut framing = FramingHeaders::default();
        for &(name_start, name_end, value_start, value_end) in &self.spans {
            let name =
                names::header_name(&head[name_start as usize..name_end as usize]).map_err(|_| "invalid header name")?;
            let value = head.slice(value_start as usize..value_end as usize);
            framing.note(&name, &value)?;
            headers.append(name, HeaderValue::from_maybe_shared(value).map_err(|_| "invalid header value")?);
        }
        Ok((headers, framing))
    }
}

/// Writes the header fields of `headers` as `name: value` lines, but for the framing headers
/// (Content-Length, Transfer-Encoding), which the codec sets from the body.
pub fn put_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

/// Writes one `name: value` line.
pub fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes a `content-length` line.
pub fn put_content_length(out: &mut Vec<u8>, length: u64) {
    let mut digits = [0; 20];
    put_field(out, b"content-length", format_u64(&mut digits, length));
}

/// `value` in decimal, written into the end of `digits`.
fn format_u64(digits: &mut [u8; 20], mut value: u64) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &digits[start..];
        }
    }
}

/// A body's error, whatever the body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a message's body goes out, as its head announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sending {
    /// No body (HEAD, 1xx, 204, 304).
    Nothing,
    /// This many bytes.
    Length(u64),
    /// Chunked coding.
    Chunked,
    /// Until the connection closes.
    UntilClose,
}

/// What failed while a message was written.
#[derive(Debug)]
pub enum WriteError {
    /// The body could not be read.
    Body(BoxError),
    /// The connection failed, or the body's length was not the one announced.
    Io(Error),
}

impl From<Error> for WriteError {
    fn from(error: Error) -> Self {
        Self::Io(error)
    }
}

/// Writes a message: its encoded head `out`, then `body` framed as `sending`. A body of known
/// length up to [`INLINE_BODY_BYTES`] (usually one frame, ready at once) goes out in the head's
/// write; a body that is not the length announced is an error.
pub async fn write_message<W, B>(
    writer: &mut W,
    out: &mut Vec<u8>,
    body: B,
    sending: Sending,
) -> std::result::Result<(), WriteError>
where
    W: AsyncWrite + Unpin,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    match sending {
        // An empty body is not polled (a GET's, usually): the head is the message.
        Sending::Nothing | Sending::Length(0) => writer.write_all(out).await?,
        Sending::Length(length) if length <= INLINE_BODY_BYTES as u64 => {
            let head_length = out.len();
            out.reserve(length as usize);
            while let Some(data) = next_data(&mut body).await? {
                out.extend_from_slice(&data);
            }
            check_length(length, (out.len() - head_length) as u64)?;
            writer.write_all(out).await?;
        }
        sending => {
            writer.write_all(out).await?;
            let mut written = 0u64;
            while let Some(data) = next_data(&mut body).await? {
                written += data.len() as u64;
                if sending == Sending::Chunked {
                    // Size line, data and CRLF in one vectored write.
                    let size = Bytes::from(format!("{:x}\r\n", data.len()));
                    writer.write_all_buf(&mut size.chain(data).chain(&b"\r\n"[..])).await?;
                } else {
                    writer.write_all(&data).await?;
                }
            }
            match sending {
                Sending::Chunked => writer.write_all(b"0\r\n\r\n").await?,
                Sending::Length(length) => check_length(length, written)?,
                _ => {}
            }
        }
    }
    Ok(writer.flush().await?)
}

fn check_length(announced: u64, written: u64) -> Result<()> {
    if announced == written {
        return Ok(());
    }
    Err(Error::other(format!("the body had {written} bytes, not the {announced} announced")))
}

/// The next non-empty data of a body (other frames skipped), `None` at its end.
async fn next_data<B>(body: &mut B) -> std::result::Result<Option<Bytes>, WriteError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    while let Some(frame) = body.frame().await {
        match frame.map_err(|error| WriteError::Body(error.into()))?.into_data() {
            Ok(data) if !data.is_empty() => return Ok(Some(data)),
            _ => continue,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_lines() {
        for (length, line) in [(0, "content-length: 0\r\n"), (1234567890123, "content-length: 1234567890123\r\n")] {
            let mut out = Vec::new();
            put_content_length(&mut out, length);
            assert_eq!(String::from_utf8(out).unwrap(), line);
        }
        let mut out = Vec::new();
        put_content_length(&mut out, u64::MAX);
        assert_eq!(out, format!("content-length: {}\r\n", u64::MAX).as_bytes());
    }

    #[test]
    fn request_framing_refuses_smuggling_shapes() {
        let framing = |version: Version, fields: &[(&str, &str)]| {
            let mut noted = FramingHeaders::default();
            for (name, value) in fields {
                noted.note(&HeaderName::from_bytes(name.as_bytes()).unwrap(), value.as_bytes())?;
            }
            noted.request_framing(version)
        };
        let http11 = |fields: &[(&str, &str)]| framing(Version::HTTP_11, fields);
        assert_eq!(http11(&[]), Ok(Framing::Done));
        assert_eq!(http11(&[("content-length", "5")]), Ok(Framing::Length(5)));
        assert_eq!(http11(&[("transfer-encoding", "Chunked")]), Ok(Framing::Chunked(Chunk::Size)));
        let refused: [&[(&str, &str)]; 11] = [
            &[("transfer-encoding", "chunked"), ("content-length", "5")],
            &[("content-length", "5"), ("transfer-encoding", "chunked")],
            &[("transfer-encoding", "gzip, chunked")],
            &[("transfer-encoding", "chunked, chunked")],
            &[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
            &[("transfer-encoding", "xchunked")],
            &[("content-length", "5"), ("content-length", "6")],
            &[("content-length", "5"), ("content-length", "5")],
            &[("content-length", "5, 5")],
            &[("content-length", "+5")],
            &[("content-length", "-1")],
        ];
        for fields in refused {
            assert!(http11(fields).is_err(), "{fields:?}");
        }
        assert!(framing(Version::HTTP_10, &[("transfer-encoding", "chunked")]).is_err(), "HTTP/1.0 has no codings");
        let mut response = FramingHeaders::default();
        response.note(&header::TRANSFER_ENCODING, b"gzip, chunked").unwrap();
        assert_eq!(
            response.response_framing(&Method::GET, StatusCode::OK),
            Framing::Chunked(Chunk::Size),
            "responses may"
        );
    }

    /// A [`Source`] over bytes that arrive in the given pieces.
    struct Pieces {
        pieces: std::collections::VecDeque<Vec<u8>>,
        buffer: BytesMut,
    }

    impl Source for Pieces {
        fn buffer(&mut self) -> &mut BytesMut {
            &mut self.buffer
        }

        fn poll_fill(&mut self, _: &mut Context<'_>) -> Poll<Result<usize>> {
            let piece = self.pieces.pop_front().unwrap_or_default();
            self.buffer.extend_from_slice(&piece);
            Poll::Ready(Ok(piece.len()))
        }
    }

    /// Decodes a body framed by `framing` off `pieces`: its data, or the error.
    fn decode(framing: Framing, pieces: Vec<Vec<u8>>) -> std::result::Result<Vec<u8>, Error> {
        let mut source = Pieces { pieces: pieces.into(), buffer: BytesMut::new() };
        let (mut framing, mut data) = (framing, Vec::new());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            match framing.poll_next(&mut source, &mut cx) {
                Poll::Ready(Ok(Some(piece))) => data.extend_from_slice(&piece),
                Poll::Ready(Ok(None)) => return Ok(data),
                Poll::Ready(Err(error)) => return Err(error),
                Poll::Pending => unreachable!("the source is always ready"),
            }
        }
    }

    /// `bytes` cut at the given points (no empty pieces: to a source, reading nothing is the end).
    fn cut(bytes: &[u8], mut points: Vec<usize>) -> Vec<Vec<u8>> {
        points.iter_mut().for_each(|point| *point %= bytes.len() + 1);
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for point in points.into_iter().chain([bytes.len()]) {
            if point > start {
                pieces.push(bytes[start..point].to_vec());
            }
            start = point;
        }
        pieces
    }

    proptest::proptest! {
        #[test]
        fn chunked_bodies_decode_to_their_data_whatever_the_pieces(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..40), 0..6),
            points in proptest::collection::vec(0usize..1000, 0..8),
        ) {
            let mut wire = Vec::new();
            for chunk in &chunks {
                wire.extend_from_slice(format!("{:x};ext=1\r\n", chunk.len()).as_bytes());
                wire.extend_from_slice(chunk);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\nx-trailer: t\r\n\r\n");
            let decoded = decode(Framing::Chunked(Chunk::Size), cut(&wire, points)).unwrap();
            proptest::prop_assert_eq!(decoded, chunks.concat());
        }

        #[test]
        fn no_bytes_make_the_decoders_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode(Framing::Chunked(Chunk::Size), vec![bytes.clone()]);
            let _ = decode(Framing::Length(bytes.len() as u64 / 2 + 1), vec![bytes]);
        }
    }
}
