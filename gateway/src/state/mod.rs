//! State that outlives one request: used nonces and JWT ids, and the Redis the instance's
//! gateways share for them and for traffic-control counts.

pub mod replay;
pub mod shared;
