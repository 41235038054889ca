//! Parameters over an answer (a backend's, or an authentication service's): its status, the
//! gateway's error code when the call failed, headers and JSON body fields, beside system
//! parameters and JWT claims. The error-mapping and remoteAuth plugins read their conditions'
//! `$name`s from here.

use std::borrow::Cow;

use apigw_core::condition::Parameters;
use http::{HeaderMap, HeaderName, StatusCode};

use crate::plugins::parameters::{Step, claim_text, field, json_path};

/// Where an answer parameter comes from.
#[derive(Debug)]
pub enum Source {
    /// The status.
    StatusCode,
    /// The gateway's `X-Ca-Error-Code` when the backend call failed (`B504TO`, ...).
    ErrorCode,
    /// A header.
    Header(HeaderName),
    /// A field of the JSON body: `$.a.b[0].c`.
    BodyJson(Vec<Step>),
    /// A system parameter.
    System(String),
    /// A claim of the verified JWT (null without jwtAuth).
    Token(String),
}

impl Source {
    /// Parses `StatusCode`, `ErrorCode`, `Header:x`, `BodyJsonField:$.a`, `System:x` or `Token:x`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (location, name) = text.split_once(':').unwrap_or((text, ""));
        Ok(match location.to_ascii_lowercase().as_str() {
            "statuscode" => Self::StatusCode,
            "header" => Self::Header(HeaderName::try_from(name).map_err(|e| format!("{text}: {e}"))?),
            "bodyjson" | "bodyjsonfield" => {
                Self::BodyJson(json_path(name).ok_or_else(|| format!("{text}: expected a JSON path such as $.a.b"))?)
            }
            "system" => Self::System(name.to_owned()),
            "errorcode" => Self::ErrorCode,
            "token" => Self::Token(name.to_owned()),
            _ => {
                return Err(format!(
                    "{text}: not a response-phase source (StatusCode, ErrorCode, Header:, BodyJsonField:, System:, Token:)"
                ));
            }
        })
    }
}

/// Compiles `name -> source` parameters.
pub fn compile<'a>(
    parameters: impl IntoIterator<Item = (&'a String, &'a apigw_core::resources::ParameterSource)>,
) -> Result<Vec<(String, Source)>, String> {
    parameters.into_iter().map(|(name, source)| Ok((name.clone(), Source::parse(&source.0)?))).collect()
}

/// Whether a parameter reads the answer's body (which must then be read whole).
pub fn reads_body(parameters: &[(String, Source)]) -> bool {
    parameters.iter().any(|(_, source)| matches!(source, Source::BodyJson(_)))
}

/// What was answered (by the backend, the gateway when the backend call failed, or an
/// authentication service).
pub struct Answered<'a> {
    /// The status.
    pub status: StatusCode,
    /// The gateway's error code when the backend call failed (`B504TO`, ...).
    pub error_code: Option<&'a str>,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body, when a parameter reads it.
    pub body: Option<&'a [u8]>,
}

/// The parameters' values for one answer; names not declared fall back to `system`.
pub struct Values<'s, 'f, 'a> {
    values: Vec<(&'s str, Option<String>)>,
    system: &'f dyn Fn(&str) -> Option<&'a str>,
}

impl Parameters for Values<'_, '_, '_> {
    fn get(&self, name: &str) -> Option<&str> {
        match self.values.iter().find(|(declared, _)| *declared == name) {
            Some((_, value)) => value.as_deref(),
            None => (self.system)(name),
        }
    }
}

/// The values of `parameters` in `answered`.
pub fn values<'s, 'f, 'a>(
    parameters: &'s [(String, Source)],
    answered: &Answered<'_>,
    claims: &serde_json::Map<String, serde_json::Value>,
    system: &'f dyn Fn(&str) -> Option<&'a str>,
) -> Values<'s, 'f, 'a> {
    let json: Option<serde_json::Value> = answered.body.and_then(|body| serde_json::from_slice(body).ok());
    let values = parameters
        .iter()
        .map(|(name, source)| {
            let value = match source {
                Source::StatusCode => Some(answered.status.as_str().to_owned()),
                Source::ErrorCode => answered.error_code.map(str::to_owned),
                Source::Header(header) => {
                    answered.headers.get(header).and_then(|value| value.to_str().ok()).map(str::to_owned)
                }
                Source::BodyJson(steps) => json.as_ref().and_then(|json| field(json, steps)),
                Source::System(name) => system(name).map(str::to_owned),
                Source::Token(claim) => claim_text(claims, claim).map(Cow::into_owned),
            };
            (name.as_str(), value)
        })
        .collect();
    Values { values, system }
}
