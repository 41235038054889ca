//! The config being served: swapped atomically on reload; in-flight requests keep the snapshot
//! they started with, and a refused config leaves the last good one serving.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use arc_swap::ArcSwapOption;
use serde::Serialize;

use crate::config::apps::AppStore;
use crate::config::certificates::CertificateStore;
use crate::config::route_table::RouteTable;

/// One loaded config.
#[derive(Debug)]
pub struct Loaded {
    /// The compiled routes.
    pub table: RouteTable,
    /// The certificates of the HTTPS listeners, by host.
    pub certificates: CertificateStore,
    /// The Apps, by AppKey.
    pub apps: AppStore,
    /// The config's version (increasing; from the operator, or counted locally in manifests mode).
    pub version: u64,
    /// The config's content hash.
    pub hash: String,
    /// When it was loaded (RFC 3339).
    pub loaded_at: String,
    /// How long reading, decoding and compiling it took, in milliseconds.
    pub load_ms: u64,
}

/// The served config and the history of loads.
#[derive(Debug, Default)]
pub struct LiveConfig {
    current: ArcSwapOption<Loaded>,
    refusals: AtomicU64,
    last_refusal: Mutex<Option<String>>,
}

/// What `/config` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// Whether a config is being served.
    pub loaded: bool,
    /// Its version.
    pub version: Option<u64>,
    /// Its content hash.
    pub hash: Option<String>,
    /// APIs it serves.
    pub apis: usize,
    /// When it was loaded.
    pub loaded_at: Option<String>,
    /// How long loading it took, in milliseconds.
    pub load_ms: Option<u64>,
    /// Configs refused since start.
    pub refusals: u64,
    /// Why the last refused config was refused.
    pub last_refusal: Option<String>,
}

impl LiveConfig {
    /// The config to serve a request with (`None` before the first load).
    pub fn current(&self) -> Option<Arc<Loaded>> {
        self.current.load_full()
    }

    /// Serves `loaded` from now on.
    pub fn swap(&self, loaded: Loaded) {
        self.current.store(Some(Arc::new(loaded)));
    }

    /// Records a refused config; the current one keeps serving.
    pub fn refuse(&self, why: String) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
        *self.last_refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(why);
    }

    /// What `/config` and `/readyz` report.
    pub fn status(&self) -> ConfigStatus {
        let current = self.current();
        ConfigStatus {
            loaded: current.is_some(),
            version: current.as_ref().map(|loaded| loaded.version),
            hash: current.as_ref().map(|loaded| loaded.hash.clone()),
            apis: current.as_ref().map_or(0, |loaded| loaded.table.api_count()),
            loaded_at: current.as_ref().map(|loaded| loaded.loaded_at.clone()),
            load_ms: current.as_ref().map(|loaded| loaded.load_ms),
            refusals: self.refusals.load(Ordering::Relaxed),
            last_refusal: self.last_refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone(),
        }
    }
}
