//! Header names the `http` crate has no constant for but that requests to this gateway nearly
//! always carry (Alibaba's `X-Ca-*`, the forwarding headers): a head's copy of one is taken from
//! this table, not allocated and lowercased per request as `HeaderName::from_bytes` does for any
//! name it does not know.

use http::HeaderName;
use http::header::InvalidHeaderName;

/// The names, lowercase.
static KNOWN: [HeaderName; 13] = [
    HeaderName::from_static("x-ca-key"),
    HeaderName::from_static("x-ca-signature"),
    HeaderName::from_static("x-ca-signature-method"),
    HeaderName::from_static("x-ca-signature-headers"),
    HeaderName::from_static("x-ca-timestamp"),
    HeaderName::from_static("x-ca-nonce"),
    HeaderName::from_static("x-ca-stage"),
    HeaderName::from_static("x-ca-request-id"),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("x-request-id"),
];

/// The header name spelled `bytes` (in any case), as `HeaderName::from_bytes` parses it.
pub fn header_name(bytes: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    if bytes.len() > 2
        && bytes[..2].eq_ignore_ascii_case(b"x-")
        && let Some(known) = KNOWN.iter().find(|name| name.as_str().as_bytes().eq_ignore_ascii_case(bytes))
    {
        return Ok(known.clone());
    }
    HeaderName::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_name_in_any_case_is_the_name_the_http_crate_parses() {
        for spelling in [
            "X-Ca-Key",
            "x-ca-key",
            "X-CA-SIGNATURE-HEADERS",
            "X-Forwarded-For",
            "x-real-ip",
            "X-Custom",
            "x-",
            "Accept",
        ] {
            assert_eq!(header_name(spelling.as_bytes()).unwrap(), HeaderName::from_bytes(spelling.as_bytes()).unwrap());
        }
        for invalid in ["x-ca key", "x-\u{e9}", ""] {
            assert!(header_name(invalid.as_bytes()).is_err(), "{invalid:?}");
        }
    }
}
