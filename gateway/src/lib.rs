//! apigw-gateway: the data plane. It serves the APIs of one gateway instance from a
//! [`apigw_core::config::GatewayConfig`], compiled into a [`route_table::RouteTable`] and run
//! through the [`pipeline`] for every request.

pub mod access_control;
pub mod access_log;
pub mod admin;
pub mod apps;
pub mod backend;
pub mod backend_signature;
pub mod body;
pub mod client_address;
pub mod cluster_source;
pub mod compiled;
pub mod config_source;
pub mod cors;
pub mod error;
pub mod error_mapping;
pub mod http1;
pub mod http2_guard;
pub mod ip_control;
pub mod jwt_auth;
pub mod listener;
pub mod live;
pub mod metrics;
pub mod pipeline;
pub mod plugin_parameters;
pub mod proxy_protocol;
pub mod request_id;
pub mod route_table;
pub mod routing;
pub mod shared_state;
pub mod tls;
pub mod traffic_control;
