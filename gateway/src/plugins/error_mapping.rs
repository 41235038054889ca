//! The error-mapping plugin: once the backend has answered (or failed: timeout, refused
//! connection, no ready endpoint), its status, gateway error code, headers and JSON body fields
//! are the parameters of `errorCondition`; when it holds, the error code picks a mapping (else
//! the default) that sets the status and `X-Ca-Error-Message`.

use apigw_core::condition::{Condition, Parameters};
use apigw_core::config::ErrorMappingConfig;
use http::{HeaderMap, HeaderName, StatusCode};

use std::borrow::Cow;

use crate::plugins::parameters::{Step, claim_text, field, interpolate, json_path};

/// Where a response-phase parameter comes from.
#[derive(Debug)]
enum Source {
    StatusCode,
    /// The gateway's `X-Ca-Error-Code` when the backend call failed (`B504TO`, ...).
    ErrorCode,
    Header(HeaderName),
    /// A field of the JSON body: `$.a.b[0].c`.
    BodyJson(Vec<Step>),
    System(String),
    /// A claim of the verified JWT (null without jwtAuth).
    Token(String),
}

/// What the backend (or the gateway, when the backend call failed) answered.
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

/// A mapping's answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    message: Option<String>,
}

/// An error-mapping plugin, compiled.
#[derive(Debug)]
pub struct CompiledErrorMapping {
    parameters: Vec<(String, Source)>,
    condition: Condition,
    error_code: Option<String>,
    mappings: Vec<(String, Answer)>,
    default: Option<Answer>,
}

fn parse_source(text: &str) -> Result<Source, String> {
    let (location, name) = text.split_once(':').unwrap_or((text, ""));
    Ok(match location.to_ascii_lowercase().as_str() {
        "statuscode" => Source::StatusCode,
        "header" => Source::Header(HeaderName::try_from(name).map_err(|e| format!("{text}: {e}"))?),
        "bodyjson" | "bodyjsonfield" => {
            Source::BodyJson(json_path(name).ok_or_else(|| format!("{text}: expected a JSON path such as $.a.b"))?)
        }
        "system" => Source::System(name.to_owned()),
        "errorcode" => Source::ErrorCode,
        "token" => Source::Token(name.to_owned()),
        _ => {
            return Err(format!(
                "{text}: not a response-phase source (StatusCode, ErrorCode, Header:, BodyJsonField:, System:, Token:)"
            ));
        }
    })
}

fn answer(status: u16, message: &Option<String>) -> Result<Answer, String> {
    Ok(Answer { status: StatusCode::from_u16(status).map_err(|e| e.to_string())?, message: message.clone() })
}

/// The values of one response.
struct Values<'s, 'f, 'a> {
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

impl CompiledErrorMapping {
    /// Compiles a config.
    pub fn compile(config: &ErrorMappingConfig) -> Result<Self, String> {
        let spec = &config.mapping;
        let parameters = spec
            .parameters
            .iter()
            .map(|(name, source)| Ok((name.clone(), parse_source(&source.0)?)))
            .collect::<Result<_, String>>()?;
        let mappings = spec
            .mappings
            .iter()
            .map(|mapping| Ok((mapping.code.clone(), answer(mapping.status_code, &mapping.error_message)?)))
            .collect::<Result<_, String>>()?;
        let default = spec
            .default_mapping
            .as_ref()
            .map(|default| answer(default.status_code, &default.error_message))
            .transpose()?;
        let condition = Condition::parse(&spec.error_condition).map_err(|e| format!("errorCondition: {e}"))?;
        Ok(Self { parameters, condition, error_code: spec.error_code.clone(), mappings, default })
    }

    /// Whether a parameter reads a JWT claim (which must then be kept for the response).
    pub fn reads_token(&self) -> bool {
        self.parameters.iter().any(|(_, source)| matches!(source, Source::Token(_)))
    }

    /// Whether a parameter reads the response body (which must then be read whole).
    pub fn reads_body(&self) -> bool {
        self.parameters.iter().any(|(_, source)| matches!(source, Source::BodyJson(_)))
    }

