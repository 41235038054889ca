//! The backend request: path, query, headers and body as the API's mode, mappings, constants and
//! system parameters say, plus the `X-Ca-*`, `X-Forwarded-*` and `Via` headers.

use std::borrow::Cow;

use apigw_core::resources::{ParameterLocation, ParameterMode};
use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use percent_encoding::percent_decode_str;

use super::context::RequestContext;
use super::credentials;
use crate::backend::target::HttpTarget;
use crate::error::GatewayError;
use crate::http1::ADDED_HEADERS;
use crate::telemetry::request_id::X_CA_REQUEST_ID;

/// Where a backend request goes and what it carries, before its body is attached.
pub struct BackendParts {
    /// Path and query.
    pub path_and_query: String,
    /// Headers (Host not yet set unless a constant set it).
    pub headers: HeaderMap,
    /// A body replacing the client's (MAPPING mode with FORM or BODY targets).
    pub body: Option<Vec<u8>>,
}

/// The hop-by-hop headers a proxy must not forward (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, and those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names present is cheaper than looking each hop-by-hop name up, and
    // most messages have none.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

/// Builds the backend request's path, query, headers and (when mapped) body from the client's
/// headers and the declared parameters' `values`. Each value is encoded for where it lands (one
/// path segment, a query component, a form field); a value mapped into a header that cannot be
/// one (CR, LF, NUL) is refused, naming its parameter.
pub fn backend_parts(
    target: &HttpTarget,
    context: &RequestContext<'_>,
    mut headers: HeaderMap,
) -> Result<BackendParts, GatewayError> {
    let RequestContext { api, path: request_path, query, rest, path_values, route, .. } = *context;
    let values = &context.values;
    // Room for the forwarding headers and a few mapped ones: a head read by the HTTP/1.1 codec
    // has it already.
    headers.reserve(ADDED_HEADERS);
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    credentials::strip_headers(api, &mut headers);
    let mapping = api.mode == ParameterMode::Mapping;
    let mut query_pairs: Vec<(String, String)> = Vec::new();
    let mut form_pairs: Vec<(String, String)> = Vec::new();
    let mut body = None;
    let mut path_targets: Vec<(&str, &str)> = Vec::new();

    if mapping {
        for parameter in &api.parameters {
            if parameter.location == ParameterLocation::Header {
                headers.remove(parameter.check.name());
            }
        }
        for (parameter, value) in api.parameters.iter().zip(values) {
            let Some(value) = value else { continue };
            let target_name = parameter.target.name.as_str();
            match parameter.target.location {
                ParameterLocation::Path => path_targets.push((target_name, value)),
                ParameterLocation::Query => query_pairs.push((target_name.to_owned(), value.to_string())),
                ParameterLocation::Header => {
                    let Ok(header_value) = HeaderValue::try_from(value.as_ref()) else {
                        let name = parameter.check.name();
                        return Err(GatewayError::InvalidParameter(format!(
                            "Invalid parameter {name}: a header value may not hold CR, LF, NUL or other control characters"
                        )));
                    };
                    if let Some(name) = &parameter.target_header {
                        headers.insert(name.clone(), header_value);
                    }
                }
                ParameterLocation::Form => form_pairs.push((target_name.to_owned(), value.to_string())),
                ParameterLocation::Body => body = Some(value.as_bytes().to_vec()),
            }
        }
    }
    for constant in &api.constants {
        match &constant.header {
            Some((name, value)) => {
                headers.insert(name.clone(), value.clone());
            }
            None => {
                add(&mut headers, &mut query_pairs, &mut form_pairs, constant.location, &constant.name, &constant.value)
            }
        }
    }
    if let Some(route) = route {
        query_pairs.extend(route.query.iter().cloned());
        for (name, value) in &route.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
    for claim in context.token.forwarded.iter().filter(|claim| claim.location != ParameterLocation::Path) {
        add(&mut headers, &mut query_pairs, &mut form_pairs, claim.location, &claim.name, &claim.value);
    }
    for (name, target) in &api.system {
        if let Some(value) = context.system(*name, &headers).map(str::to_owned) {
            add(&mut headers, &mut query_pairs, &mut form_pairs, target.location, &target.name, &value);
        }
    }
    if !form_pairs.is_empty() {
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&form_pairs).finish();
        body = Some(encoded.into_bytes());
        headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"));
    }

    // The rendered path is about as long as the request's; one allocation in the usual case.
    let room = target.base_path.len() + request_path.len() + 16 + query.map_or(0, str::len) + 1;
    let mut path_and_query = String::with_capacity(room);
    path_and_query.push_str(&target.base_path);
    match &target.path {
        Some(template) => {
            let decoded: Vec<Cow<'_, str>> =
                path_values.iter().map(|raw| percent_decode_str(raw).decode_utf8_lossy()).collect();
            let request_value = |name: &str| {
                let index = api.path_params.iter().position(|param| param == name)?;
                decoded.get(index).map(|value| value.as_ref())
            };
            let mapped = |name: &str| path_targets.iter().find(|(target, _)| *target == name).map(|(_, value)| *value);
            let claimed = |name: &str| {
                let claim =
                    context.token.forwarded.iter().find(|c| c.location == ParameterLocation::Path && c.name == name);
                claim.map(|claim| claim.value.as_str())
            };
            template.render_into(
                &mut path_and_query,
                |name| {
                    claimed(name).or_else(|| {
                        if mapping { mapped(name).or_else(|| request_value(name)) } else { request_value(name) }
                    })
                },
                rest,
            );
        }
        None => path_and_query.push_str(request_path),
    }
    let passthrough_query = if mapping { None } else { query.map(|query| credentials::strip_query(api, query)) };
    let passthrough_query = passthrough_query.as_deref().filter(|query| !query.is_empty());
    if passthrough_query.is_some() || !query_pairs.is_empty() {
        path_and_query.push('?');
        if let Some(query) = passthrough_query {
            path_and_query.push_str(query);
        }
        if !query_pairs.is_empty() {
            if passthrough_query.is_some() {
                path_and_query.push('&');
            }
            let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&query_pairs).finish();
            path_and_query.push_str(&encoded);
        }
    }

    add_forwarding_headers(&mut headers, context);
    Ok(BackendParts { path_and_query, headers, body })
}

