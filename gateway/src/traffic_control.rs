//! The traffic-control plugin: request limits per API, per user and per App (with specials for
//! particular Apps or users), each counted in fixed windows of the plugin's unit (second,
//! minute, hour, day). Counts are exact per gateway pod; docs/traffic-control.md says what that
//! means with several pods.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use apigw_core::config::NamedPlugin;
use apigw_core::resources::{SpecialType, TimeUnit, TrafficControl};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::error::GatewayError;

/// A traffic-control plugin, compiled for one API.
#[derive(Debug)]
pub struct CompiledTrafficControl {
    /// Identifies the API's counters: `namespace/group/api/stage`.
    key: String,
    window_seconds: u64,
    api_limit: u32,
    user_limit: Option<u32>,
    app_limit: Option<u32>,
    app_specials: HashMap<String, u32>,
    user_specials: HashMap<String, u32>,
}

/// Counters of the current windows, shared by the worker threads.
#[derive(Debug, Default)]
pub struct TrafficCounters {
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

impl TrafficCounters {
    /// Counts one request under `key` in `window`; false when `limit` is already reached.
    fn admit(&self, key: String, window: u64, limit: u32) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (seen, _)| *seen >= window);
        }
        let entry = windows.entry(key).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            return false;
        }
        entry.1 += 1;
        true
    }
}

impl CompiledTrafficControl {
    /// Compiles a config for the API `key`.
    pub fn compile(config: &NamedPlugin<TrafficControl>, key: String) -> Self {
        let spec = &config.spec;
        let specials = |kind: SpecialType| -> HashMap<String, u32> {
            spec.specials
                .iter()
                .filter(|special| special.kind == kind)
                .flat_map(|special| &special.policies)
                .map(|policy| {
                    let key = match &policy.key {
                        IntOrString::Int(number) => number.to_string(),
                        IntOrString::String(text) => text.clone(),
                    };
                    (key, policy.value)
                })
                .collect()
        };
        Self {
            key,
            window_seconds: match spec.unit {
                TimeUnit::Second => 1,
                TimeUnit::Minute => 60,
                TimeUnit::Hour => 3600,
                TimeUnit::Day => 86_400,
            },
            api_limit: spec.api_default,
            user_limit: spec.user_default,
            app_limit: spec.app_default,
            app_specials: specials(SpecialType::App),
            user_specials: specials(SpecialType::User),
        }
    }

    /// Admits the request or refuses it with 429; `app` is the App's id, `user` its owner.
    pub fn admit(&self, counters: &TrafficCounters, app: Option<&str>, user: Option<&str>) -> Result<(), GatewayError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        let window = now / self.window_seconds;
        let retry_after = (window + 1) * self.window_seconds - now;
        let refuse = |by: &'static str| GatewayError::Throttled { by, retry_after };
        if let Some(app) = app {
            let limit = self.app_specials.get(app).copied().or(self.app_limit);
            if let Some(limit) = limit
                && !counters.admit(format!("{}|app|{app}", self.key), window, limit)
            {
                return Err(refuse("APP"));
            }
        }
        if let Some(user) = user {
            let limit = self.user_specials.get(user).copied().or(self.user_limit);
            if let Some(limit) = limit
                && !counters.admit(format!("{}|user|{user}", self.key), window, limit)
            {
                return Err(refuse("USER"));
            }
        }
        if !counters.admit(format!("{}|api", self.key), window, self.api_limit) {
            return Err(refuse("API"));
        }
        Ok(())
    }
}
