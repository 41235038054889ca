//! Where configs come from. `--manifests`: custom-resource YAML files and folders, translated
//! in-process with the operator's translation, and reloaded when a file changes. (In a cluster,
//! [`crate::source::cluster`] reads what the operator publishes.) Both end in [`install`].

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use apigw_core::config::GatewayConfig;
use apigw_core::translate::{Snapshot, referenced_secrets, translate};
use notify::{RecursiveMode, Watcher};

use crate::config::apps::AppStore;
use crate::config::certificates::CertificateStore;
use crate::config::live::Loaded;
use crate::config::route_table::RouteTable;
use crate::pipeline::Gateway;
use crate::secrets::Secrets;
use crate::telemetry::metrics::ReloadLabels;

/// Why a set of manifests was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A document is not a valid object.
    #[error(transparent)]
    Manifest(#[from] apigw_core::manifests::ManifestError),
    /// Translation found problems; a manifests set is served whole or not at all.
    #[error("{} problem(s): {}", .0.len(), .0.join("; "))]
    Problems(Vec<String>),
    /// The published shards could not be read.
    #[error(transparent)]
    Bundle(#[from] apigw_core::bundle::BundleError),
    /// The translated config did not compile.
    #[error(transparent)]
    Compile(#[from] crate::config::CompileError),
}

/// Reads every `.yaml`/`.yml` file of `paths` (folders recursively, in name order) and translates
/// them; the config of `instance` (empty when no group names it) and the Secrets it references.
pub fn load_manifests(paths: &[PathBuf], instance: &str) -> Result<(GatewayConfig, Secrets), LoadError> {
    let mut snapshot = Snapshot::default();
    for path in paths {
        for file in yaml_files(path)? {
            let text =
                std::fs::read_to_string(&file).map_err(|source| LoadError::Read { path: file.clone(), source })?;
            snapshot.add_manifests(&text, &file.display().to_string())?;
        }
    }
    let mut translation = translate(&snapshot);
    if !translation.problems.is_empty() {
        return Err(LoadError::Problems(translation.problems.iter().map(ToString::to_string).collect()));
    }
    let config = translation.configs.remove(instance).unwrap_or_else(|| GatewayConfig::empty(instance));
    let secrets = referenced_secrets(&config, &snapshot);
    Ok((config, secrets))
}

fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read = |source| LoadError::Read { path: path.to_owned(), source };
    if !path.is_dir() {
        std::fs::metadata(path).map_err(read)?;
        return Ok(vec![path.to_owned()]);
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(path).map_err(read)?.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            files.extend(yaml_files(&entry)?);
        } else if entry.extension().is_some_and(|extension| extension == "yaml" || extension == "yml") {
            files.push(entry);
        }
    }
    Ok(files)
}

/// Loads the manifests into the gateway: served when valid, refused (last good kept) otherwise.
fn reload(gateway: &Gateway, paths: &[PathBuf], instance: &str, version: u64) -> Result<(), LoadError> {
    let started = std::time::Instant::now();
    install(gateway, load_manifests(paths, instance), &[], version, None, started)
}

/// [`reload`] on a thread of its own (in the runtime's context, for the tasks compiling starts),
/// which ends with the load: the runtime (the admin port, the file watcher) goes on meanwhile,
/// and the memory reading and translating took is the allocator's to hand back once the thread
/// is gone (a pooled thread left idle would keep it resident).
pub async fn reload_off_runtime(gateway: Arc<Gateway>, paths: Vec<PathBuf>, instance: String, version: u64) {
    let runtime = tokio::runtime::Handle::current();
    let (done, finished) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("apigw-config-load".to_owned()).spawn(move || {
        let _context = runtime.enter();
        let _ = reload(&gateway, &paths, &instance, version);
        let _ = done.send(());
    });
    match spawned {
        Ok(_) => {
            if finished.await.is_err() {
                tracing::error!("the config load's thread ended before it finished (it panicked)");
            }
        }
        Err(error) => tracing::error!(%error, "starting the config load's thread"),
    }
}

