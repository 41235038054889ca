//! What an import does to a group that already has Apis, by ImportSwagger's overwrite rule: an
//! imported operation replaces the existing Api with the same HTTP method and backend path (with
//! `--overwrite`; without it, that is a failure), keeping the existing Api's name.

use apigw_core::resources::Api;
use kube::ResourceExt;

use crate::import::Imported;

/// What happens to one imported Api.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// A new Api.
    Create,
    /// Replaces the existing Api of the same name.
    Modify,
    /// Not imported, and why.
    Fail(String),
}

/// Decides each imported Api's action against the group's `existing` Apis; a modified Api takes
/// the existing Api's name.
pub fn plan(imported: Vec<Imported>, existing: &[Api], overwrite: bool) -> Vec<(Imported, Action)> {
    imported
        .into_iter()
        .map(|mut imported| {
            let api = &imported.api;
            let same_backend = existing.iter().find(|old| {
                old.spec.request.method == api.spec.request.method && old.spec.backend.path == api.spec.backend.path
            });
            let same_name = existing.iter().find(|old| old.name_any() == api.name_any());
            let action = match (same_backend.or(same_name), overwrite) {
                (Some(old), true) => {
                    imported.rename(&old.name_any());
                    Action::Modify
                }
                (Some(old), false) => Action::Fail(format!(
                    "api already exists: {} (same method and backend path, or name); add --overwrite to replace it",
                    old.name_any()
                )),
                (None, _) => match existing.iter().find(|old| {
                    old.spec.request.method == api.spec.request.method && old.spec.request.path == api.spec.request.path
                }) {
                    Some(old) => Action::Fail(format!("Api {} already serves this method and path", old.name_any())),
                    None => Action::Create,
                },
            };
            (imported, action)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(name: &str, path: &str, backend_path: &str) -> Imported {
        let manifest = serde_json::json!({
            "apiVersion": "apigw.io/v1alpha1", "kind": "Api", "metadata": {"name": name},
            "spec": {"groupRef": "g", "request": {"method": "GET", "path": path},
                     "backend": {"type": "HTTP", "address": "http://b", "path": backend_path}}
        });
        Imported { api: serde_json::from_value(manifest.clone()).unwrap(), manifest }
    }

    #[test]
    fn same_method_and_backend_path_is_a_modification_only_with_overwrite() {
        let existing = [api("old-users", "/users", "/v1/users").api, api("orders", "/orders", "/v1/orders").api];
        let imported = || {
            vec![
                api("getusers", "/people", "/v1/users"),
                api("new", "/new", "/v1/new"),
                api("x", "/orders", "/v2/orders"),
            ]
        };
        let planned = plan(imported(), &existing, true);
        assert_eq!(planned[0].0.api.name_any(), "old-users", "keeps the existing name");
        assert_eq!(planned[0].0.manifest["metadata"]["name"], "old-users");
        assert_eq!(planned[0].1, Action::Modify);
        assert_eq!(planned[1].1, Action::Create);
        assert!(matches!(&planned[2].1, Action::Fail(why) if why.contains("orders already serves")));
        let refused = plan(imported(), &existing, false);
        assert!(matches!(&refused[0].1, Action::Fail(why) if why.contains("--overwrite")));
    }
}
