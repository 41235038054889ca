//! What the pipeline reads from a request: its host, its length, and the parameters plugins and
//! conditions see (declared Api parameters, system parameters).

use std::borrow::Cow;

use http::{HeaderValue, Uri, header, request::Parts};

use crate::config::api::CompiledApi;
use crate::error::GatewayError;

/// System parameters of the response phase (error mapping).
pub(super) fn response_system_parameters<'a>(
    api: &'a CompiledApi,
    request_id: &'a HeaderValue,
) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |name| match name {
        "CaRequestId" => request_id.to_str().ok(),
        "CaApiName" => Some(api.name.as_str()),
        "CaStage" => Some(api.stage.as_str()),
        _ => None,
    }
}

/// The host a request is for, as a value that outlives the headers: the target's authority
/// (HTTP/2 `:authority`, an HTTP/1.1 absolute-form target) when there is one, else `Host`
/// (RFC 9112 §3.2.2, RFC 9113 §8.3.1). Two `Host` headers, or a `Host` that names another
/// authority than the target, are refused: a proxy or WAF in front may read the other one.
pub(super) fn request_host(parts: &Parts) -> Result<Option<HeaderValue>, GatewayError> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(GatewayError::AmbiguousHost("more than one Host header"));
    }
    match (parts.uri.authority(), host) {
        (Some(authority), Some(host)) if !authority.as_str().as_bytes().eq_ignore_ascii_case(host.as_bytes()) => {
            Err(GatewayError::AmbiguousHost("the Host header and the request target name different hosts"))
        }
        (Some(authority), _) => Ok(HeaderValue::try_from(authority.as_str()).ok()),
        (None, host) => Ok(host.cloned()),
    }
}

/// `uri` with its path replaced by `path` (a normalised one), its query kept.
pub(super) fn with_path(uri: &Uri, path: &str) -> Result<Uri, GatewayError> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().map_err(|_| GatewayError::InvalidPath(path.to_owned()))?);
    Uri::from_parts(parts).map_err(|_| GatewayError::InvalidPath(path.to_owned()))
}

/// The host without port, lower-case (borrowed when already lower-case).
pub(super) fn normalize_host(host: &str) -> Cow<'_, str> {
    let without_port = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.split_once(':').map_or(host, |(name, _)| name)
    };
    if without_port.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(without_port.to_ascii_lowercase())
    } else {
        Cow::Borrowed(without_port)
    }
}

pub(super) fn content_length(headers: &http::HeaderMap) -> u64 {
    headers.get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &str, hosts: &[&str]) -> Parts {
        let mut request = http::Request::get(target);
        for host in hosts {
            request = request.header(header::HOST, *host);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_target_authority_wins_and_must_agree_with_host() {
        let host = |target, hosts| {
            request_host(&parts(target, hosts)).map(|host| host.map(|host| host.to_str().unwrap().to_owned()))
        };
        assert_eq!(host("/a", &["shop.example.com"]), Ok(Some("shop.example.com".to_owned())));
        assert_eq!(host("http://Shop.example.com/a", &[]), Ok(Some("Shop.example.com".to_owned())));
        assert_eq!(host("http://shop.example.com/a", &["SHOP.example.com"]), Ok(Some("shop.example.com".to_owned())));
        assert_eq!(host("/a", &[]), Ok(None));
        for (target, hosts) in
            [("/a", &["a", "b"][..]), ("/a", &["a", "a"]), ("http://public.example.com/a", &["admin.example.com"])]
        {
            assert!(matches!(host(target, hosts), Err(GatewayError::AmbiguousHost(_))), "{target} {hosts:?}");
        }
    }

    #[test]
    fn a_normalised_path_keeps_the_query_and_authority() {
        let uri: Uri = "http://a.example.com/x/../y?q=1".parse().unwrap();
        assert_eq!(with_path(&uri, "/y").unwrap().to_string(), "http://a.example.com/y?q=1");
        assert_eq!(with_path(&"/x/./z".parse().unwrap(), "/x/z").unwrap().to_string(), "/x/z");
    }

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(normalize_host("Shop.Example.com:8080"), "shop.example.com");
        assert_eq!(normalize_host("localhost"), "localhost");
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        assert_eq!(normalize_host("[::1]"), "[::1]");
    }
}
