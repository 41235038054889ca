//! Request parameters: extracted from path, query, headers, form and body, checked against their
//! declarations, defaults filled in.

use std::borrow::Cow;

use apigw_core::resources::ParameterLocation;
use bytes::Bytes;
use http::HeaderMap;
use percent_encoding::percent_decode_str;

use crate::body::is_form;
use crate::config::api::CompiledApi;
use crate::error::GatewayError;

/// The request pieces parameters are read from. Values borrow from the path, query and body
/// (`'a`); header values are copied, so that the headers can move on to the backend request.
pub struct Sources<'a, 'h> {
    /// Path parameter values by position, still percent-encoded.
    pub path: &'a [&'a str],
    /// The raw query string.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'h HeaderMap,
    /// The body, when it was read.
    pub body: Option<&'a Bytes>,
}

/// The value of every declared parameter (in declaration order; `None` when absent with no
/// default), or the first invalid one.
pub fn extract<'a>(api: &CompiledApi, sources: &Sources<'a, '_>) -> Result<Vec<Option<Cow<'a, str>>>, GatewayError> {
    let mut query: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>> = None;
    let mut form: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>> = None;
    let mut values = Vec::with_capacity(api.parameters.len());
    for parameter in &api.parameters {
        let name = parameter.check.name();
        let found: Option<Cow<'a, str>> = match parameter.location {
            ParameterLocation::Path => parameter
                .path_index
                .and_then(|index| sources.path.get(index))
                .map(|raw| percent_decode_str(raw).decode_utf8_lossy()),
            ParameterLocation::Query => {
                let pairs = query.get_or_insert_with(|| {
                    sources.query.map(|query| form_urlencoded::parse(query.as_bytes()).collect()).unwrap_or_default()
                });
                first(pairs, name)
            }
            ParameterLocation::Header => sources
                .headers
                .get(name)
                .map(|value| Cow::Owned(String::from_utf8_lossy(value.as_bytes()).into_owned())),
            ParameterLocation::Form => {
                let pairs = form.get_or_insert_with(|| match sources.body {
                    Some(body) if is_form(sources.headers) => form_urlencoded::parse(body).collect(),
                    _ => Vec::new(),
                });
                first(pairs, name)
            }
            ParameterLocation::Body => {
                sources.body.filter(|body| !body.is_empty()).map(|body| String::from_utf8_lossy(body))
            }
        };
        let value = match found {
            Some(value) => Some(value),
            None => parameter.check.declaration.default.clone().map(Cow::Owned),
        };
        match &value {
            Some(value) => parameter.check.check(value).map_err(|error| GatewayError::InvalidParameter(error.0))?,
            None if parameter.check.declaration.required => {
                return Err(GatewayError::InvalidParameter(format!("Invalid parameter {name}: required")));
            }
            None => {}
        }
        values.push(value);
    }
    Ok(values)
}

fn first<'a>(pairs: &[(Cow<'a, str>, Cow<'a, str>)], name: &str) -> Option<Cow<'a, str>> {
    pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
}
