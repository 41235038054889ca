//! A monotonic clock in milliseconds, cheap to keep in atomics (ejections, breaker windows).

use std::sync::LazyLock;
use std::time::Instant;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since this process first read the clock, plus one: never 0, which state
/// kept in atomics can use for "never".
pub fn now_ms() -> u64 {
    u64::try_from(START.elapsed().as_millis()).map_or(u64::MAX, |ms| ms.saturating_add(1))
}
