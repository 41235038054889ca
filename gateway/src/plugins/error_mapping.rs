//! The error-mapping plugin: once the backend has answered (or failed: timeout, refused
//! connection, no ready endpoint), its status, gateway error code, headers and JSON body fields
//! are the parameters of `errorCondition`; when it holds, the error code picks a mapping (else
//! the default) that sets the status and `X-Ca-Error-Message`.

use apigw_core::condition::{Condition, Parameters};
use apigw_core::config::ErrorMappingConfig;
use http::StatusCode;

use crate::plugins::answer::{self, Answered, Source};
use crate::plugins::parameters::interpolate;

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

fn answer(status: u16, message: &Option<String>) -> Result<Answer, String> {
    Ok(Answer { status: StatusCode::from_u16(status).map_err(|e| e.to_string())?, message: message.clone() })
}

impl CompiledErrorMapping {
    /// Compiles a config.
    pub fn compile(config: &ErrorMappingConfig) -> Result<Self, String> {
        let spec = &config.mapping;
        let parameters = answer::compile(&spec.parameters)?;
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
        answer::reads_body(&self.parameters)
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
        let values = answer::values(&self.parameters, &answered, claims, system);
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

    use http::HeaderMap;

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
