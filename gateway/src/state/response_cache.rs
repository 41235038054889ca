//! The answers the caching plugin keeps, in this pod's memory: at most `capacity` bytes in all
//! (bodies, headers and keys counted); once full, nothing more is kept until entries expire, as
//! Alibaba's cache does. Expired entries are dropped when found, and all at once when the cache
//! is full. With `--redis`, answers are also shared through Redis in [`CachedAnswer::encode`]'s
//! form.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The version byte of [`CachedAnswer::encode`]'s form.
const ENCODING: u8 = 1;

impl CachedAnswer {
    /// The answer as bytes another pod can read: a version byte, the status, when it was kept and
    /// when it expires (Unix milliseconds), the headers (each length-prefixed), then the body.
    pub fn encode(&self) -> Vec<u8> {
        let (now, wall) = (Instant::now(), unix_ms(SystemTime::now()));
        let stored = wall.saturating_sub(now.saturating_duration_since(self.stored).as_millis() as u64);
        let expires = wall + self.expires.saturating_duration_since(now).as_millis() as u64;
        let mut bytes = Vec::with_capacity(32 + self.body.len());
        bytes.push(ENCODING);
        bytes.extend_from_slice(&self.status.as_u16().to_be_bytes());
        bytes.extend_from_slice(&stored.to_be_bytes());
        bytes.extend_from_slice(&expires.to_be_bytes());
        bytes.extend_from_slice(&(self.headers.len() as u16).to_be_bytes());
        for (name, value) in &self.headers {
            for part in [name.as_str().as_bytes(), value.as_bytes()] {
                bytes.extend_from_slice(&(part.len() as u16).to_be_bytes());
                bytes.extend_from_slice(part);
            }
        }
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// An answer [`Self::encode`] wrote, with its times on this pod's clock; `None` when the
    /// bytes are not of that form or it has expired.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut reader = Reader(bytes);
        if reader.take(1)? != [ENCODING] {
            return None;
        }
        let status = StatusCode::from_u16(u16::from_be_bytes(reader.take(2)?.try_into().ok()?)).ok()?;
        let stored = u64::from_be_bytes(reader.take(8)?.try_into().ok()?);
        let expires = u64::from_be_bytes(reader.take(8)?.try_into().ok()?);
        let count = reader.length()?;
        let headers = (0..count)
            .map(|_| {
                let name = HeaderName::from_bytes(reader.prefixed()?).ok()?;
                Some((name, HeaderValue::from_bytes(reader.prefixed()?).ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        let (now, wall) = (Instant::now(), unix_ms(SystemTime::now()));
        let expires = now.checked_add(Duration::from_millis(expires.checked_sub(wall).filter(|left| *left > 0)?))?;
        let stored = now.checked_sub(Duration::from_millis(wall.saturating_sub(stored))).unwrap_or(now);
        Some(Self { status, headers, body: Bytes::copy_from_slice(reader.0), stored, expires })
    }

    fn size(&self, key: &str) -> usize {
        let headers: usize = self.headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
        key.len() + headers + self.body.len()
    }
}

/// Milliseconds since the Unix epoch.
fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}

/// Reads [`CachedAnswer::encode`]'s form.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(count)?;
        self.0 = rest;
        Some(taken)
    }

    fn length(&mut self) -> Option<usize> {
        Some(usize::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)))
    }

    fn prefixed(&mut self) -> Option<&'a [u8]> {
        let length = self.length()?;
        self.take(length)
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

    /// Keeps `answer` under `key` until it expires, unless the cache has no room for it.
    pub fn put(&self, key: String, answer: CachedAnswer) -> bool {
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

    fn answer(body: &'static [u8], ttl: Duration) -> CachedAnswer {
        let now = Instant::now();
        CachedAnswer {
            status: StatusCode::OK,
            headers: vec![],
            body: Bytes::from_static(body),
            stored: now,
            expires: now + ttl,
        }
    }

    #[test]
    fn keeps_answers_until_they_expire_and_nothing_once_full() {
        let cache = ResponseCache::new(16);
        assert!(cache.put("a".to_owned(), answer(b"0123456789", Duration::from_secs(60))));
        assert_eq!(cache.get("a").map(|answer| answer.body), Some(Bytes::from_static(b"0123456789")));
        assert!(!cache.put("b".to_owned(), answer(b"0123456789", Duration::from_secs(60))), "full: not kept");
        assert!(cache.get("b").is_none());
        assert!(cache.put("a".to_owned(), answer(b"012345678901234", Duration::ZERO)), "replaced in its own room");
        assert!(cache.get("a").is_none(), "expired");
        assert_eq!(cache.entries.lock().unwrap().bytes, 0, "an expired answer found is dropped");
        assert!(cache.put("b".to_owned(), answer(b"0123456789", Duration::from_secs(60))));
    }

    #[test]
    fn an_encoded_answer_reads_back_with_its_age_and_expiry() {
        let mut kept = answer(b"{\"price\": 3}", Duration::from_secs(60));
        kept.stored -= Duration::from_secs(5);
        kept.headers.push((http::header::CONTENT_TYPE, HeaderValue::from_static("application/json")));
        let read = CachedAnswer::decode(&kept.encode()).expect("it reads back");
        assert_eq!((read.status, &read.headers, &read.body), (kept.status, &kept.headers, &kept.body));
        let age = read.stored.elapsed().as_secs_f64();
        assert!((4.9..6.0).contains(&age), "age {age}");
        let left = read.expires.saturating_duration_since(Instant::now()).as_secs_f64();
        assert!((58.0..=60.0).contains(&left), "left {left}");
        assert!(CachedAnswer::decode(&answer(b"", Duration::ZERO).encode()).is_none(), "expired");
        assert!(CachedAnswer::decode(b"\x02rest").is_none() && CachedAnswer::decode(b"\x01\x00").is_none());
    }
}
