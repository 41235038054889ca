//! A config compiled for serving: each Api (`api`), the router over hosts and paths
//! (`route_table`), the Apps, the certificates, the snapshot swapped in on each reload
//! (`live`), and what one compiled config hands the next (`reuse`).

pub mod api;
pub mod apps;
pub mod certificates;
pub mod live;
pub mod reuse;
pub mod route_table;

pub use api::CompileError;
