//! What a backend is once compiled: an HTTP target (a fixed URL, a VpcAccess's endpoints or a
//! group's self-invocation domain), a function endpoint, or a MOCK answer.

use std::{sync::Arc, time::Duration};

use apigw_core::config::BackendConfig;
use apigw_core::path_template::PathTemplate;
use apigw_core::resources::{BackendProtocol, BackendType, HttpMethod};
use apigw_core::translate::{INTERNAL_DOMAIN_SUFFIX, substitute_variables};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, uri::Authority, uri::Scheme};

use super::retry::RetryPolicy;
use super::upstream::Upstream;

/// A backend, compiled.
#[derive(Debug)]
pub enum CompiledBackend {
    /// An HTTP backend (HTTP or HTTP-VPC).
    Http(HttpTarget),
    /// A function endpoint taking the event JSON.
    Function(HttpTarget),
    /// An answer made by the gateway.
    Mock(MockAnswer),
}

/// Where and how an HTTP request is sent.
#[derive(Debug)]
pub struct HttpTarget {
    /// A fixed URL's scheme and authority, or the endpoints of a VpcAccess.
    pub destination: Destination,
    /// A path prefix from the address URL (`http://host/base`), without trailing `/`.
    pub base_path: String,
    /// The backend path template; absent keeps the request path.
    pub path: Option<PathTemplate>,
    /// The backend method; absent keeps the request method.
    pub method: Option<Method>,
    /// How long the backend may take.
    pub timeout: Duration,
    /// Whether to speak HTTP/2 only.
    pub http2: bool,
    /// When a failed request is tried again.
    pub retries: RetryPolicy,
}

/// The host a backend request goes to.
#[derive(Debug)]
pub enum Destination {
    /// A fixed scheme and authority.
    Fixed {
        /// http or https.
        scheme: Scheme,
        /// host:port.
        authority: Authority,
        /// The authority as the `Host` header, made once.
        host: HeaderValue,
    },
    /// The ready endpoints of a VpcAccess.
    Upstream(Arc<Upstream>),
    /// A group's self-invocation domain (`<group>.<namespace>.apigw.internal`), served by this
    /// same gateway: dispatched inside the process.
    SelfInvocation {
        /// The internal domain, as the Host of the nested request.
        host: http::HeaderValue,
    },
}

/// A MOCK answer.
#[derive(Debug)]
pub struct MockAnswer {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// Compiles a backend of an Api (or of a route) with the stage's `variables` and the
/// VpcAccess `upstreams`.
pub fn compile_backend(
    backend: &BackendConfig,
    variables: &std::collections::BTreeMap<String, String>,
    upstreams: &std::collections::HashMap<String, Arc<Upstream>>,
) -> Result<CompiledBackend, String> {
    let timeout = Duration::from_millis(u64::from(backend.timeout_ms));
    let http2 = backend.protocol == BackendProtocol::Http2;
    let path = backend.path.as_deref().map(PathTemplate::parse).transpose().map_err(|e| e.to_string())?;
    let method = backend.method.map(method_of).transpose()?;
    let fixed = |address: &str| -> Result<(Destination, String), String> {
        let url = substitute_variables(address, variables)
            .map_err(|name| format!("stage variable #{name}# is not defined"))?;
        let uri: http::Uri = url.parse().map_err(|e| format!("backend address {url:?}: {e}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
            return Err(format!("backend address {url:?} must be an absolute http(s) URL"));
        };
        let path = uri.path().trim_end_matches('/').to_owned();
        if authority.host().ends_with(&format!(".{INTERNAL_DOMAIN_SUFFIX}")) {
            let host = http::HeaderValue::from_str(authority.host()).map_err(|e| e.to_string())?;
            return Ok((Destination::SelfInvocation { host }, path));
        }
        let host = HeaderValue::try_from(authority.as_str()).map_err(|e| e.to_string())?;
        Ok((Destination::Fixed { scheme, authority, host }, path))
    };
    Ok(match backend.kind {
        BackendType::Mock => {
            let mock = backend.mock.as_ref().ok_or("a MOCK backend needs statusCode")?;
            let mut headers = HeaderMap::new();
            for (name, value) in &mock.headers {
                headers.insert(
                    HeaderName::try_from(name.as_str()).map_err(|e| format!("mock header {name:?}: {e}"))?,
                    HeaderValue::try_from(value.as_str()).map_err(|e| format!("mock header {name:?}: {e}"))?,
                );
            }
            CompiledBackend::Mock(MockAnswer {
                status: StatusCode::from_u16(mock.status_code).map_err(|e| e.to_string())?,
                headers,
                body: Bytes::from(mock.body.clone()),
            })
        }
        BackendType::Http | BackendType::Fc => {
            let (destination, base_path) = fixed(backend.address.as_deref().ok_or("the backend needs address")?)?;
            let retries = RetryPolicy::compile(&backend.retries)?;
            let target = HttpTarget { destination, base_path, path, method, timeout, http2, retries };
            if backend.kind == BackendType::Fc {
                CompiledBackend::Function(target)
            } else {
                CompiledBackend::Http(target)
            }
        }
        BackendType::HttpVpc => {
            let key = backend.upstream.as_deref().ok_or("an HTTP-VPC backend needs a VpcAccess")?;
            let upstream = upstreams.get(key).ok_or_else(|| format!("VpcAccess {key} is not in the config"))?;
            CompiledBackend::Http(HttpTarget {
                destination: Destination::Upstream(upstream.clone()),
                base_path: String::new(),
                path,
                method,
                timeout,
                http2,
                retries: RetryPolicy::compile(&backend.retries)?,
            })
        }
    })
}

/// The HTTP method of a config method (ANY has none).
pub fn method_of(method: HttpMethod) -> Result<Method, String> {
    Ok(match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Any => return Err("ANY is not a backend method".to_owned()),
    })
}
