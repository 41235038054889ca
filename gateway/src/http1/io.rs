//! A client connection as the HTTP/1 server uses it: plain TCP or TLS, split in a read side
//! (which a request body borrows while the server keeps the write side) and a write side, and
//! joined again when the connection is upgraded.

use std::io::{IoSlice, Result};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::server::TlsStream;

use super::{HEAD_READ_BYTES, READ_BYTES, Source};

/// A client connection.
pub enum ClientStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (boxed: the TLS state is large).
    Tls(Box<TlsStream<TcpStream>>),
}

impl ClientStream {
    /// Splits the connection; `received` are bytes already read from it.
    pub fn split(self, received: BytesMut) -> (Reader, WriteSide) {
        let (read, write) = match self {
            Self::Tcp(stream) => {
                let (read, write) = stream.into_split();
                (ReadSide::Tcp(read), WriteSide::Tcp(write))
            }
            Self::Tls(stream) => {
                let (read, write) = tokio::io::split(*stream);
                (ReadSide::Tls(read), WriteSide::Tls(write))
            }
        };
        (Reader { side: read, buffer: received, read_size: HEAD_READ_BYTES, shed: false }, write)
    }
}

/// The reading side of a client connection.
enum ReadSide {
    Tcp(OwnedReadHalf),
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
}

/// The writing side of a client connection.
pub enum WriteSide {
    /// Of plain TCP.
    Tcp(OwnedWriteHalf),
    /// Of TLS.
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

/// The reading side of a client connection with the bytes read and not consumed yet.
pub struct Reader {
    side: ReadSide,
    buffer: BytesMut,
    /// Room made before each read.
    read_size: usize,
    /// The buffer was let go while the connection idles: the next read goes through the stack.
    shed: bool,
}

impl Reader {
    /// Lets the buffer go while it holds nothing: an idle connection then keeps no read buffer
    /// until the client sends again.
    pub fn shed(&mut self) {
        if self.buffer.is_empty() {
            self.buffer = BytesMut::new();
            self.shed = true;
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<Result<()>> {
        match &mut self.side {
            ReadSide::Tcp(read) => Pin::new(read).poll_read(cx, out),
            ReadSide::Tls(read) => Pin::new(read).poll_read(cx, out),
        }
    }

    /// Reads in large pieces while a request body streams, in small ones between requests; back
    /// to heads, a buffer grown for a body is let go when it holds nothing, so that an idle
    /// connection keeps little memory.
    pub fn reading_body(&mut self, body: bool) {
        self.read_size = if body { READ_BYTES } else { HEAD_READ_BYTES };
        if !body && self.buffer.is_empty() && self.buffer.capacity() > HEAD_READ_BYTES {
            self.buffer = BytesMut::new();
        }
    }
}

impl Source for Reader {
    fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize>> {
        if self.shed {
            // Waits on the stack (left uninitialised: a poll that finds nothing costs no clearing):
            // a buffer is made only once bytes came.
            let mut scratch = [MaybeUninit::uninit(); HEAD_READ_BYTES];
            let mut read = ReadBuf::uninit(&mut scratch);
            ready!(self.poll_read(cx, &mut read))?;
            self.shed = false;
            self.buffer.reserve(self.read_size);
            self.buffer.extend_from_slice(read.filled());
            return Poll::Ready(Ok(read.filled().len()));
        }
        self.buffer.reserve(self.read_size);
        match &mut self.side {
            ReadSide::Tcp(read) => tokio_util::io::poll_read_buf(Pin::new(read), cx, &mut self.buffer),
            ReadSide::Tls(read) => tokio_util::io::poll_read_buf(Pin::new(read), cx, &mut self.buffer),
        }
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<Result<usize>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_write(cx, data),
            Self::Tls(write) => Pin::new(write).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[IoSlice<'_>]) -> Poll<Result<usize>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_write_vectored(cx, data),
            Self::Tls(write) => Pin::new(write).poll_write_vectored(cx, data),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(write) => write.is_write_vectored(),
            Self::Tls(write) => write.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_flush(cx),
            Self::Tls(write) => Pin::new(write).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_shutdown(cx),
            Self::Tls(write) => Pin::new(write).poll_shutdown(cx),
        }
    }
}

/// A connection after `101 Switching Protocols`: the bytes the client sent after its request
/// head come first, then the connection's own.
pub struct Upgraded {
    reader: Reader,
    writer: WriteSide,
}

impl Upgraded {
    /// Joins the sides of an upgraded connection.
    pub fn new(reader: Reader, writer: WriteSide) -> Self {
        Self { reader, writer }
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<Result<()>> {
        let reader = &mut self.get_mut().reader;
        if reader.buffer.is_empty() {
            return reader.poll_read(cx, out);
        }
        let take = reader.buffer.len().min(out.remaining());
        out.put_slice(&reader.buffer[..take]);
        reader.buffer.advance(take);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<Result<usize>> {
        Pin::new(&mut self.get_mut().writer).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_shutdown(cx)
    }
}
