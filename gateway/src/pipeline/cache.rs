//! The caching plugin's phases: before the backend, a kept answer for the request's key (this
//! pod's, else with `--redis` any pod's); after it, a `200` answer of known length kept for as
//! long as its headers allow, here and in Redis ([`crate::plugins::caching`]).

use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{Either, Full};

use super::context::RequestContext;
use super::{Exchange, Gateway};
use crate::backend::ClientBody;
use crate::body::read_limited;
use crate::config::api::CompiledApi;
use crate::error::GatewayError;
use crate::plugins::caching::MAX_BODY_BYTES;
use crate::state::response_cache::CachedAnswer;

/// `HIT` when the answer came from the cache, `MISS` when from the backend.
const X_CA_CACHE: HeaderName = HeaderName::from_static("x-ca-cache");

/// A cached Api's request: its key, and whether the cache may answer it (no, when the client
/// skips it: the backend's answer is kept anew).
pub(super) struct CacheLookup {
    key: String,
    read: bool,
}

/// The lookup of a GET request to an Api with the caching plugin.
pub(super) fn cache_lookup(context: &RequestContext<'_>, headers: &HeaderMap) -> Option<CacheLookup> {
    let caching = context.api.caching.as_ref().filter(|_| *context.method == Method::GET)?;
    let app = context.app.map(|app| app.app_id.as_str());
    let key = caching.key(context.path, app, &context.values, headers);
    Some(CacheLookup { key, read: !caching.skipped(headers, app) })
}

impl Gateway {
    /// The kept answer of `lookup`, marked `X-Ca-Cache: HIT` with its `Age`.
    pub(super) async fn cached(&self, lookup: &CacheLookup, exchange: &mut Exchange) -> Option<Response<ClientBody>> {
        let mut answer = lookup.read.then(|| self.cache.get(&lookup.key)).flatten();
        if let (None, true, Some(shared)) = (&answer, lookup.read, &self.shared) {
            // Boxed: the Redis call's state stays out of every request's future.
            let shared_answer = Box::pin(shared.cached_answer(&lookup.key)).await;
            answer = shared_answer.as_deref().and_then(CachedAnswer::decode);
            if let Some(answer) = &answer {
                self.cache.put(lookup.key.clone(), answer.clone());
            }
        }
        let Some(answer) = answer else {
            exchange.cache = "MISS";
            self.metrics.cache_misses.inc();
            return None;
        };
        exchange.cache = "HIT";
        self.metrics.cache_hits.inc();
        let mut response = Response::new(Either::Right(Full::new(answer.body)));
        *response.status_mut() = answer.status;
        let headers = response.headers_mut();
        for (name, value) in answer.headers {
            headers.append(name, value);
        }
        headers.insert(header::AGE, HeaderValue::from(answer.stored.elapsed().as_secs()));
        headers.insert(X_CA_CACHE, HeaderValue::from_static("HIT"));
        Some(response)
    }

    /// Keeps the backend's `response` under `lookup`'s key when it may be kept, and passes it on
    /// marked `X-Ca-Cache: MISS`.
    pub(super) async fn keep(
        &self,
        api: &CompiledApi,
        lookup: CacheLookup,
        mut response: Response<ClientBody>,
    ) -> Result<Response<ClientBody>, GatewayError> {
        response.headers_mut().insert(X_CA_CACHE, HeaderValue::from_static("MISS"));
        let Some(caching) = &api.caching else { return Ok(response) };
        let length = hyper::body::Body::size_hint(response.body()).exact();
        let ttl = caching.ttl(response.headers()).filter(|_| response.status() == StatusCode::OK);
        let (Some(ttl), Some(length)) = (ttl, length.filter(|length| *length <= MAX_BODY_BYTES)) else {
            return Ok(response);
        };
        let (parts, body) = response.into_parts();
        let body = read_limited(body, usize::try_from(length).unwrap_or(usize::MAX))
            .await
            .map_err(|error| GatewayError::BackendConnect(error.to_string()))?;
        let headers = caching.kept_headers(&parts.headers).map(|(name, value)| (name.clone(), value.clone())).collect();
        let now = Instant::now();
        let answer =
            CachedAnswer { status: parts.status, headers, body: body.clone(), stored: now, expires: now + ttl };
        if let Some(shared) = &self.shared {
            shared.keep_answer(&lookup.key, answer.encode(), ttl);
        }
        self.cache.put(lookup.key, answer);
        Ok(Response::from_parts(parts, Either::Right(Full::new(body))))
    }
}
