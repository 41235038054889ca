//! Who the client of a request is. Behind proxies the gateway trusts (`--trusted-proxies`), the
//! client is the right-most `X-Forwarded-For` entry that is not one of them; otherwise it is the
//! connection's peer (or the PROXY protocol's source). The forwarding headers are made to say so
//! before anything reads them: from an untrusted peer, `X-Forwarded-*`, `X-Real-IP` and
//! `Forwarded` are dropped, so a client cannot choose the address ipControl, `in_cidr` conditions
//! and `CaClientIp` see.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// What only a trusted proxy may say about a request.
const FORWARDING_HEADERS: [HeaderName; 6] = [
    X_FORWARDED_FOR,
    X_REAL_IP,
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("forwarded"),
];

/// The proxies whose `X-Forwarded-*` headers the gateway believes.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// The client of one request.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its address.
    pub ip: IpAddr,
    /// The same, as a header value.
    pub header: HeaderValue,
    /// The trusted proxy it came through, which the backend request's `X-Forwarded-For`
    /// appends (from an untrusted peer that header is the peer alone already).
    pub proxy: Option<HeaderValue>,
}

impl Client {
    /// A client at `ip`, connected directly.
    pub fn new(ip: IpAddr) -> Self {
        let header = HeaderValue::try_from(ip.to_string()).expect("an IP address is a valid header value");
        Self { ip, header, proxy: None }
    }
}

impl TrustedProxies {
    /// Trusts the proxies in `blocks` (none: every peer is the client).
    pub fn new(blocks: Vec<IpNet>) -> Self {
        Self(blocks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(&address))
    }

    /// The client of a request from `peer` (the connection's, or its PROXY header's, source),
    /// with `headers` made to agree: from an untrusted peer the forwarding headers are dropped
    /// and `X-Forwarded-For` is the peer; from a trusted one they stay as sent. `X-Real-IP` is
    /// the client either way.
    pub fn resolve(&self, peer: &Client, headers: &mut HeaderMap) -> Client {
        if !self.trusts(peer.ip) {
            // One pass over the names present costs less than a lookup of each forwarding header.
            if headers.keys().any(|name| FORWARDING_HEADERS.contains(name)) {
                for name in &FORWARDING_HEADERS {
                    headers.remove(name);
                }
            }
            headers.insert(X_FORWARDED_FOR, peer.header.clone());
            headers.insert(X_REAL_IP, peer.header.clone());
            return peer.clone();
        }
        // Right to left: the first hop the gateway does not trust is the client; an entry that
        // is not an address ends the walk (what lies left of it cannot be believed).
        let mut client = peer.ip;
        for entry in forwarded_chain(headers).rev() {
            match entry.parse::<IpAddr>() {
                Ok(address) => {
                    client = address;
                    if !self.trusts(address) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let mut client = Client::new(client);
        client.proxy = Some(peer.header.clone());
        headers.insert(X_REAL_IP, client.header.clone());
        client
    }
}

/// The entries of every `X-Forwarded-For` line, in order.
fn forwarded_chain(headers: &HeaderMap) -> impl DoubleEndedIterator<Item = &str> {
    let lines: Vec<&str> = headers.get_all(X_FORWARDED_FOR).iter().filter_map(|value| value.to_str().ok()).collect();
    lines.into_iter().flat_map(|line| line.split(',')).map(str::trim).filter(|entry| !entry.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (HeaderName::from_static(name), HeaderValue::from_static(value))).collect()
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(vec!["10.244.0.0/24".parse().unwrap(), "127.0.0.1/32".parse().unwrap()])
    }

    fn peer(ip: &str) -> Client {
        Client::new(ip.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_and_its_forwarding_headers_are_dropped() {
        let mut sent = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-real-ip", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        let client = trusted().resolve(&peer("203.0.113.5"), &mut sent);
        assert_eq!(client.ip.to_string(), "203.0.113.5");
        assert_eq!(sent["x-forwarded-for"], "203.0.113.5");
        assert_eq!(sent["x-real-ip"], "203.0.113.5");
        assert!(!sent.contains_key("x-forwarded-proto") && !sent.contains_key("forwarded"));
        let nobody =
            TrustedProxies::default().resolve(&peer("10.244.0.9"), &mut headers(&[("x-forwarded-for", "9.9.9.9")]));
        assert_eq!(nobody.ip.to_string(), "10.244.0.9");
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let mut sent = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-for", "10.244.0.3"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = trusted().resolve(&peer("10.244.0.12"), &mut sent);
        assert_eq!(client.ip.to_string(), "198.51.100.7");
        assert_eq!(client.proxy.unwrap(), "10.244.0.12");
        assert_eq!(sent.get_all("x-forwarded-for").iter().count(), 2, "as sent");
        assert_eq!(sent["x-real-ip"], "198.51.100.7");
        assert_eq!(sent["x-forwarded-proto"], "https");
    }

    #[test]
    fn a_trusted_chain_ends_at_garbage_or_its_left_end() {
        let mut garbage = headers(&[("x-forwarded-for", "1.1.1.1, not-an-ip, 10.244.0.3")]);
        assert_eq!(trusted().resolve(&peer("127.0.0.1"), &mut garbage).ip.to_string(), "10.244.0.3");
        let mut all_trusted = headers(&[("x-forwarded-for", "10.244.0.7, 10.244.0.3")]);
        assert_eq!(trusted().resolve(&peer("127.0.0.1"), &mut all_trusted).ip.to_string(), "10.244.0.7");
        let mut none = HeaderMap::new();
        assert_eq!(trusted().resolve(&peer("127.0.0.1"), &mut none).ip.to_string(), "127.0.0.1");
        assert_eq!(none["x-real-ip"], "127.0.0.1");
    }
}
