//! The PROXY protocol (v1 text and v2 binary, HAProxy's specification) on listeners that sit
//! behind a load balancer sending it: the client's address as the balancer saw it, read off the
//! start of the connection before TLS or HTTP. Parsing is `ppp`'s; this module reads exactly the
//! header's bytes (peeking first), so the rest of the stream is left for TLS or HTTP untouched.

use std::net::SocketAddr;

use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::net::TcpStream;

/// The v1 header's signature and its longest form (107 bytes, CRLF included).
const V1_PREFIX: &[u8] = b"PROXY ";
const V1_MAX: usize = 107;
/// The v2 header's signature, its fixed part, and the most TLV bytes accepted after it.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED: usize = 16;
const V2_MAX: usize = V2_FIXED + 2048;

/// Why a connection on a PROXY-protocol listener is closed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The connection opened with something else.
    #[error("the connection does not open with a PROXY protocol header")]
    Missing,
    /// A header that cannot be parsed or is too long.
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(String),
    /// The socket failed or closed mid-header.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the PROXY header at the start of `stream` and returns the client's address: the
/// header's source, or `None` for a `LOCAL` (v2) or `UNKNOWN` (v1) header, which a balancer
/// sends for its own health checks.
pub async fn read_header(stream: &mut TcpStream) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut header = Vec::with_capacity(V1_MAX);
    let mut window = [0u8; V1_MAX];
    loop {
        let peeked = stream.peek(&mut window).await?;
        if peeked == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        let take = header_bytes(&header, &window[..peeked])?;
        let start = header.len();
        header.resize(start + take, 0);
        tokio::io::AsyncReadExt::read_exact(stream, &mut header[start..]).await?;
        if let Some(complete) = complete(&header) {
            return complete;
        }
    }
}

/// How many of the `peeked` bytes (which follow the `header` bytes already read) still belong
/// to the header.
fn header_bytes(header: &[u8], peeked: &[u8]) -> Result<usize, ProxyHeaderError> {
    let read = header.len();
    let seen: Vec<u8> = header.iter().chain(peeked).copied().take(V2_FIXED).collect();
    let is_prefix = |signature: &[u8]| {
        let common = seen.len().min(signature.len());
        seen[..common] == signature[..common]
    };
    if is_prefix(V2_SIGNATURE) {
        let wanted = if seen.len() < V2_FIXED {
            V2_FIXED
        } else {
            let length = V2_FIXED + usize::from(u16::from_be_bytes([seen[14], seen[15]]));
            if length > V2_MAX {
                return Err(ProxyHeaderError::Invalid(format!("a v2 header of {length} bytes")));
            }
            length
        };
        Ok(peeked.len().min(wanted - read))
    } else if is_prefix(V1_PREFIX) {
        let through_newline = peeked.iter().position(|&byte| byte == b'\n').map_or(peeked.len(), |at| at + 1);
        if read + through_newline > V1_MAX {
            return Err(ProxyHeaderError::Invalid("a v1 header longer than 107 bytes".into()));
        }
        Ok(through_newline)
    } else {
        Err(ProxyHeaderError::Missing)
    }
}

/// Whether `header` holds a whole header: a v1 line through its newline, or a v2 header of
/// the length it states.
fn is_whole(header: &[u8]) -> bool {
    if header.starts_with(V1_PREFIX) {
        return header.ends_with(b"\n");
    }
    header.len() >= V2_FIXED && header.len() == V2_FIXED + usize::from(u16::from_be_bytes([header[14], header[15]]))
}

