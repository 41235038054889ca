//! State that outlives one request: used nonces and JWT ids, the Redis the instance's
//! gateways share for them and for traffic-control counts, the caching plugin's answers, state
//! kept by key across reloads, and the clock it is timed by.

pub mod clock;
pub mod interned;
pub mod replay;
pub mod response_cache;
pub mod shared;
