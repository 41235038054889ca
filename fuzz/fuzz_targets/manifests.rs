//! Any text given to the manifest loader (the gateway's `--manifests` mode) is read or refused
//! with an error; nothing panics, and what is read translates into a gateway config.
#![no_main]

use apigw_core::translate::{Snapshot, translate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut snapshot = Snapshot::default();
    if snapshot.add_manifests(text, "fuzz").is_ok() {
        let _ = translate(&snapshot);
    }
});
