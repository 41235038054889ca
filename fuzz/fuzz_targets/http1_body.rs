//! Any bytes given to the HTTP/1.1 body decoder as a chunked body, in any pieces, decode to at
//! most as many bytes as came, end, or fail with an error; nothing panics or loops, and the
//! pieces they arrive in never change what they decode to.
#![no_main]

use std::task::{Context, Poll, Waker};

use apigw_gateway::http1::{Chunk, Framing, Source};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

/// The body's bytes, handed over `step` at a time.
struct Pieces<'a> {
    rest: &'a [u8],
    step: usize,
    buffer: BytesMut,
}

impl Source for Pieces<'_> {
    fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    fn poll_fill(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let take = self.step.min(self.rest.len());
        self.buffer.extend_from_slice(&self.rest[..take]);
        self.rest = &self.rest[take..];
        Poll::Ready(Ok(take))
    }
}

/// What the decoder makes of `data` fed `step` bytes at a time: the data, or an error.
fn decode(data: &[u8], step: usize) -> Result<Vec<u8>, ()> {
    let mut source = Pieces { rest: data, step, buffer: BytesMut::new() };
    let mut framing = Framing::Chunked(Chunk::Size);
    let mut decoded = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..=2 * data.len() + 2 {
        match framing.poll_next(&mut source, &mut cx) {
            Poll::Ready(Ok(Some(piece))) => decoded.extend_from_slice(&piece),
            Poll::Ready(Ok(None)) => return Ok(decoded),
            Poll::Ready(Err(_)) => return Err(()),
            Poll::Pending => unreachable!("the source is always ready"),
        }
    }
    panic!("the decoder did not finish on {} bytes", data.len());
}

fuzz_target!(|input: (u8, &[u8])| {
    let (step, data) = input;
    let whole = decode(data, data.len().max(1));
    if let Ok(decoded) = &whole {
        assert!(decoded.len() <= data.len());
    }
    assert_eq!(decode(data, usize::from(step.max(1))), whole, "the pieces changed the result");
});
