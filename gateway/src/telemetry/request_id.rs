//! Request ids in the UUID shape of Alibaba's `X-Ca-Request-Id`
//! (`23853B41-C54D-45E9-8C43-EE4C1E8A7889`): a random per-process prefix and a counter, so that
//! ids are unique without a random draw per request.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use std::sync::{
    LazyLock,
    atomic::{AtomicU64, Ordering},
};

/// The header carrying a request's id, to the client and to backends.
pub const X_CA_REQUEST_ID: HeaderName = HeaderName::from_static("x-ca-request-id");

static PREFIX: LazyLock<u64> = LazyLock::new(|| fastrand::u64(..));
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new request id.
pub fn next() -> HeaderValue {
    let text = uuid_shaped(*PREFIX, COUNTER.fetch_add(1, Ordering::Relaxed));
    // Owned by the value's bytes: one allocation, and clones share it without another.
    HeaderValue::from_maybe_shared(Bytes::from_owner(text)).expect("request ids are ASCII")
}

/// `high` then `low` as 32 upper-case hex digits in the 8-4-4-4-12 groups of a UUID, written
/// digit by digit (the formatting machinery costs more than the rest of making an id).
fn uuid_shaped(high: u64, low: u64) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = [b'-'; 36];
    let mut write = |start: usize, value: u64, digits: usize| {
        for (index, slot) in text[start..start + digits].iter_mut().enumerate() {
            *slot = HEX[(value >> (4 * (digits - 1 - index))) as usize & 0xF];
        }
    };
    write(0, high >> 32, 8);
    write(9, high >> 16, 4);
    write(14, high, 4);
    write(19, low >> 48, 4);
    write(24, low, 12);
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
        let text = super::uuid_shaped(0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210);
        assert_eq!(std::str::from_utf8(&text).unwrap(), "01234567-89AB-CDEF-FEDC-BA9876543210");
    }
}
