//! App -> AppConfig: credentials found in their Secret, authorizations naming existing objects,
//! and one App per AppKey.

use kube::ResourceExt;

use super::problem::ConditionType::{Accepted, ResolvedRefs};
use super::{Problem, Snapshot, object_ref, secret_data};
use crate::config::{AppConfig, AppGrant};
use crate::resources::App;

/// An App's served form and its AppKey, or everything wrong with it.
pub fn translate(app: &App, snapshot: &Snapshot) -> Result<(AppConfig, String), Vec<Problem>> {
    let namespace = app.namespace().unwrap_or_default();
    let mut problems = Vec::new();
    let mut problem =
        |condition, reason, message| problems.push(Problem { object: object_ref(app), condition, reason, message });
    let secret = &app.spec.credentials_secret_ref.name;
    let key = match secret_data(snapshot, &namespace, secret) {
        None => {
            problem(ResolvedRefs, "SecretNotFound", format!("credentials Secret {secret} does not exist"));
            None
        }
        Some(data) => match (data.get("appKey"), data.get("appSecret")) {
            (Some(key), Some(_)) if !key.is_empty() => Some(String::from_utf8_lossy(key).into_owned()),
            _ => {
                problem(ResolvedRefs, "InvalidSecret", format!("Secret {secret} needs the keys appKey and appSecret"));
                None
            }
        },
    };
    let in_namespace = |kind_apis: bool, name: &str| {
        if kind_apis {
            snapshot.apis.iter().any(|api| api.namespace().as_deref() == Some(&namespace) && api.name_any() == name)
        } else {
            snapshot
                .groups
                .iter()
                .any(|group| group.namespace().as_deref() == Some(&namespace) && group.name_any() == name)
        }
    };
    let mut authorizations = Vec::new();
    for grant in &app.spec.authorizations {
        match (&grant.api_ref, &grant.group_ref) {
            (Some(api), None) if !in_namespace(true, api) => {
                problem(
                    ResolvedRefs,
                    "ApiNotFound",
                    format!("authorization: Api {api} does not exist in this namespace"),
                );
            }
            (None, Some(group)) if !in_namespace(false, group) => {
                problem(
                    ResolvedRefs,
                    "GroupNotFound",
                    format!("authorization: ApiGroup {group} does not exist in this namespace"),
                );
            }
            (Some(_), Some(_)) | (None, None) => {
                problem(
                    Accepted,
                    "InvalidAuthorization",
                    "an authorization names exactly one of apiRef or groupRef".to_owned(),
                );
            }
            (api, group) => authorizations.push(AppGrant {
                api: api.clone(),
                group: group.clone(),
                stages: grant.stages.iter().map(|stage| stage.0.clone()).collect(),
                expires_at: grant.expires_at.as_ref().map(|time| time.0.to_string()),
            }),
        }
    }
    match (key, problems.is_empty()) {
        (Some(key), true) => Ok((
            AppConfig {
                namespace: namespace.clone(),
                name: app.name_any(),
                app_id: app.spec.app_id,
                secret: format!("{namespace}/{secret}"),
                authorizations,
            },
            key,
        )),
        _ => Err(problems),
    }
}
