//! ApiGroup -> GroupConfig (without its APIs).

use kube::ResourceExt;

use super::problem::ConditionType::{Accepted, ResolvedRefs};
use super::{Problem, Snapshot, object_ref, secret_data};
use crate::config::{GroupConfig, TlsBinding};
use crate::path_template::{PathTemplate, Segment};
use crate::resources::ApiGroup;

/// The suffix of self-invocation domains: `<group>.<namespace>.apigw.internal`.
pub const INTERNAL_DOMAIN_SUFFIX: &str = "apigw.internal";

/// A group's served form, or everything wrong with it.
pub fn translate(group: &ApiGroup, snapshot: &Snapshot) -> Result<GroupConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem =
        |reason, message| problems.push(Problem { object: object_ref(group), condition: Accepted, reason, message });
    if let Err(message) = base_path(group) {
        problem("InvalidBasePath", message);
    }
    for (stage, definition) in &group.spec.stages {
        if !is_stage_name(stage) {
            problem(
                "InvalidStageName",
                format!("stage {stage:?} must be upper-case letters, digits and _, such as RELEASE"),
            );
        }
        for variable in definition.variables.keys().filter(|name| !is_variable_name(name)) {
            problem(
                "InvalidVariableName",
                format!("stage {stage}: variable {variable:?} must be letters, digits and _"),
            );
        }
    }
    let namespace = group.namespace().unwrap_or_default();
    let mut tls = Vec::new();
    for domain in &group.spec.domains {
        let Some(secret) = &domain.tls_secret_ref else { continue };
        let (reason, message) = match secret_data(snapshot, &namespace, &secret.name) {
            Some(data) if data.contains_key("tls.crt") && data.contains_key("tls.key") => {
                let secret = format!("{namespace}/{}", secret.name);
                tls.push(TlsBinding { host: domain.host.to_ascii_lowercase(), secret });
                continue;
            }
            Some(_) => {
                ("InvalidSecret", format!("Secret {} of {} has no tls.crt and tls.key", secret.name, domain.host))
            }
            None => ("SecretNotFound", format!("Secret {} of {} does not exist", secret.name, domain.host)),
        };
        problems.push(Problem { object: object_ref(group), condition: ResolvedRefs, reason, message });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(GroupConfig {
        internal_host: group
            .spec
            .internal_domain
            .then(|| format!("{}.{namespace}.{INTERNAL_DOMAIN_SUFFIX}", group.name_any())),
        namespace,
        name: group.name_any(),
        hosts: group.spec.domains.iter().map(|domain| domain.host.to_ascii_lowercase()).collect(),
        stages: group.spec.stages.iter().map(|(name, stage)| (name.clone(), stage.variables.clone())).collect(),
        tls,
        apis: Vec::new(),
    })
}

/// The group's base path as a template without parameters (`/` when absent).
pub fn base_path(group: &ApiGroup) -> Result<PathTemplate, String> {
    let path = group.spec.base_path.as_deref().unwrap_or("/");
    let template = PathTemplate::parse(path).map_err(|error| error.to_string())?;
    if template.is_prefix() || template.segments().iter().any(|segment| matches!(segment, Segment::Param(_))) {
        return Err(format!("basePath {path:?} must be a plain path, without parameters or *"));
    }
    Ok(template)
}

/// Whether `name` is a stage name: `RELEASE`, `TEST`, `PRE`, ...
pub fn is_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_uppercase())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
