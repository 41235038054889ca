//! The plugins an Api binds, each compiled from its config and checked per request: the
//! parameters they read, access control, backend signatures, basic authentication, caching, the
//! circuit breaker, CORS, error mapping, IP control, JWT authentication, remote (third-party)
//! authentication, condition routing and traffic control.

pub mod access_control;
pub mod answer;
pub mod backend_signature;
pub mod basic_auth;
pub mod caching;
pub mod circuit_breaker;
pub mod cors;
pub mod error_mapping;
pub mod ip_control;
pub mod jwt_auth;
pub mod parameters;
pub mod remote_auth;
pub mod routing;
pub mod traffic_control;
