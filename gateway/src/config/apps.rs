//! Apps as the gateway knows them: found by AppKey or AppCode, with their secret and what they
//! may call (the nonces they used are in [`crate::state::replay`]).

use std::collections::HashMap;
use std::sync::Arc;

use apigw_core::config::GatewayConfig;
use apigw_core::signature::SigningKey;

use crate::config::api::{CompileError, CompiledApi};
use crate::secrets::Secrets;

/// An App's credentials and grants.
#[derive(Debug)]
pub struct AppEntry {
    /// `$CaAppId`, as text.
    pub app_id: String,
    /// `$CaAppKey`.
    pub app_key: String,
    /// The secret signatures are made with, keyed for HMAC.
    pub key: SigningKey,
    namespace: String,
    grants: Vec<Grant>,
}

#[derive(Debug)]
struct Grant {
    api: Option<String>,
    group: Option<String>,
    stages: Vec<String>,
    expires_at: Option<jiff::Timestamp>,
}

impl AppEntry {
    /// The user the App belongs to, for per-user limits: its namespace.
    pub fn owner(&self) -> &str {
        &self.namespace
    }

    /// Whether the App may call `api` (its group's namespace, group, name and stage) now.
    pub fn may_call(&self, api: &CompiledApi, now: jiff::Timestamp) -> bool {
        *api.namespace == self.namespace
            && self.grants.iter().any(|grant| {
                let target = match (&grant.api, &grant.group) {
                    (Some(name), _) => *name == *api.name,
                    (None, Some(group)) => *group == *api.group,
                    (None, None) => false,
                };
                target
                    && (grant.stages.is_empty() || grant.stages.iter().any(|stage| *stage == *api.stage))
                    && grant.expires_at.is_none_or(|expiry| now < expiry)
            })
    }
}

/// The Apps of a config, by AppKey and by AppCode.
#[derive(Debug, Default)]
pub struct AppStore {
    by_key: HashMap<String, Arc<AppEntry>>,
    by_code: HashMap<String, Arc<AppEntry>>,
}

impl AppStore {
    /// Loads every App of `config`, its credentials from `secrets`.
    pub fn compile(config: &GatewayConfig, secrets: &Secrets) -> Result<Self, CompileError> {
        let (mut by_key, mut by_code) = (HashMap::new(), HashMap::new());
        for app in &config.apps {
            let error = |message: String| CompileError::Api {
                namespace: app.namespace.clone(),
                api: app.name.clone(),
                message,
            };
            let data =
                secrets.get(&app.secret).ok_or_else(|| error(format!("Secret {} is not available", app.secret)))?;
            let (Some(key), Some(secret)) = (data.get("appKey"), data.get("appSecret")) else {
                return Err(error(format!("Secret {} needs appKey and appSecret", app.secret)));
            };
            let grants = app
                .authorizations
                .iter()
                .map(|grant| {
                    let expires_at = grant
                        .expires_at
                        .as_deref()
                        .map(str::parse)
                        .transpose()
                        .map_err(|e| error(format!("expiresAt: {e}")))?;
                    Ok(Grant {
                        api: grant.api.clone(),
                        group: grant.group.clone(),
                        stages: grant.stages.clone(),
                        expires_at,
                    })
                })
                .collect::<Result<_, CompileError>>()?;
            let app_key = String::from_utf8_lossy(key).into_owned();
            let entry = AppEntry {
                app_id: app.app_id.to_string(),
                app_key: app_key.clone(),
                key: SigningKey::new(secret),
                namespace: app.namespace.clone(),
                grants,
            };
            let entry = Arc::new(entry);
            if let Some(code) = data.get("appCode").filter(|code| !code.is_empty()) {
                by_code.insert(String::from_utf8_lossy(code).into_owned(), entry.clone());
            }
            by_key.insert(app_key, entry);
        }
        Ok(Self { by_key, by_code })
    }

    /// The App with this AppCode.
    pub fn find_code(&self, app_code: &str) -> Option<&Arc<AppEntry>> {
        self.by_code.get(app_code)
    }

    /// The App with this AppKey.
    pub fn find(&self, app_key: &str) -> Option<&Arc<AppEntry>> {
        self.by_key.get(app_key)
    }
}
