//! Keys that may be used once: signature nonces and JWT ids, remembered on this gateway for
//! as long as each may be replayed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A key that may be used only once within `keep_for`: a signature nonce, a JWT id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The key, scoped (`nonce/<AppKey>/<nonce>`, `jti/<plugin>/<id>`).
    pub key: String,
    /// How long it stays used.
    pub keep_for: Duration,
}

/// Keys seen recently — signature nonces, JWT ids — each remembered for its own time, on this
/// gateway (every pod keeps its own unless `--redis` shares them; see docs/authentication.md).
#[derive(Debug, Default)]
pub struct NonceCache {
    forget_at: Mutex<HashMap<String, Instant>>,
}

impl NonceCache {
    /// Records `key` for `keep_for`; false when it is still remembered from an earlier use.
    pub fn first_use(&self, key: &str, keep_for: Duration) -> bool {
        let now = Instant::now();
        let mut forget_at = self.forget_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if forget_at.len() > 100_000 {
            forget_at.retain(|_, until| *until > now);
        }
        match forget_at.get(key) {
            Some(until) if *until > now => false,
            _ => {
                forget_at.insert(key.to_owned(), now + keep_for);
                true
            }
        }
    }
}
