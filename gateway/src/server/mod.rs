//! The gateway's servers: the client listeners (HTTP/1.1 through the own codec, HTTP/2, TLS,
//! the PROXY protocol, connection limits), and the admin port.

pub mod admin;
pub mod http2_guard;
pub mod listener;
pub mod proxy_protocol;
pub mod tls;
