//! Two Apis that would answer the same request: the older one wins, deterministically.

use std::collections::HashMap;
use std::sync::Arc;

use kube::{Resource, ResourceExt};

use super::problem::ConditionType::Accepted;
use super::reuse::Translated;
use super::{Problem, object_ref};
use crate::config::ApiConfig;
use crate::path_template::{PathTemplate, Segment};
use crate::resources::{Api, HttpMethod};

/// An Api that translated cleanly, before conflicts are settled.
pub struct Candidate<'a> {
    /// The Api.
    pub api: &'a Api,
    /// Its group's position in the translation's list of groups.
    pub group: usize,
    /// Its served form and path shape.
    pub translated: Arc<Translated>,
}

/// Which candidates win (`true` at their index), and a Conflict problem for each loser. Two
/// Apis conflict when they share a host (`hosts`: each group's, the internal one included), a
/// stage, an overlapping method (ANY overlaps all) and the same path shape; the one created
/// first wins (then the lower namespace/name).
pub fn resolve(candidates: &[Candidate<'_>], hosts: &[Vec<&str>]) -> (Vec<bool>, Vec<Problem>) {
    // Settled on indices and borrowed keys: at 20,000 Apis, moving the candidates and copying
    // names and hosts into keys were most of this.
    let mut order: Vec<_> = candidates
        .iter()
        .enumerate()
        .map(|(index, candidate)| {
            let meta = candidate.api.meta();
            let name = (meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default());
            (meta.creation_timestamp.as_ref().map(|time| time.0), name, index)
        })
        .collect();
    order.sort_unstable();
    let mut claimed: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    let mut wins = vec![false; candidates.len()];
    let mut problems = Vec::new();
    for (_, _, index) in order {
        let candidate = &candidates[index];
        let (config, shape) = (&candidate.translated.config, candidate.translated.shape.as_str());
        let places = || hosts[candidate.group].iter().map(|host| (*host, shape));
        let rival = places().find_map(|place| {
            claimed
                .get(&place)?
                .iter()
                .map(|&index| &candidates[index])
                .find(|winner| overlaps(&winner.translated.config, config))
        });
        if let Some(rival) = rival {
            problems.push(Problem {
                object: object_ref(candidate.api),
                condition: Accepted,
                reason: "Conflict",
                message: format!(
                    "{} {} is already served by the older Api {}/{} on the same host and stage",
                    method_name(config.method),
                    config.path,
                    rival.api.namespace().unwrap_or_default(),
                    rival.api.name_any()
                ),
            });
            continue;
        }
        for place in places() {
            claimed.entry(place).or_default().push(index);
        }
        wins[index] = true;
    }
    (wins, problems)
}

fn overlaps(a: &ApiConfig, b: &ApiConfig) -> bool {
    let methods = a.method == b.method || a.method == HttpMethod::Any || b.method == HttpMethod::Any;
    methods && a.stages.iter().any(|stage| b.stages.contains(stage))
}

/// The path with parameter names erased: `/users/[id]` and `/users/{uid}` have the same shape.
pub fn path_shape(path: &str) -> String {
    let Ok(template) = PathTemplate::parse(path) else {
        return path.to_owned();
    };
    let mut shape: String = template
        .segments()
        .iter()
        .map(|segment| match segment {
            Segment::Literal(text) => format!("/{text}"),
            Segment::Param(_) => "/{}".to_owned(),
        })
        .collect();
    if template.is_prefix() {
        shape.push_str("/*");
    }
    shape
}

fn method_name(method: HttpMethod) -> String {
    serde_json::to_value(method).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}
