//! Decisions remembered for a while, by the SHA-256 of what they were made on (credentials that
//! passed, an authentication service's answer): bounded, so that a flood of distinct keys cannot
//! grow it; when full, expired entries are dropped and, if it is still full, nothing is added.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A key: the SHA-256 of what the decision was made on, never the secret itself.
pub type Key = [u8; 32];

/// At most `capacity` values, each until its own expiry.
#[derive(Debug)]
pub struct Remembered<V> {
    entries: Mutex<HashMap<Key, (Instant, V)>>,
    capacity: usize,
}

impl<V: Clone> Remembered<V> {
    /// An empty map of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::default(), capacity }
    }

    /// The value remembered for `key`, if it has not expired.
    pub fn get(&self, key: &Key) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(key).filter(|(until, _)| *until > Instant::now()).map(|(_, value)| value.clone())
    }

    /// Remembers `value` for `key` for `keep_for`, unless the map is full of live entries.
    pub fn insert(&self, key: Key, value: V, keep_for: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (until, _)| *until > now);
        }
        if entries.len() < self.capacity {
            entries.insert(key, (now + keep_for, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_and_a_full_map_adds_nothing() {
        let remembered = Remembered::new(2);
        remembered.insert([1; 32], "a", Duration::from_secs(60));
        remembered.insert([2; 32], "b", Duration::ZERO);
        assert_eq!(remembered.get(&[1; 32]), Some("a"));
        assert_eq!(remembered.get(&[2; 32]), None, "expired");
        remembered.insert([3; 32], "c", Duration::from_secs(60));
        assert_eq!(remembered.get(&[3; 32]), Some("c"), "the expired entry made room");
        remembered.insert([4; 32], "d", Duration::from_secs(60));
        assert_eq!(remembered.get(&[4; 32]), None, "full of live entries");
    }
}
