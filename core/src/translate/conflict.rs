//! Two Apis that would answer the same request: the older one wins, deterministically.

use std::collections::HashMap;

use kube::ResourceExt;

use super::problem::ConditionType::Accepted;
use super::{Problem, object_ref};
use crate::config::ApiConfig;
use crate::path_template::{PathTemplate, Segment};
use crate::resources::{Api, HttpMethod};

/// An Api that translated cleanly, before conflicts are settled.
pub struct Candidate<'a> {
    /// The Api.
    pub api: &'a Api,
    /// Its group's `namespace/name`.
    pub key: String,
    /// Its group's hosts, the internal one included.
    pub hosts: Vec<String>,
    /// Its served form.
    pub config: ApiConfig,
}

/// Splits candidates into winners and a Conflict problem for each loser. Two Apis conflict when
/// they share a host, a stage, an overlapping method (ANY overlaps all) and the same path shape;
/// the one created first wins (then the lower namespace/name).
pub fn resolve(candidates: Vec<Candidate<'_>>) -> (Vec<Candidate<'_>>, Vec<Problem>) {
    // The order is settled on indices with each key made once: the candidates are large, and
    // sorting them moved each one many times (about a tenth of a pass at 20,000 Apis).
    let mut order: Vec<_> = candidates
        .iter()
        .enumerate()
        .map(|(index, candidate)| {
            (candidate.api.creation_timestamp().map(|time| time.0), object_ref(candidate.api), index)
        })
        .collect();
    order.sort_unstable();
    let mut candidates: Vec<Option<Candidate<'_>>> = candidates.into_iter().map(Some).collect();
    let mut claimed: HashMap<(String, String), Vec<usize>> = HashMap::new();
    let mut winners = Vec::with_capacity(candidates.len());
    let mut problems = Vec::new();
    for (_, _, index) in order {
        let Some(candidate) = candidates[index].take() else { continue };
        let shape = path_shape(&candidate.config.path);
        let places: Vec<(String, String)> = candidate.hosts.iter().map(|host| (host.clone(), shape.clone())).collect();
        let rival = places.iter().find_map(|place| {
            claimed
                .get(place)?
                .iter()
                .map(|&index| &winners[index])
                .find(|winner: &&Candidate<'_>| overlaps(&winner.config, &candidate.config))
        });
        if let Some(rival) = rival {
            problems.push(Problem {
                object: object_ref(candidate.api),
                condition: Accepted,
                reason: "Conflict",
                message: format!(
                    "{} {} is already served by the older Api {}/{} on the same host and stage",
                    method_name(candidate.config.method),
                    candidate.config.path,
                    rival.api.namespace().unwrap_or_default(),
                    rival.api.name_any()
                ),
            });
            continue;
        }
        for place in places {
            claimed.entry(place).or_default().push(winners.len());
        }
        winners.push(candidate);
    }
    (winners, problems)
}

fn overlaps(a: &ApiConfig, b: &ApiConfig) -> bool {
    let methods = a.method == b.method || a.method == HttpMethod::Any || b.method == HttpMethod::Any;
    methods && a.stages.iter().any(|stage| b.stages.contains(stage))
}

/// The path with parameter names erased: `/users/[id]` and `/users/{uid}` have the same shape.
fn path_shape(path: &str) -> String {
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
