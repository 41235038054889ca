//! Custom-resource YAML (as given to kubectl) -> a [`Snapshot`], for the gateway's `--manifests`
//! mode and for tools. Objects of other kinds (Deployments, Ingresses, ...) are skipped.

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Resource;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use crate::translate::Snapshot;

/// The namespace of objects that name none, as kubectl's default.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A document is not YAML.
    #[error("{origin}: document {index}: {source}")]
    Yaml {
        /// Where the text came from.
        origin: String,
        /// The document's position (1-based).
        index: usize,
        /// The parser's error.
        source: serde_yaml::Error,
    },
    /// A document does not match its kind's schema.
    #[error("{origin}: {kind} {name}: {source}")]
    Object {
        /// Where the text came from.
        origin: String,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// The deserializer's error.
        source: serde_yaml::Error,
    },
    /// An apigw.io kind this version does not know.
    #[error("{origin}: unknown kind {kind} in {api_version}")]
    UnknownKind {
        /// Where the text came from.
        origin: String,
        /// The apiVersion.
        api_version: String,
        /// The kind.
        kind: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: NameOnly,
}

#[derive(Default, Deserialize)]
struct NameOnly {
    #[serde(default)]
    name: String,
}

impl Snapshot {
    /// Adds every object of the YAML `text` (documents separated by `---`); `origin` names the
    /// text in errors.
    pub fn add_manifests(&mut self, text: &str, origin: &str) -> Result<(), ManifestError> {
        for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value = serde_yaml::Value::deserialize(document).map_err(|source| ManifestError::Yaml {
                origin: origin.to_owned(),
                index: index + 1,
                source,
            })?;
            if value.is_null() {
                continue;
            }
            let meta = TypeMeta::deserialize(&value).map_err(|source| ManifestError::Yaml {
                origin: origin.to_owned(),
                index: index + 1,
                source,
            })?;
            let read = Reader { origin, meta: &meta, value };
            match (meta.api_version.as_str(), meta.kind.as_str()) {
                ("apigw.io/v1alpha1", "ApiGroup") => self.groups.push(Arc::new(read.object()?)),
                ("apigw.io/v1alpha1", "Api") => self.apis.push(Arc::new(read.object()?)),
                ("apigw.io/v1alpha1", "RoutingPlugin") => self.routing_plugins.push(Arc::new(read.object()?)),
                ("apigw.io/v1alpha1", "VpcAccess") => self.vpc_accesses.push(Arc::new(read.object()?)),
                ("apigw.io/v1alpha1", "App") => self.apps.push(Arc::new(read.object()?)),
                ("apigw.io/v1alpha1", "Plugin") => self.plugins.push(Arc::new(read.object()?)),
                (version, kind) if version.starts_with("apigw.io/") => {
                    return Err(ManifestError::UnknownKind {
                        origin: origin.to_owned(),
                        api_version: version.to_owned(),
                        kind: kind.to_owned(),
                    });
                }
                ("v1", "Secret") => self.secrets.push(Arc::new(read.object::<Secret>()?)),
                ("v1", "Service") => self.services.push(Arc::new(read.object::<Service>()?)),
                ("discovery.k8s.io/v1", "EndpointSlice") => {
                    self.endpoint_slices.push(Arc::new(read.object::<EndpointSlice>()?))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One document being read as an object.
struct Reader<'a> {
    origin: &'a str,
    meta: &'a TypeMeta,
    value: serde_yaml::Value,
}

impl Reader<'_> {
    /// The object, in the default namespace when it names none.
    fn object<K: Resource + DeserializeOwned>(self) -> Result<K, ManifestError> {
        let mut object: K = serde_yaml::from_value(self.value).map_err(|source| ManifestError::Object {
            origin: self.origin.to_owned(),
            kind: self.meta.kind.clone(),
            name: self.meta.metadata.name.clone(),
            source,
        })?;
        object.meta_mut().namespace.get_or_insert_with(|| DEFAULT_NAMESPACE.to_owned());
        Ok(object)
    }
}