    /// The status and `X-Ca-Error-Message` that replace the backend's, when its answer is an error.
    /// `error_code` is the gateway's code when the backend call itself failed; `claims` are the
    /// verified JWT's.
    pub fn map<'a>(
        &self,
        answered: Answered<'_>,
        claims: &serde_json::Map<String, serde_json::Value>,
        system: &dyn Fn(&str) -> Option<&'a str>,
    ) -> Option<(StatusCode, String)> {
        let Answered { status, error_code, headers, body } = answered;
        let json: Option<serde_json::Value> = body.and_then(|body| serde_json::from_slice(body).ok());
        let values = self
            .parameters
            .iter()
            .map(|(name, source)| {
                let value = match source {
                    Source::StatusCode => Some(status.as_str().to_owned()),
                    Source::ErrorCode => error_code.map(str::to_owned),
                    Source::Header(header) => {
                        headers.get(header).and_then(|value| value.to_str().ok()).map(str::to_owned)
                    }
                    Source::BodyJson(steps) => json.as_ref().and_then(|json| field(json, steps)),
                    Source::System(name) => system(name).map(str::to_owned),
                    Source::Token(claim) => claim_text(claims, claim).map(Cow::into_owned),
                };
                (name.as_str(), value)
            })
            .collect();
        let values = Values { values, system };
        if !self.condition.evaluate(&values) {
            return None;
        }
        let code = self.error_code.as_deref().and_then(|name| values.get(name));
        let answer =
            code.and_then(|code| self.mappings.iter().find(|(known, _)| known == code).map(|(_, answer)| answer));
        let answer = answer.or(self.default.as_ref())?;
        Some((answer.status, interpolate(answer.message.as_deref().unwrap_or_default(), &values)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(mapping: serde_json::Value) -> CompiledErrorMapping {
        let config = serde_json::json!({"plugin": "test", "mapping": mapping});
        CompiledErrorMapping::compile(&serde_json::from_value(config).expect("a config")).expect("it compiles")
    }

    fn map(mapping: &CompiledErrorMapping, status: u16, error_code: Option<&str>, body: &str) -> Option<(u16, String)> {
        let headers = HeaderMap::new();
        let answered = Answered {
            status: StatusCode::from_u16(status).unwrap(),
            error_code,
            headers: &headers,
            body: Some(body.as_bytes()),
        };
        let no_system = |_: &str| None;
        mapping.map(answered, &serde_json::Map::new(), &no_system).map(|(status, message)| (status.as_u16(), message))
    }

    #[test]
    fn an_error_answer_is_mapped_by_its_code_or_the_default() {
        let mapping = compile(serde_json::json!({
            "parameters": {"status": "StatusCode", "code": "BodyJsonField:$.error.code"},
            "errorCondition": "$status >= 400", "errorCode": "code",
            "mappings": [{"code": "NO_USER", "statusCode": 404, "errorMessage": "no such user (${code})"}],
            "defaultMapping": {"statusCode": 502, "errorMessage": "backend failed with ${status}"}
        }));
        assert!(mapping.reads_body() && !mapping.reads_token());
        assert_eq!(map(&mapping, 200, None, "{}"), None, "not an error");
        assert_eq!(
            map(&mapping, 500, None, r#"{"error": {"code": "NO_USER"}}"#),
            Some((404, "no such user (NO_USER)".into()))
        );
        assert_eq!(map(&mapping, 500, None, "not json"), Some((502, "backend failed with 500".into())));
    }

    #[test]
    fn a_failed_backend_call_is_mapped_by_the_gateway_code() {
        let mapping = compile(serde_json::json!({
            "parameters": {"code": "ErrorCode"}, "errorCondition": "$code = 'B504TO'",
            "defaultMapping": {"statusCode": 503, "errorMessage": "try again"}
        }));
        assert_eq!(map(&mapping, 504, Some("B504TO"), ""), Some((503, "try again".into())));
        assert_eq!(map(&mapping, 502, Some("B502CF"), ""), None);
    }
}
