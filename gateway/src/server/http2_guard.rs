//! Limits hyper's HTTP/2 server does not set: a client may send SETTINGS and PING frames, each
//! of which the server must acknowledge, only so fast. The guard reads the frame headers of
//! what the client sends (RFC 9113 §4.1) and ends the connection past the budget.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// SETTINGS and PING frames a connection may send at once, and how many more a second.
pub const CONTROL_FRAME_BURST: u32 = 100;
/// See [`CONTROL_FRAME_BURST`].
pub const CONTROL_FRAMES_PER_SECOND: u32 = 10;

const PREFACE_BYTES: usize = 24;
const FRAME_HEADER_BYTES: usize = 9;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

/// An HTTP/2 connection's stream whose incoming SETTINGS and PING frames are counted.
pub struct FloodGuard<S> {
    inner: S,
    /// Bytes of the preface not seen yet.
    preface_left: usize,
    /// The frame header being read, and how much of it came.
    header: [u8; FRAME_HEADER_BYTES],
    header_len: usize,
    /// Payload bytes of the current frame not seen yet.
    payload_left: usize,
    budget: Budget,
}

/// A token bucket of control frames.
struct Budget {
    tokens: f64,
    refilled: Instant,
}

impl Budget {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * f64::from(CONTROL_FRAMES_PER_SECOND);
        self.tokens = (self.tokens + earned).min(f64::from(CONTROL_FRAME_BURST));
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

impl<S> FloodGuard<S> {
    /// Guards `inner`, whose first bytes from the client are the HTTP/2 preface.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            preface_left: PREFACE_BYTES,
            header: [0; FRAME_HEADER_BYTES],
            header_len: 0,
            payload_left: 0,
            budget: Budget { tokens: f64::from(CONTROL_FRAME_BURST), refilled: Instant::now() },
        }
    }

    /// Notes the bytes the client sent: an error once it sent too many control frames.
    fn inspect(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.preface_left > 0 {
                let skipped = self.preface_left.min(data.len());
                (self.preface_left, data) = (self.preface_left - skipped, &data[skipped..]);
            } else if self.payload_left > 0 {
                let skipped = self.payload_left.min(data.len());
                (self.payload_left, data) = (self.payload_left - skipped, &data[skipped..]);
            } else {
                let taken = (FRAME_HEADER_BYTES - self.header_len).min(data.len());
                self.header[self.header_len..self.header_len + taken].copy_from_slice(&data[..taken]);
                (self.header_len, data) = (self.header_len + taken, &data[taken..]);
                if self.header_len == FRAME_HEADER_BYTES {
                    self.header_len = 0;
                    let [a, b, c, kind, flags, ..] = self.header;
                    self.payload_left = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                    if matches!(kind, SETTINGS | PING) && flags & ACK == 0 && !self.budget.take() {
                        return Err(io::Error::other(format!(
                            "more than {CONTROL_FRAME_BURST} SETTINGS/PING frames at once \
                             ({CONTROL_FRAMES_PER_SECOND} a second allowed): a flood"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FloodGuard<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let this = &mut *self;
        this.inspect(&buf.filled()[before..])?;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FloodGuard<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let length = payload.len();
        let mut frame = vec![(length >> 16) as u8, (length >> 8) as u8, length as u8, kind, flags, 0, 0, 0, 0];
        frame.extend_from_slice(payload);
        frame
    }

    #[tokio::test]
    async fn counts_unacknowledged_settings_and_pings_across_reads_and_stops_a_flood() {
        let mut guard = FloodGuard::new(tokio::io::empty());
        guard.inspect(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
        let mut sent = Vec::new();
        for _ in 0..CONTROL_FRAME_BURST / 2 {
            sent.extend(frame(SETTINGS, 0, &[0; 6]));
            sent.extend(frame(PING, 0, &[1; 8]));
            sent.extend(frame(PING, ACK, &[1; 8]));
            sent.extend(frame(0x0, 0, b"DATA that is not counted"));
        }
        for piece in sent.chunks(7) {
            guard.inspect(piece).unwrap();
        }
        assert!(guard.inspect(&frame(SETTINGS, ACK, &[])).is_ok(), "acknowledgements are free");
        assert!(guard.inspect(&frame(PING, 0, &[0; 8])).is_err(), "the burst is spent");
    }
}
