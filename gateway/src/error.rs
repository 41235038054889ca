//! Errors the gateway answers itself, with Alibaba-style `X-Ca-Error-Code`s.
//!
//! A code is six characters: a category letter (`I` invocation, `A` authentication, `B` backend),
//! the HTTP status, and two letters for the cause. docs/errors.md lists them all.

use http::{HeaderName, HeaderValue, StatusCode};

/// A request the gateway answers with an error instead of a backend response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No config is loaded yet.
    #[error("Gateway Not Ready: no config loaded")]
    NotReady,
    /// An AppCode names no App.
    #[error("Invalid AppCode")]
    InvalidAppCode,
    /// `X-Ca-Key` is missing or names no App.
    #[error("Invalid AppKey")]
    InvalidAppKey,
    /// The jwtAuth plugin found no token.
    #[error("Missing Token")]
    MissingToken,
    /// A basicAuth plugin found no valid `Authorization: Basic` credentials; the value is the
    /// `WWW-Authenticate` challenge answered.
    #[error("Basic Authentication Required")]
    BasicAuthRequired(http::HeaderValue),
    /// The remoteAuth plugin's authentication service did not authenticate the request.
    #[error("{}", .0.message)]
    RemoteAuthRefused(Box<Denial>),
    /// The remoteAuth plugin's authentication service could not be reached or answered what
    /// cannot be read.
    #[error("Authentication Service Unavailable: {0}")]
    AuthServiceUnavailable(String),
    /// The remoteAuth plugin's authentication service did not answer in time.
    #[error("Authentication Service Timeout")]
    AuthServiceTimeout,
    /// The token is malformed, expired, or signed by no configured key.
    #[error("Invalid Token: {0}")]
    InvalidToken(String),
    /// The token's `jti` was used before (preventJtiReplay).
    #[error("Token Replayed")]
    TokenReplayed,
    /// `X-Ca-Signature` is missing.
    #[error("Empty Signature")]
    EmptySignature,
    /// The signature does not match the one the gateway computes over this StringToSign.
    #[error("Invalid Signature, Server StringToSign:{0}")]
    InvalidSignature(String),
    /// `X-Ca-Signature-Method` is not one the Api accepts.
    #[error("Invalid Signature Method")]
    InvalidSignatureMethod,
    /// `X-Ca-Timestamp` is more than 15 minutes away.
    #[error("Timestamp Expired")]
    TimestampExpired,
    /// `X-Ca-Timestamp` is not a number of milliseconds.
    #[error("Invalid Timestamp")]
    InvalidTimestamp,
    /// `X-Ca-Nonce` was already used within 15 minutes.
    #[error("Nonce Used")]
    NonceUsed,
    /// `X-Ca-Nonce` is missing where the Api forces it.
    #[error("Invalid Nonce")]
    InvalidNonce,
    /// `Content-MD5` does not match the body.
    #[error("Invalid Content-MD5")]
    InvalidContentMd5,
    /// The App is not authorized for this Api and stage.
    #[error("Unauthorized")]
    Unauthorized,
    /// No group serves the request's host.
    #[error("Invalid Domain")]
    UnknownHost,
    /// The host is known but no API matches the method and path.
    #[error("API not found")]
    ApiNotFound,
    /// The API is not published to the requested stage.
    #[error("Invalid Stage")]
    InvalidStage,
    /// The API is not served on this protocol (HTTP, HTTPS, WS).
    #[error("Unsupported Protocol: {0}")]
    UnsupportedProtocol(&'static str),
    /// A parameter is missing or invalid; the message names it.
    #[error("{0}")]
    InvalidParameter(String),
    /// The request body is larger than allowed.
    #[error("Request Body Too Large")]
    BodyTooLarge,
    /// The request body could not be read.
    #[error("Invalid Request Body: {0}")]
    BadBody(String),
    /// The routing plugin chose a route whose backend is incomplete once laid over the Api's.
    #[error("Backend Incomplete: route {0}")]
    IncompleteRouteBackend(String),
    /// An access-control rule denied the request.
    #[error("{}", .0.message)]
    AccessDenied(Box<Denial>),
    /// A traffic-control limit is reached; `by` is API, APP or USER.
    #[error("Throttled by {by} Flow Control")]
    Throttled {
        /// Which limit.
        by: &'static str,
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The IP-control plugin refused the caller's address.
    #[error("Access Denied by IP Control")]
    IpDenied,
    /// An HTTP-VPC backend has no ready endpoint.
    #[error("Backend Service Unavailable: no ready endpoint")]
    NoReadyEndpoint,
    /// The backend could not be connected to or broke the connection.
    #[error("Backend Service Connect Failed: {0}")]
    BackendConnect(String),
    /// The backend did not answer within the API's timeout.
    #[error("Backend Service Timeout")]
    BackendTimeout,
    /// The Api's circuit breaker is open and it has no downgrade backend.
    #[error("Backend Circuit Breaker Open")]
    CircuitOpen,
    /// An FC backend answered something that is not the function answer JSON.
    #[error("Invalid Function Response: {0}")]
    BadFunctionResponse(String),
    /// The backend address is not a valid URL once stage variables are replaced.
    #[error("Invalid Backend Address: {0}")]
    BadBackendAddress(String),
    /// `--redis-failure closed` and Redis did not answer.
    #[error("Shared State Unavailable")]
    SharedStateUnavailable,
    /// The HTTP/1 codec refused the request head: malformed (400), too slow (408), too large
    /// (431) or of another HTTP version (505).
    #[error("Invalid Request: {reason}")]
    RefusedHead {
        /// The status answered.
        status: StatusCode,
        /// Why.
        reason: &'static str,
    },
    /// Self-invocation went through more internal domains than allowed: a loop.
    #[error("Self-invocation Loop: more than {0} hops through internal domains")]
    SelfInvocationLoop(u8),
    /// The request path cannot be normalised (a bad escape, an encoded slash under the reject
    /// policy, a control character, `..` above the root).
    #[error("Invalid Path: {0}")]
    InvalidPath(String),
    /// The client sent no byte of its body for the body read timeout.
    #[error("Request Body Timeout: no byte for {0} s")]
    BodyTimeout(u64),
    /// The request names its host more than once, or in two places that disagree.
    #[error("Invalid Host: {0}")]
    AmbiguousHost(&'static str),
    /// An authentication header (`X-Ca-Key`, `X-Ca-Signature`, ...) is sent more than once.
    #[error("Duplicate Header: {0}")]
    DuplicateAuthHeader(&'static str),
    /// Replay protection is forced and `X-Ca-Nonce` or `X-Ca-Timestamp` is missing or unsigned.
    #[error(
        "Replay Headers Not Signed: X-Ca-Nonce and X-Ca-Timestamp must be sent and listed in X-Ca-Signature-Headers"
    )]
    UnsignedReplayHeaders,
    /// The listener holds as many connections as it may.
    #[error("Too Many Connections")]
    TooManyConnections,
}

impl GatewayError {
    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::RefusedHead { status, .. } => *status,
            Self::UnknownHost | Self::ApiNotFound => StatusCode::NOT_FOUND,
            Self::InvalidAppKey
            | Self::InvalidAppCode
            | Self::InvalidSignatureMethod
            | Self::TimestampExpired
            | Self::InvalidTimestamp
            | Self::NonceUsed
            | Self::InvalidNonce
            | Self::InvalidContentMd5
            | Self::DuplicateAuthHeader(_)
            | Self::UnsignedReplayHeaders => StatusCode::BAD_REQUEST,
            Self::EmptySignature
            | Self::MissingToken
            | Self::InvalidToken(_)
            | Self::TokenReplayed
            | Self::BasicAuthRequired(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidSignature(_) | Self::Unauthorized | Self::IpDenied => StatusCode::FORBIDDEN,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidStage
            | Self::InvalidParameter(_)
            | Self::BadBody(_)
            | Self::InvalidPath(_)
            | Self::AmbiguousHost(_) => StatusCode::BAD_REQUEST,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedProtocol(_) => StatusCode::FORBIDDEN,
            Self::AccessDenied(denial) | Self::RemoteAuthRefused(denial) => denial.status,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoReadyEndpoint
            | Self::NotReady
            | Self::SharedStateUnavailable
            | Self::TooManyConnections
            | Self::CircuitOpen => StatusCode::SERVICE_UNAVAILABLE,
            Self::BackendConnect(_)
            | Self::BadFunctionResponse(_)
            | Self::BadBackendAddress(_)
            | Self::AuthServiceUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::BackendTimeout | Self::IncompleteRouteBackend(_) | Self::AuthServiceTimeout => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Self::SelfInvocationLoop(_) => StatusCode::LOOP_DETECTED,
        }
    }

    /// Whether the backend call failed (the errors the error-mapping plugin sees as `ErrorCode`).
    pub fn is_backend_failure(&self) -> bool {
        matches!(
            self,
            Self::BackendConnect(_) | Self::BackendTimeout | Self::BadFunctionResponse(_) | Self::NoReadyEndpoint
        )
    }

    /// The `X-Ca-Error-Code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotReady => "I503NR",
            Self::InvalidAppKey => "A400IK",
            Self::InvalidAppCode => "A400AC",
            Self::EmptySignature => "A401ES",
            Self::MissingToken => "A401MT",
            Self::BasicAuthRequired(_) => "A401BA",
            Self::InvalidToken(_) => "A401IT",
            Self::TokenReplayed => "A401TR",
            Self::InvalidSignature(_) => "A403IS",
            Self::InvalidSignatureMethod => "A400SM",
            Self::TimestampExpired => "A400TE",
            Self::InvalidTimestamp => "A400IT",
            Self::NonceUsed => "A400NU",
            Self::InvalidNonce => "A400IN",
            Self::InvalidContentMd5 => "A400CM",
            Self::Unauthorized => "A403UA",
            Self::IpDenied => "A403IP",
            Self::Throttled { .. } => "T429TC",
            Self::UnknownHost => "I404DO",
            Self::ApiNotFound => "I404NF",
            Self::InvalidStage => "I400SG",
            Self::UnsupportedProtocol(_) => "I403PT",
            // A400AC is Alibaba's Invalid AppCode: a rule's 400 gets a code of its own.
            Self::AccessDenied(denial) => match denial.status.as_u16() {
                400 => "A400AD",
                401 => "A401AC",
                404 => "A404AC",
                429 => "A429AC",
                _ => "A403AC",
            },
            Self::RemoteAuthRefused(denial) => match denial.status.as_u16() {
                400 => "A400RA",
                403 => "A403RA",
                404 => "A404RA",
                429 => "A429RA",
                _ => "A401RA",
            },
            Self::AuthServiceUnavailable(_) => "A502RA",
            Self::AuthServiceTimeout => "A504RA",
            Self::InvalidParameter(_) => "I400PA",
            Self::BodyTooLarge => "I413RL",
            Self::BadBody(_) => "I400BD",
            Self::NoReadyEndpoint => "B503NE",
            Self::BackendConnect(_) => "B502CF",
            Self::BackendTimeout => "B504TO",
            Self::CircuitOpen => "D503CB",
            Self::IncompleteRouteBackend(_) => "I504RB",
            Self::BadFunctionResponse(_) => "B502FR",
            Self::BadBackendAddress(_) => "B502BA",
            Self::SelfInvocationLoop(_) => "I508LD",
            Self::SharedStateUnavailable => "I503SS",
            Self::InvalidPath(_) => "I400PT",
            Self::BodyTimeout(_) => "I408BT",
            Self::AmbiguousHost(_) => "I400HO",
            Self::DuplicateAuthHeader(_) => "A400DH",
            Self::UnsignedReplayHeaders => "A400NS",
            Self::TooManyConnections => "I503CL",
            Self::RefusedHead { status, .. } => match status.as_u16() {
                408 => "I408HT",
                431 => "I431HL",
                505 => "I505HV",
                _ => "I400HD",
            },
        }
    }
}

