//! What the pipeline reads from a request: its host, its length, and the parameters plugins and
//! conditions see (declared Api parameters, system parameters).

use std::borrow::Cow;

use http::{HeaderValue, Uri, header, request::Parts};

use super::forward::RequestContext;
use crate::compiled::CompiledApi;

/// The declared parameters' values by client-side name, for routing conditions (`Parameter:x`).
pub(super) fn declared_parameters<'a>(
    api: &'a CompiledApi,
    values: &'a [Option<Cow<'_, str>>],
) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |name| {
        let index = api.parameters.iter().position(|parameter| parameter.check.name() == name)?;
        values.get(index)?.as_deref()
    }
}

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

/// System parameters for routing conditions (`$CaClientIp`, `$CaStage`, ...).
pub(super) fn system_parameters<'a>(
    api: &'a CompiledApi,
    context: &'a RequestContext<'a>,
    headers: &'a http::HeaderMap,
) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |name| match name {
        "CaClientIp" => context.client_ip.to_str().ok(),
        "CaDomain" => Some(context.host),
        "CaStage" => Some(api.stage.as_str()),
        "CaApiName" => Some(api.name.as_str()),
        "CaRequestId" => context.request_id.to_str().ok(),
        "CaHttpSchema" => Some(context.scheme),
        "CaClientUa" => headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok()),
        "CaProxy" => context.gateway_id.to_str().ok(),
        "CaInstanceId" => Some(context.instance),
        "CaAppId" => context.app.map(|app| app.app_id.as_str()),
        "CaAppKey" => context.app.map(|app| app.app_key.as_str()),
        _ => None,
    }
}

/// The `Host` header, or the URI's authority (HTTP/2), as a value that outlives the headers.
pub(super) fn host_value(headers: &http::HeaderMap, uri: &Uri) -> Option<HeaderValue> {
    headers
        .get(header::HOST)
        .cloned()
        .or_else(|| uri.authority().and_then(|authority| HeaderValue::try_from(authority.as_str()).ok()))
}

/// The `Host` header, or the URI's authority (HTTP/2).
pub(super) fn host_of<'a>(headers: &'a http::HeaderMap, uri: &'a Uri) -> &'a str {
    headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()))
        .unwrap_or_default()
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

pub(super) fn content_length(parts: &Parts) -> u64 {
    parts.headers.get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(normalize_host("Shop.Example.com:8080"), "shop.example.com");
        assert_eq!(normalize_host("localhost"), "localhost");
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        assert_eq!(normalize_host("[::1]"), "[::1]");
    }
}