/// Compiles a loaded config and swaps it in; a load or compile error is refused (logged,
/// counted, shown on `/readyz`) and the last good config keeps serving. `kept` names Apis the
/// loaded config leaves out, served on as compiled (see [`RouteTable::compile`]); `hash` is the
/// content hash when the source knows it (else computed); `started` is when loading began
/// (logged: how long loading and compiling took).
pub fn install(
    gateway: &Gateway,
    loaded: Result<(GatewayConfig, Secrets), LoadError>,
    kept: &[String],
    version: u64,
    hash: Option<String>,
    started: std::time::Instant,
) -> Result<(), LoadError> {
    let read_ms = started.elapsed().as_millis();
    let result = loaded.and_then(|(config, secrets)| {
        Ok((
            RouteTable::compile(
                &config,
                kept,
                &gateway.metrics,
                &secrets,
                gateway.live.current().as_deref().map(|loaded| &loaded.table),
            )?,
            CertificateStore::compile(&config, &secrets)?,
            AppStore::compile(&config, &secrets)?,
            hash.unwrap_or_else(|| config.content_hash()),
        ))
    });
    match result {
        Ok((table, certificates, apps, hash)) => {
            let apis = table.api_count();
            gateway.metrics.apis.set(apis as i64);
            gateway.metrics.reloads.get_or_create(&ReloadLabels { result: "loaded" }).inc();
            let load_ms = started.elapsed().as_millis() as u64;
            tracing::info!(version, %hash, apis, kept = kept.len(), read_ms, load_ms, "config loaded");
            let loaded_at = jiff::Timestamp::now().to_string();
            if let Some(previous) = gateway.live.current() {
                table.forget_unserved(&previous.table, &gateway.metrics);
            }
            gateway.live.swap(Loaded { table, certificates, apps, version, hash, loaded_at, load_ms });
            Ok(())
        }
        Err(error) => {
            gateway.metrics.reloads.get_or_create(&ReloadLabels { result: "refused" }).inc();
            tracing::error!(version, %error, "config refused; the last good config keeps serving");
            gateway.live.refuse(error.to_string());
            Err(error)
        }
    }
}

/// Whether an event on `changed` paths concerns the `watched` files and folders (a file is
/// watched through its folder, whose other files — a log, say — must not cause reloads).
fn touches(changed: &[PathBuf], watched: &[PathBuf]) -> bool {
    changed.iter().any(|changed| {
        watched.iter().any(|watched| match watched.is_dir() {
            true => changed.starts_with(watched) || changed.starts_with(watched.canonicalize().unwrap_or_default()),
            false => changed.file_name() == watched.file_name(),
        })
    })
}

/// Watches `paths` and reloads shortly after any change (bursts of writes make one reload).
/// Returns the watcher, which stops watching when dropped.
pub fn watch(
    gateway: Arc<Gateway>,
    paths: Vec<PathBuf>,
    instance: String,
) -> notify::Result<notify::RecommendedWatcher> {
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let watched = paths.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|event| !event.kind.is_access() && touches(&event.paths, &watched)) {
            let _ = changed.send(());
        }
    })?;
    for path in &paths {
        // A file is watched through its folder: editors replace files rather than write them.
        match path.parent().filter(|_| !path.is_dir()) {
            Some(folder) => watcher.watch(
                if folder.as_os_str().is_empty() { Path::new(".") } else { folder },
                RecursiveMode::NonRecursive,
            )?,
            None => watcher.watch(path, RecursiveMode::Recursive)?,
        }
    }
    tokio::spawn(async move {
        let mut version = 1;
        while changes.recv().await.is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            while changes.try_recv().is_ok() {}
            version += 1;
            reload_off_runtime(gateway.clone(), paths.clone(), instance.clone(), version).await;
        }
    });
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_to_watched_files_and_folders_cause_reloads() {
        let folder = std::env::temp_dir().join(format!("apigw-touches-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let file = PathBuf::from("demo/apis.yaml");
        let watched = [file.clone(), folder.clone()];
        assert!(touches(&[PathBuf::from("demo/apis.yaml")], &watched));
        assert!(touches(&[PathBuf::from("./apis.yaml")], &watched), "a file in the working folder");
        assert!(!touches(&[PathBuf::from("demo/gateway.log")], &watched), "a neighbour of a watched file");
        assert!(touches(&[folder.join("nested/more.yaml")], &watched), "anything under a watched folder");
        assert!(!touches(&[std::env::temp_dir().join("other.yaml")], &watched));
        std::fs::remove_dir_all(folder).unwrap();
    }
}
