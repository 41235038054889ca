//! A config compiled for serving: each Api (`api`), the router over hosts and paths
//! (`route_table`), the Apps, the certificates, and the snapshot swapped in on each reload
//! (`live`).

pub mod api;
pub mod apps;
pub mod certificates;
pub mod live;
pub mod route_table;

pub use api::CompileError;
