//! The answers the caching plugin keeps, in this pod's memory: at most `capacity` bytes in all
//! (bodies, headers and keys counted); once full, nothing more is kept until entries expire, as
//! Alibaba's cache does. Expired entries are dropped when found, and all at once when the cache
//! is full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

/// One kept answer.
#[derive(Clone, Debug)]
pub struct CachedAnswer {
    /// Its status.
    pub status: StatusCode,
    /// The headers kept.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Its body.
    pub body: Bytes,
    /// When it was kept.
    pub stored: Instant,
    /// When it stops being served.
    pub expires: Instant,
}

impl CachedAnswer {
    fn size(&self, key: &str) -> usize {
        let headers: usize = self.headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
        key.len() + headers + self.body.len()
    }
}

/// Kept answers by key.
#[derive(Debug)]
pub struct ResponseCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    answers: HashMap<String, CachedAnswer>,
    bytes: usize,
}

impl Entries {
    fn remove(&mut self, key: &str) {
        if let Some(answer) = self.answers.remove(key) {
            self.bytes -= answer.size(key);
        }
    }
}

impl ResponseCache {
    /// A cache of at most `capacity` bytes (0: nothing is kept).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::default() }
    }

    /// The answer kept under `key`, if it has not expired.
    pub fn get(&self, key: &str) -> Option<CachedAnswer> {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let answer = entries.answers.get(key)?;
        if answer.expires > Instant::now() {
            return Some(answer.clone());
        }
        entries.remove(key);
        None
    }

    /// Keeps `answer` under `key` for `ttl`, unless the cache has no room for it.
    pub fn put(&self, key: String, mut answer: CachedAnswer, ttl: Duration) -> bool {
        answer.expires = answer.stored + ttl;
        let size = answer.size(&key);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.remove(&key);
        if entries.bytes + size > self.capacity {
            let now = Instant::now();
            let expired: Vec<String> = entries
                .answers
                .iter()
                .filter(|(_, answer)| answer.expires <= now)
                .map(|(key, _)| key.clone())
                .collect();
            for key in expired {
                entries.remove(&key);
            }
            if entries.bytes + size > self.capacity {
                return false;
            }
        }
        entries.bytes += size;
        entries.answers.insert(key, answer);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &'static [u8]) -> CachedAnswer {
        let now = Instant::now();
        CachedAnswer {
            status: StatusCode::OK,
            headers: vec![],
            body: Bytes::from_static(body),
            stored: now,
            expires: now,
        }
    }

    #[test]
    fn keeps_answers_until_they_expire_and_nothing_once_full() {
        let cache = ResponseCache::new(16);
        assert!(cache.put("a".to_owned(), answer(b"0123456789"), Duration::from_secs(60)));
        assert_eq!(cache.get("a").map(|answer| answer.body), Some(Bytes::from_static(b"0123456789")));
        assert!(!cache.put("b".to_owned(), answer(b"0123456789"), Duration::from_secs(60)), "full: not kept");
        assert!(cache.get("b").is_none());
        assert!(cache.put("a".to_owned(), answer(b"012345678901234"), Duration::ZERO), "replaced in its own room");
        assert!(cache.get("a").is_none(), "expired");
        assert_eq!(cache.entries.lock().unwrap().bytes, 0, "an expired answer found is dropped");
        assert!(cache.put("b".to_owned(), answer(b"0123456789"), Duration::from_secs(60)));
    }
}
