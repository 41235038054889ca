//! apigw-gateway: the data plane. It serves the APIs of one gateway instance from a
//! [`apigw_core::config::GatewayConfig`], compiled into a [`config::route_table::RouteTable`] and
//! run through the [`pipeline`] for every request.
//!
//! The folders import only downward, in this order (bottom first): `error`, `secrets`, `http1`,
//! `body`, `telemetry`, `state`, `backend`, `plugins`, `config`, `pipeline`, `source`, `server`.

pub mod backend;
pub mod body;
pub mod config;
pub mod error;
pub mod http1;
pub mod pipeline;
pub mod plugins;
pub mod secrets;
pub mod server;
pub mod source;
pub mod state;
pub mod telemetry;
