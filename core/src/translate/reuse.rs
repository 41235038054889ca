//! Api translations kept from one pass to the next: while no input other than the Apis changed,
//! an Api whose generation is the same translates as before, and its kept result is shared
//! instead of made again (at 20,000 Apis translating every one was most of a pass that changed
//! one).

use std::collections::HashMap;
use std::sync::Arc;

use kube::Resource;
use sha2::{Digest, Sha256};

use super::{Problem, Snapshot};
use crate::config::ApiConfig;
use crate::resources::Api;

/// An Api's translation: its served form and its path's shape (what conflicts compare).
#[derive(Debug)]
pub struct Translated {
    /// The served form.
    pub config: Arc<ApiConfig>,
    /// The path with parameter names erased.
    pub shape: String,
}

/// What one Api translated to.
pub type Outcome = Result<Arc<Translated>, Vec<Problem>>;

/// The translations of the last pass, by Api uid, with the generation each was made of and
/// the fingerprint of every other input they were made with.
#[derive(Debug, Default)]
pub struct Reuse {
    inputs: Option<[u8; 32]>,
    apis: HashMap<String, (i64, Outcome)>,
}

impl Reuse {
    /// Starts a pass over `snapshot`: what the last pass kept stays usable only when every
    /// input but the Apis is as it was then.
    pub(super) fn begin(&mut self, snapshot: &Snapshot) -> Pass {
        let inputs = fingerprint(snapshot);
        let last = std::mem::take(&mut self.apis);
        let kept = if inputs.is_some() && inputs == self.inputs { last } else { HashMap::new() };
        self.inputs = inputs;
        Pass { kept, next: HashMap::with_capacity(snapshot.apis.len()) }
    }

    /// Ends a pass: its translations are what the next one may reuse.
    pub(super) fn end(&mut self, pass: Pass) {
        self.apis = pass.next;
    }
}

/// The translations of one pass, as they are made.
pub struct Pass {
    kept: HashMap<String, (i64, Outcome)>,
    next: HashMap<String, (i64, Outcome)>,
}

impl Pass {
    /// `api`'s translation: the kept one when its generation is the same, else `translate`'s.
    pub(super) fn translate(&mut self, api: &Api, translate: impl FnOnce() -> Outcome) -> Outcome {
        let meta = api.meta();
        let (Some(uid), Some(generation)) = (meta.uid.as_ref(), meta.generation) else { return translate() };
        let (uid, outcome) = match self.kept.remove_entry(uid) {
            Some((uid, (kept, outcome))) if kept == generation => (uid, outcome),
            _ => (uid.clone(), translate()),
        };
        self.next.insert(uid, (generation, outcome.clone()));
        outcome
    }
}

/// The SHA-256 of what identifies every input but the Apis at its version (uid and generation
/// of the apigw kinds, whose translation reads their spec and name only; uid and
/// resourceVersion of Secrets, Services and EndpointSlices); `None` when one lacks them (objects
/// read from manifests), which turns reuse off.
fn fingerprint(snapshot: &Snapshot) -> Option<[u8; 32]> {
    fn generations<K: Resource>(kind: &str, objects: &[Arc<K>], out: &mut Vec<String>) -> Option<()> {
        for object in objects {
            let meta = object.meta();
            out.push(format!("{kind}/{}/{}", meta.uid.as_ref()?, meta.generation?));
        }
        Some(())
    }
    fn versions<K: Resource>(kind: &str, objects: &[Arc<K>], out: &mut Vec<String>) -> Option<()> {
        for object in objects {
            let meta = object.meta();
            out.push(format!("{kind}/{}/{}", meta.uid.as_ref()?, meta.resource_version.as_ref()?));
        }
        Some(())
    }
    let mut inputs = Vec::new();
    generations("ApiGroup", &snapshot.groups, &mut inputs)?;
    generations("RoutingPlugin", &snapshot.routing_plugins, &mut inputs)?;
    generations("VpcAccess", &snapshot.vpc_accesses, &mut inputs)?;
    generations("App", &snapshot.apps, &mut inputs)?;
    generations("Plugin", &snapshot.plugins, &mut inputs)?;
    versions("Secret", &snapshot.secrets, &mut inputs)?;
    versions("Service", &snapshot.services, &mut inputs)?;
    versions("EndpointSlice", &snapshot.endpoint_slices, &mut inputs)?;
    inputs.sort_unstable();
    let mut digest = Sha256::new();
    for input in &inputs {
        digest.update(input.as_bytes());
        digest.update(b"\n");
    }
    Some(digest.finalize().into())
}
