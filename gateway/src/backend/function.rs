//! Function (FC) backends: the request as the function event JSON of the reference document,
//! and the function's `{isBase64Encoded, statusCode, headers, body}` answer as the response.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::GatewayError;

/// The event a function receives.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionEvent<'a> {
    /// The request path.
    pub path: &'a str,
    /// The request method.
    pub http_method: &'a str,
    /// Request headers (first value of each), system headers included.
    pub headers: BTreeMap<&'a str, &'a str>,
    /// Query parameters (first value of each), decoded.
    pub query_parameters: BTreeMap<String, String>,
    /// Path parameters, decoded.
    pub path_parameters: BTreeMap<String, String>,
    /// The body: text as is, anything else base64-encoded.
    pub body: String,
    /// Whether `body` is base64-encoded.
    pub is_base64_encoded: bool,
}

impl<'a> FunctionEvent<'a> {
    /// The event of a request.
    pub fn new(
        method: &'a str,
        path: &'a str,
        headers: &'a HeaderMap,
        query: Option<&str>,
        path_parameters: BTreeMap<String, String>,
        body: &[u8],
    ) -> Self {
        let mut query_parameters = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            query_parameters.entry(key.into_owned()).or_insert_with(|| value.into_owned());
        }
        let mut header_map = BTreeMap::new();
        for (name, value) in headers {
            if let Ok(value) = value.to_str() {
                header_map.entry(name.as_str()).or_insert(value);
            }
        }
        let (body, is_base64_encoded) = match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (BASE64.encode(body), true),
        };
        Self {
            path,
            http_method: method,
            headers: header_map,
            query_parameters,
            path_parameters,
            body,
            is_base64_encoded,
        }
    }
}

/// What a function answers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FunctionAnswer {
    #[serde(default, deserialize_with = "flexible_bool")]
    is_base64_encoded: bool,
    #[serde(deserialize_with = "flexible_status")]
    status_code: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
}

/// The HTTP response of a function's answer.
pub fn response(answer: &[u8]) -> Result<Response<Bytes>, GatewayError> {
    let answer: FunctionAnswer =
        serde_json::from_slice(answer).map_err(|error| GatewayError::BadFunctionResponse(error.to_string()))?;
    let body = if answer.is_base64_encoded {
        BASE64
            .decode(answer.body.as_bytes())
            .map_err(|error| GatewayError::BadFunctionResponse(format!("body: {error}")))?
    } else {
        answer.body.into_bytes()
    };
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = StatusCode::from_u16(answer.status_code)
        .map_err(|_| GatewayError::BadFunctionResponse(format!("statusCode {}", answer.status_code)))?;
    for (name, value) in &answer.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|e| GatewayError::BadFunctionResponse(format!("header {name:?}: {e}")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|e| GatewayError::BadFunctionResponse(format!("header {name}: {e}")))?;
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// Accepts `true`, `"true"`, `false`, `"false"` (the reference document's example sends strings).
fn flexible_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(value) => Ok(value),
        serde_json::Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        serde_json::Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(serde::de::Error::custom(format!("isBase64Encoded {other} is not a boolean"))),
    }
}

/// Accepts `200` or `"200"`.
fn flexible_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(number) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
        serde_json::Value::String(text) => text.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| serde::de::Error::custom("statusCode must be a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_text_as_is_and_binary_as_base64() {
        let headers = HeaderMap::new();
        let text =
            FunctionEvent::new("GET", "/getinfo", &headers, Some("mob=136&mob=2&x=a%20b"), BTreeMap::new(), b"{}");
        let json = serde_json::to_value(&text).expect("serializes");
        assert_eq!(json["queryParameters"], serde_json::json!({"mob": "136", "x": "a b"}));
        assert_eq!(json["isBase64Encoded"], false);
        assert_eq!(json["body"], "{}");
        assert_eq!(json["httpMethod"], "GET");
        let binary = FunctionEvent::new("POST", "/", &headers, None, BTreeMap::new(), &[0xff, 0x00]);
        assert_eq!((binary.body.as_str(), binary.is_base64_encoded), ("/wA=", true));
    }

    #[test]
    fn answers_become_responses_with_base64_decoded() {
        let answer = br#"{"isBase64Encoded": "false", "statusCode": "201", "headers": {"x-custom-header": "no"}, "body": "made"}"#;
        let answered = response(answer).expect("valid answer");
        assert_eq!(answered.status(), StatusCode::CREATED);
        assert_eq!(answered.headers()["x-custom-header"], "no");
        assert_eq!(answered.body().as_ref(), b"made");
        let encoded =
            response(br#"{"isBase64Encoded": true, "statusCode": 200, "body": "/wA="}"#).expect("valid answer");
        assert_eq!(encoded.body().as_ref(), &[0xff, 0x00]);
        assert!(matches!(response(b"not json"), Err(GatewayError::BadFunctionResponse(_))));
        assert!(matches!(response(br#"{"statusCode": 99}"#), Err(GatewayError::BadFunctionResponse(_))));
    }
}
