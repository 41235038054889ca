//! Responses the gateway makes itself: MOCK answers and gateway errors.

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::{Either, Full};

use super::{X_CA_ERROR_CODE, X_CA_ERROR_MESSAGE};
use crate::backend::ClientBody;
use crate::backend::target::MockAnswer;
use crate::error::GatewayError;

pub(super) fn mock_response(answer: &MockAnswer) -> Response<ClientBody> {
    let mut response = Response::new(Either::Right(Full::new(answer.body.clone())));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers.clone();
    response
}

/// The response of a gateway error: status, `X-Ca-Error-Code`, `X-Ca-Error-Message`, and a
/// small JSON body saying the same.
pub fn error_response(error: &GatewayError, request_id: &str) -> Response<ClientBody> {
    let message = header_safe(&error.to_string());
    let body = match error {
        GatewayError::AccessDenied(denial) if denial.body.is_some() => denial.body.clone().unwrap_or_default(),
        _ => {
            serde_json::json!({"errorCode": error.code(), "errorMessage": message, "requestId": request_id}).to_string()
        }
    };
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    headers.insert(X_CA_ERROR_CODE, HeaderValue::from_static(error.code()));
    if let Ok(value) = HeaderValue::try_from(message.as_str()) {
        headers.insert(X_CA_ERROR_MESSAGE, value);
    }
    if let GatewayError::Throttled { retry_after, .. } = error {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    if let GatewayError::BasicAuthRequired(challenge) = error {
        headers.insert(header::WWW_AUTHENTICATE, challenge.clone());
    }
    if let GatewayError::AccessDenied(denial) = error {
        for (name, value) in &denial.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
    response
}

/// A message fit for a header value: newlines become `#` (as Alibaba shows a StringToSign), other
/// control and non-ASCII characters `?`.
pub(super) fn header_safe(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            '\n' => '#',
            ' '..='~' | '\t' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    #[test]
    fn error_messages_are_header_safe() {
        assert_eq!(header_safe("a\nb\u{7f}é"), "a#b??");
        let response =
            error_response(&GatewayError::InvalidParameter("Invalid parameter x: \"\u{1}\"".to_owned()), "id");
        assert_eq!(response.headers()["x-ca-error-code"], "I400PA");
        assert_eq!(response.headers()["x-ca-error-message"], "Invalid parameter x: \"?\"");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