fn add(
    headers: &mut HeaderMap,
    query: &mut Vec<(String, String)>,
    form: &mut Vec<(String, String)>,
    location: ParameterLocation,
    name: &str,
    value: &str,
) {
    match location {
        ParameterLocation::Header => insert_header(headers, name, value),
        ParameterLocation::Query => query.push((name.to_owned(), value.to_owned())),
        ParameterLocation::Form | ParameterLocation::Body => form.push((name.to_owned(), value.to_owned())),
        ParameterLocation::Path => {}
    }
}

fn insert_header(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        headers.insert(name, value);
    }
}

/// `X-Ca-Request-Id`, `X-Forwarded-For` (the trusted proxy appended), `-Proto` and `-Host`
/// (unless a trusted proxy sent them) and `Via` (appended). `X-Real-IP` was set, and an
/// untrusted peer's forwarding headers replaced, when the client was resolved
/// ([`crate::pipeline::client`]).
fn add_forwarding_headers(headers: &mut HeaderMap, context: &RequestContext<'_>) {
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    if let Some(proxy) = &context.connection.client.proxy {
        append_to(headers, X_FORWARDED_FOR, proxy);
    }
    const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
    headers.entry(X_FORWARDED_PROTO).or_insert_with(|| HeaderValue::from_static(context.scheme()));
    if let Some(host) = context.host_header
        && let Entry::Vacant(entry) = headers.entry(X_FORWARDED_HOST)
    {
        entry.insert(host.clone());
    }
    headers.insert(X_CA_REQUEST_ID, context.request_id.clone());
    append_to(headers, header::VIA, context.gateway_id);
}

/// Sets `name` to its lines joined and then `value`, or to `value` alone (shared, not copied)
/// when the header is not there: one lookup either way.
fn append_to(headers: &mut HeaderMap, name: HeaderName, value: &HeaderValue) {
    match headers.entry(name) {
        Entry::Vacant(entry) => {
            entry.insert(value.clone());
        }
        Entry::Occupied(mut entry) => {
            // Every line the header was sent as, in order, then `value`.
            let mut joined = Vec::with_capacity(entry.iter().map(|line| line.len() + 2).sum::<usize>() + value.len());
            for line in entry.iter() {
                joined.extend_from_slice(line.as_bytes());
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(value.as_bytes());
            entry.insert(HeaderValue::from_maybe_shared(bytes::Bytes::from(joined)).unwrap_or_else(|_| value.clone()));
        }
    }
}
