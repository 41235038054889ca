//! Request ids in the UUID shape of Alibaba's `X-Ca-Request-Id`
//! (`23853B41-C54D-45E9-8C43-EE4C1E8A7889`): a random per-process prefix and a counter, so that
//! ids are unique without a random draw per request.

use http::HeaderValue;
use std::sync::{
    LazyLock,
    atomic::{AtomicU64, Ordering},
};

static PREFIX: LazyLock<u64> = LazyLock::new(|| fastrand::u64(..));
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new request id.
pub fn next() -> HeaderValue {
    let id = (u128::from(*PREFIX) << 64) | u128::from(COUNTER.fetch_add(1, Ordering::Relaxed));
    HeaderValue::from_bytes(&uuid_shaped(id)).expect("request ids are ASCII")
}

/// `id` as 32 upper-case hex digits in the 8-4-4-4-12 groups of a UUID (formatting machinery
/// costs more than the rest of making an id).
fn uuid_shaped(id: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = [b'-'; 36];
    let positions = (0..36).filter(|position| !matches!(position, 8 | 13 | 18 | 23));
    for (nibble, position) in positions.enumerate() {
        text[position] = HEX[((id >> (124 - 4 * nibble)) & 0xF) as usize];
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_uuid_shaped() {
        let (a, b) = (super::next(), super::next());
        assert_ne!(a, b);
        let a = a.to_str().unwrap();
        assert_eq!(a.len(), 36);
        assert_eq!(a.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
    }

    #[test]
    fn digits_are_the_id_in_order() {
        let text = super::uuid_shaped(0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210);
        assert_eq!(std::str::from_utf8(&text).unwrap(), "01234567-89AB-CDEF-FEDC-BA9876543210");
    }
}