/// A refusal, as the rule describes it (`${name}` already replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The status (default 403).
    pub status: StatusCode,
    /// `X-Ca-Error-Message`.
    pub message: String,
    /// Extra response headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body; `None` gives the gateway's JSON error body.
    pub body: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_carries_its_status() {
        let errors = [
            GatewayError::InvalidAppKey,
            GatewayError::InvalidAppCode,
            GatewayError::EmptySignature,
            GatewayError::MissingToken,
            GatewayError::InvalidToken(String::new()),
            GatewayError::TokenReplayed,
            GatewayError::InvalidSignature(String::new()),
            GatewayError::InvalidSignatureMethod,
            GatewayError::TimestampExpired,
            GatewayError::InvalidTimestamp,
            GatewayError::NonceUsed,
            GatewayError::InvalidNonce,
            GatewayError::InvalidContentMd5,
            GatewayError::Unauthorized,
            GatewayError::IpDenied,
            GatewayError::Throttled { by: "API", retry_after: 1 },
            GatewayError::NotReady,
            GatewayError::UnknownHost,
            GatewayError::ApiNotFound,
            GatewayError::InvalidStage,
            GatewayError::UnsupportedProtocol("HTTP"),
            GatewayError::InvalidParameter(String::new()),
            GatewayError::BodyTooLarge,
            GatewayError::BadBody(String::new()),
            GatewayError::NoReadyEndpoint,
            GatewayError::BackendConnect(String::new()),
            GatewayError::BackendTimeout,
            GatewayError::CircuitOpen,
            GatewayError::BasicAuthRequired(http::HeaderValue::from_static("Basic")),
            GatewayError::IncompleteRouteBackend(String::new()),
            GatewayError::BadFunctionResponse(String::new()),
            GatewayError::BadBackendAddress(String::new()),
            GatewayError::AuthServiceUnavailable(String::new()),
            GatewayError::AuthServiceTimeout,
            GatewayError::SelfInvocationLoop(5),
            GatewayError::SharedStateUnavailable,
            GatewayError::InvalidPath(String::new()),
            GatewayError::BodyTimeout(1),
            GatewayError::AmbiguousHost(""),
            GatewayError::DuplicateAuthHeader(""),
            GatewayError::UnsignedReplayHeaders,
            GatewayError::TooManyConnections,
        ];
        let refused = [400, 408, 431, 505]
            .map(|status| GatewayError::RefusedHead { status: StatusCode::from_u16(status).unwrap(), reason: "" });
        let denials = [400, 401, 403, 404, 429].map(|status| {
            let status = StatusCode::from_u16(status).unwrap();
            Box::new(Denial { status, message: String::new(), headers: vec![], body: None })
        });
        let denied = denials.iter().flat_map(|denial| {
            [GatewayError::AccessDenied(denial.clone()), GatewayError::RemoteAuthRefused(denial.clone())]
        });
        let errors: Vec<GatewayError> = errors.into_iter().chain(denied).collect();
        for error in errors.iter().chain(&refused) {
            assert_eq!(error.code().len(), 6);
            assert_eq!(&error.code()[1..4], error.status().as_str(), "{error:?}");
        }
        // One code, one meaning.
        let mut codes: Vec<&str> = errors.iter().map(GatewayError::code).collect();
        codes.sort_unstable();
        let before = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), before, "an error code names two errors");
    }
}
