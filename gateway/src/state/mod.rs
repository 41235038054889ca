//! State that outlives one request: used nonces and JWT ids, the Redis the instance's
//! gateways share for them and for traffic-control counts, the caching plugin's answers, decisions
//! remembered for a while (basic and remote authentication), state kept by key across reloads, and the clock it is timed by.

pub mod clock;
pub mod interned;
pub mod remembered;
pub mod replay;
pub mod response_cache;
pub mod shared;
