//! State kept by key for as long as something holds it: endpoint health by `host:port`,
//! circuit breakers by Api. Configs compiled one after another find the state of the same key,
//! so a reload keeps it; a key no served config holds any more is forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Values of type `T` by key, each shared while any holder keeps it.
pub struct Interned<T> {
    values: Mutex<Option<HashMap<String, Weak<T>>>>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Interned<T> {
    /// An empty set (usable in a `static`).
    pub const fn new() -> Self {
        Self { values: Mutex::new(None) }
    }

    /// The value of `key`, made by `make` when no holder keeps one.
    pub fn get_or_make(&self, key: &str, make: impl FnOnce() -> T) -> Arc<T> {
        let mut values = self.values.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let values = values.get_or_insert_with(HashMap::new);
        if let Some(value) = values.get(key).and_then(Weak::upgrade) {
            return value;
        }
        // Forget the dead now and then: at each doubling of the map.
        if values.len() >= 64 && values.len().is_power_of_two() {
            values.retain(|_, value| value.strong_count() > 0);
        }
        let value = Arc::new(make());
        values.insert(key.to_owned(), Arc::downgrade(&value));
        value
    }

    /// Every value some holder keeps, with its key.
    pub fn alive(&self) -> Vec<(String, Arc<T>)> {
        let values = self.values.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let alive = values.iter().flatten().filter_map(|(key, value)| Some((key.clone(), value.upgrade()?)));
        alive.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_keeps_its_value_while_held_and_is_forgotten_after() {
        let interned: Interned<u32> = Interned::new();
        let first = interned.get_or_make("a", || 1);
        assert_eq!(*interned.get_or_make("a", || 2), 1, "held: the same value");
        assert_eq!(interned.alive().len(), 1);
        drop(first);
        assert_eq!(*interned.get_or_make("a", || 3), 3, "no holder: made again");
        assert!(interned.alive().is_empty(), "the temporary was the only holder");
    }
}
