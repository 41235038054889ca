//! A client that sends bytes exactly as given, for requests no well-behaved client would make
//! (smuggling shapes, malformed heads), and reads the answers back.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer read off a raw connection.
#[derive(Debug)]
pub struct RawAnswer {
    /// Its status code.
    pub status: u16,
    /// Its header fields, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: String,
}

impl RawAnswer {
    /// The first value of header `name`, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
    }
}

/// What came back for bytes sent on one connection: the answers, and whether the gateway
/// closed the connection after them.
#[derive(Debug)]
pub struct RawExchange {
    /// The answers, in order.
    pub answers: Vec<RawAnswer>,
    /// Whether the connection was closed by the other side.
    pub closed: bool,
}

/// Sends `bytes` on a new connection to `address`, then reads until `count` answers are
/// complete and the connection is closed or stays quiet for `quiet`, or 10 s pass.
pub async fn exchange(address: SocketAddr, bytes: &[u8], count: usize, quiet: Duration) -> RawExchange {
    let mut stream = TcpStream::connect(address).await.expect("connecting to the gateway");
    stream.write_all(bytes).await.expect("sending the request");
    let mut seen = Vec::new();
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answers = parse_answers(&seen);
        let wait = if answers.len() >= count { quiet } else { deadline - tokio::time::Instant::now() };
        let mut data = [0u8; 8192];
        match tokio::time::timeout(wait, stream.read(&mut data)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(read)) => seen.extend_from_slice(&data[..read]),
            Err(_) => break,
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    RawExchange { answers: parse_answers(&seen), closed }
}

/// The complete answers at the front of `seen` (bodies framed by Content-Length or chunks).
fn parse_answers(mut seen: &[u8]) -> Vec<RawAnswer> {
    let mut answers = Vec::new();
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut fields);
        let Ok(httparse::Status::Complete(head)) = response.parse(seen) else { return answers };
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|field| (field.name.to_ascii_lowercase(), String::from_utf8_lossy(field.value).into_owned()))
            .collect();
        let length =
            headers.iter().find(|(name, _)| name == "content-length").and_then(|(_, value)| value.parse().ok());
        let Some(length) = length else {
            // Answers of these tests carry their length; anything else ends the list.
            return answers;
        };
        let length: usize = length;
        if seen.len() < head + length {
            return answers;
        }
        let body = String::from_utf8_lossy(&seen[head..head + length]).into_owned();
        answers.push(RawAnswer { status: response.code.unwrap_or_default(), headers, body });
        seen = &seen[head + length..];
    }
}
