//! Cluster-wide state in Redis (`--redis URL`): traffic-control windows, APP signature nonces and
//! JWT ids, shared by every gateway pod so that limits and replay checks are exact across
//! replicas, and the caching plugin's answers, so that one pod's backend answer serves them all.
//! Without `--redis` each pod keeps its own (docs/traffic-control.md, docs/caching.md).
//!
//! When Redis cannot answer within [`RESPONSE_TIMEOUT`], `--redis-failure open` (the default)
//! falls back to the pod's own counters and caches — limits per pod rather than none — and
//! `--redis-failure closed` refuses the request with `503 I503SS`.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::GatewayError;

/// How long a Redis answer may take before the failure mode applies.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(200);

/// What a request meets when Redis does not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnFailure {
    /// Fall back to this pod's own state.
    Open,
    /// Refuse with 503.
    Closed,
}

/// Counts one request under each key (`KEYS[i]`, limit `ARGV[i + 1]`) in windows of `ARGV[1]`
/// seconds; returns the 1-based index of the first key over its limit, or 0.
const COUNT_SCRIPT: &str = r"
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  if count > tonumber(ARGV[i + 1]) then return i end
end
return 0
";

/// A connection to the shared Redis, re-established by itself after failures.
pub struct SharedState {
    connection: ConnectionManager,
    count: redis::Script,
    on_failure: OnFailure,
}

impl SharedState {
    /// A state store on `url`; connects on first use (the gateway starts while Redis is away).
    pub fn new(url: &str, on_failure: OnFailure) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { connection, count: redis::Script::new(COUNT_SCRIPT), on_failure })
    }

    /// Whether `key` is used for the first time in `keep_for`. `Ok(None)`: Redis failed and the
    /// caller decides locally (fail-open).
    pub async fn first_use(&self, key: &str, keep_for: Duration) -> Result<Option<bool>, GatewayError> {
        let millis = keep_for.as_millis().max(1) as u64;
        let mut connection = self.connection.clone();
        let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(format!("apigw:seen:{key}"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis)
            .query_async(&mut connection)
            .await;
        self.outcome(set.map(|reply| reply.is_some()))
    }

    /// Counts one request under each `(key, limit)` in windows of `window_seconds`; the index of
    /// the first limit exceeded. `Ok(None)`: Redis failed and the caller counts locally.
    pub async fn count(
        &self,
        checks: &[(String, u32)],
        window_seconds: u64,
    ) -> Result<Option<Option<usize>>, GatewayError> {
        let mut invocation = self.count.prepare_invoke();
        invocation.arg(window_seconds);
        for (key, limit) in checks {
            invocation.key(format!("apigw:tc:{key}")).arg(*limit);
        }
        let mut connection = self.connection.clone();
        let index: redis::RedisResult<usize> = invocation.invoke_async(&mut connection).await;
        self.outcome(index.map(|index| index.checked_sub(1)))
    }

    /// The cached answer kept under `key` by any pod. A cache is not a safeguard: when Redis
    /// fails this is a miss, whatever `--redis-failure` says.
    pub async fn cached_answer(&self, key: &str) -> Option<Vec<u8>> {
        let mut connection = self.connection.clone();
        let found: redis::RedisResult<Option<Vec<u8>>> =
            redis::cmd("GET").arg(format!("apigw:cache:{key}")).query_async(&mut connection).await;
        found.inspect_err(|error| tracing::debug!(%error, "Redis did not answer a cache lookup")).ok().flatten()
    }

    /// Keeps `answer` under `key` for every pod for `ttl`, in the background (the request does
    /// not wait for Redis).
    pub fn keep_answer(&self, key: &str, answer: Vec<u8>, ttl: Duration) {
        let mut connection = self.connection.clone();
        let (key, millis) = (format!("apigw:cache:{key}"), ttl.as_millis().max(1) as u64);
        tokio::spawn(async move {
            let set: redis::RedisResult<()> =
                redis::cmd("SET").arg(key).arg(answer).arg("PX").arg(millis).query_async(&mut connection).await;
            if let Err(error) = set {
                tracing::debug!(%error, "Redis did not keep a cached answer");
            }
        });
    }

    fn outcome<T>(&self, result: redis::RedisResult<T>) -> Result<Option<T>, GatewayError> {
        match (result, self.on_failure) {
            (Ok(value), _) => Ok(Some(value)),
            (Err(error), OnFailure::Open) => {
                tracing::warn!(%error, "Redis did not answer; using this pod's own state");
                Ok(None)
            }
            (Err(error), OnFailure::Closed) => {
                tracing::warn!(%error, "Redis did not answer; refusing (--redis-failure closed)");
                Err(GatewayError::SharedStateUnavailable)
            }
        }
    }
}
