//! Request bodies as they come from clients, and the timer that stops a client from holding a
//! request open by sending its body slowly or not at all.

use std::error::Error;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use http_body_util::Either;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::GatewayError;
use crate::http1;

/// A client's request body: hyper's (HTTP/2), or the HTTP/1 codec's.
pub type ClientRequestBody = Either<Incoming, http1::server::RequestBody>;

/// A client's request body under the body read timer.
pub type NetworkBody = TimedBody<ClientRequestBody>;

type BoxError = Box<dyn Error + Send + Sync>;

/// A body that fails with [`BodyStalled`] when no frame comes for `timeout` while it is read
/// (the clock runs only while the reader waits, so a slow backend is not the client's fault).
pub struct TimedBody<B> {
    inner: B,
    timeout: Duration,
    /// Armed on the first wait after progress; made on the first wait at all.
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

/// The error of a body whose client sent nothing for the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no byte of its body for {} s", .0.as_secs())]
pub struct BodyStalled(pub Duration);

impl<B> TimedBody<B> {
    /// `inner`, failing after `timeout` without progress.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self { inner, timeout, timer: None, armed: false }
    }

    /// The body without its timer.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = Instant::now() + this.timeout;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !this.armed {
            timer.as_mut().reset(deadline);
            this.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(this.timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a client body that could not be read: too large, too slow, or malformed.
pub fn body_error(error: &(dyn Error + 'static)) -> GatewayError {
    if error.is::<http_body_util::LengthLimitError>() {
        GatewayError::BodyTooLarge
    } else if let Some(BodyStalled(timeout)) = error.downcast_ref() {
        GatewayError::BodyTimeout(timeout.as_secs())
    } else {
        GatewayError::BadBody(error.to_string())
    }
}

/// Reads `body` whole, refusing more than `limit` bytes (the error then says the length limit
/// was reached; [`body_error`] turns a request body's error into the client's answer).
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, Box<dyn Error + Send + Sync>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    Ok(http_body_util::BodyExt::collect(http_body_util::Limited::new(body, limit)).await?.to_bytes())
}

/// Whether a request carries an `application/x-www-form-urlencoded` body.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn a_body_that_stalls_fails_and_one_that_moves_does_not() {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        let stream =
            futures::stream::unfold(receiver, |mut receiver| async { Some((receiver.recv().await?, receiver)) });
        let mut body = TimedBody::new(StreamBody::new(Box::pin(stream)), Duration::from_millis(400));
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                sender.send(Ok(Frame::data(Bytes::from_static(b"x")))).await.unwrap();
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        for _ in 0..3 {
            assert!(body.frame().await.unwrap().is_ok(), "frames within the timeout are progress");
        }
        let stalled = body.frame().await.unwrap().unwrap_err();
        assert!(stalled.is::<BodyStalled>(), "{stalled}");
    }
}
