//! What teams leaving Alibaba Cloud API Gateway bring, as apigw resources: plugin documents as the
//! console shows them (`import-plugin`) and App lists (`import-apps`). Credentials written inline
//! there (backend-signature keys, BasicAuth passwords, symmetric JWKs, AppSecrets) move into
//! Secrets: custom resources never hold them.

mod apps;
mod checked;
mod plugin;

pub use apps::import_apps;
pub use plugin::{PLUGIN_TYPES, import_plugin};
use serde_json::{Value, json};

/// The objects an import writes, Secrets first (the order to apply them in), and what it did.
#[derive(Debug, Default)]
pub struct Migrated {
    /// Manifests: Secrets, then the apigw resources that name them.
    pub objects: Vec<Value>,
    /// What moved where (`backendSignature.secret -> Secret sign-credentials key appSecret`).
    pub moved: Vec<String>,
    /// What was not imported, and why.
    pub warnings: Vec<String>,
}

impl Migrated {
    /// Adds the Secret `name` with `data` (plain text, written as `stringData`).
    fn secret(&mut self, name: &str, data: Value) {
        self.objects.push(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "type": "Opaque",
            "stringData": data,
        }));
    }

    /// Adds the apigw resource `kind`/`name` with `spec`.
    fn resource(&mut self, kind: &str, name: &str, spec: Value) {
        self.objects.push(json!({
            "apiVersion": "apigw.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": name},
            "spec": spec,
        }));
    }
}

/// Why an export could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// `--type` is none of Alibaba's plugin types.
    #[error("unknown plugin type {0:?}; expected one of {types}", types = PLUGIN_TYPES.join(", "))]
    UnknownPluginType(String),
    /// The document is not a map of fields.
    #[error("{0}: expected a YAML or JSON object")]
    NotAnObject(String),
    /// A field the conversion needs is missing or of the wrong shape.
    #[error("{field}: {reason}")]
    Field {
        /// The field, as a path (`users[1].password`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The converted object is not a valid apigw resource.
    #[error("{kind} {name}: {reason}")]
    Invalid {
        /// The resource kind.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The type check's message, with the field.
        reason: String,
    },
}

impl MigrateError {
    fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Field { field: field.into(), reason: reason.into() }
    }
}

/// The text of a scalar (`123456` as a password is a number to YAML).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}
