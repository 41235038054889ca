//! Request ids in the UUID shape of Alibaba's `X-Ca-Request-Id`
//! (`23853B41-C54D-45E9-8C43-EE4C1E8A7889`): a random per-process prefix and a counter, so that
//! ids are unique without a random draw per request.

use std::sync::{
    LazyLock,
    atomic::{AtomicU64, Ordering},
};

static PREFIX: LazyLock<u64> = LazyLock::new(|| fastrand::u64(..));
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new request id.
pub fn next() -> String {
    let prefix = *PREFIX;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        (prefix >> 32) as u32,
        (prefix >> 16) as u16,
        prefix as u16,
        (count >> 48) as u16,
        count & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_uuid_shaped() {
        let (a, b) = (super::next(), super::next());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
    }
}
