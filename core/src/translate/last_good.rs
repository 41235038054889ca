//! Last good: an Api that was served and is now refused (its spec, or a plugin it binds, became
//! invalid) keeps being served as it last was, while its status reports why the current version
//! is refused. A bad edit never takes a working Api down. Only while the Api still exists, its
//! group is still served, nothing else took its method and path, and the Secrets and upstreams it
//! needs are still there.

use std::collections::{BTreeSet, HashSet};

use kube::ResourceExt;

use super::{ObjectRef, Snapshot, secret_data};
use crate::config::GatewayConfig;

/// Carries the refused Apis of `previous` into `current`; returns those kept.
pub fn keep_last_good(
    previous: &GatewayConfig,
    current: &mut GatewayConfig,
    refused: &BTreeSet<&ObjectRef>,
    snapshot: &Snapshot,
) -> Vec<ObjectRef> {
    let mut kept = Vec::new();
    // Looked up by borrowed names: no ObjectRef made for every Api served, refused or not.
    let refused_apis: HashSet<(&str, &str)> = refused
        .iter()
        .filter(|object| object.kind == "Api")
        .map(|object| (object.namespace.as_str(), object.name.as_str()))
        .collect();
    if refused_apis.is_empty() {
        return kept;
    }
    for old_group in &previous.groups {
        let namespace = &old_group.namespace;
        let Some(group) =
            current.groups.iter_mut().find(|group| &group.namespace == namespace && group.name == old_group.name)
        else {
            continue;
        };
        let kept_before = kept.len();
        for api in &old_group.apis {
            // Most Apis are not refused: the checks below (a scan of the group) are theirs alone.
            if !refused_apis.contains(&(namespace.as_str(), api.name.as_str())) {
                continue;
            }
            let taken = group
                .apis
                .iter()
                .any(|served| served.name == api.name || (served.method == api.method && served.path == api.path));
            let secrets_found = api.secret_refs().all(|reference| {
                reference
                    .split_once('/')
                    .is_some_and(|(namespace, name)| secret_data(snapshot, namespace, name).is_some())
            });
            let upstreams_found = api.upstream_refs().all(|key| {
                snapshot
                    .vpc_accesses
                    .iter()
                    .any(|access| super::group_key(access.namespace(), &access.name_any()) == *key)
            });
            if taken || !secrets_found || !upstreams_found {
                continue;
            }
            group.apis.push(api.clone());
            for key in api.upstream_refs() {
                if let Some(upstream) = previous.upstreams.get(key) {
                    current.upstreams.entry(key.clone()).or_insert_with(|| upstream.clone());
                }
            }
            kept.push(ObjectRef { kind: "Api", namespace: namespace.clone(), name: api.name.clone() });
        }
        if kept.len() > kept_before {
            group.apis.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    kept
}