/// The header's result once all its bytes are read; `None` while more are needed.
fn complete(header: &[u8]) -> Option<Result<Option<SocketAddr>, ProxyHeaderError>> {
    if !is_whole(header) {
        return None;
    }
    let parsed = HeaderResult::parse(header);
    if parsed.is_incomplete() {
        return Some(Err(ProxyHeaderError::Invalid("a header missing some of its fields".into())));
    }
    Some(match parsed {
        HeaderResult::V1(Ok(header)) => Ok(match header.addresses {
            v1::Addresses::Tcp4(ip) => Some(SocketAddr::new(ip.source_address.into(), ip.source_port)),
            v1::Addresses::Tcp6(ip) => Some(SocketAddr::new(ip.source_address.into(), ip.source_port)),
            v1::Addresses::Unknown => None,
        }),
        HeaderResult::V2(Ok(header)) => Ok(match (header.command, header.addresses) {
            (v2::Command::Proxy, v2::Addresses::IPv4(ip)) => {
                Some(SocketAddr::new(ip.source_address.into(), ip.source_port))
            }
            (v2::Command::Proxy, v2::Addresses::IPv6(ip)) => {
                Some(SocketAddr::new(ip.source_address.into(), ip.source_port))
            }
            _ => None,
        }),
        HeaderResult::V1(Err(error)) => Err(ProxyHeaderError::Invalid(error.to_string())),
        HeaderResult::V2(Err(error)) => Err(ProxyHeaderError::Invalid(error.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend((addresses.len() as u16).to_be_bytes());
        header.extend(addresses);
        header
    }

    /// Feeds `bytes` as if each `peek` returned `chunk` of them, like a slow balancer.
    fn parse_in_chunks(bytes: &[u8], chunk: usize) -> Result<Option<SocketAddr>, ProxyHeaderError> {
        let mut header = Vec::new();
        loop {
            let rest = &bytes[header.len()..];
            if rest.is_empty() {
                return Err(ProxyHeaderError::Invalid("ran out".into()));
            }
            let take = header_bytes(&header, &rest[..rest.len().min(chunk)])?;
            header.extend_from_slice(&rest[..take]);
            if let Some(result) = complete(&header) {
                return result;
            }
        }
    }

    #[test]
    fn v1_tcp4_and_tcp6_give_the_source() {
        for chunk in [1, 7, 200] {
            let v4 = parse_in_chunks(b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\nGET / HTTP/1.1\r\n", chunk);
            assert_eq!(v4.unwrap(), Some("203.0.113.7:51234".parse().unwrap()));
            let v6 = parse_in_chunks(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n\x16\x03", chunk);
            assert_eq!(v6.unwrap(), Some("[2001:db8::1]:4000".parse().unwrap()));
        }
        assert_eq!(parse_in_chunks(b"PROXY UNKNOWN\r\nGET", 5).unwrap(), None);
    }

    #[test]
    fn v2_proxy_gives_the_source_and_local_gives_none() {
        let addresses = [198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0, 80];
        for chunk in [1, 3, 16, 500] {
            let mut bytes = v2(1, 0x11, &addresses);
            bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(parse_in_chunks(&bytes, chunk).unwrap(), Some("198.51.100.9:8080".parse().unwrap()));
        }
        assert_eq!(parse_in_chunks(&v2(0, 0x00, &[]), 4).unwrap(), None);
    }

    #[test]
    fn other_openings_and_broken_headers_are_refused() {
        assert!(matches!(parse_in_chunks(b"GET / HTTP/1.1\r\n\r\n", 100), Err(ProxyHeaderError::Missing)));
        assert!(matches!(parse_in_chunks(b"\x16\x03\x01\x02\x00", 100), Err(ProxyHeaderError::Missing)));
        let long = format!("PROXY TCP4 {} 1.1.1.1 1 1\r\n", "1".repeat(120));
        assert!(matches!(parse_in_chunks(long.as_bytes(), 30), Err(ProxyHeaderError::Invalid(_))));
        assert!(matches!(parse_in_chunks(b"PROXY TCP4 a b c d\r\n", 100), Err(ProxyHeaderError::Invalid(_))));
        assert!(matches!(parse_in_chunks(b"PROXY TCP4\r\nGET", 100), Err(ProxyHeaderError::Invalid(_))));
        let mut huge = v2(1, 0x11, &[0; 12]);
        huge[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(parse_in_chunks(&huge, 100), Err(ProxyHeaderError::Invalid(_))));
    }
}
