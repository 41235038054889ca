//! The traffic-control plugin: request limits per API, per user and per App (with specials for
//! particular Apps or users), each counted in fixed windows of the plugin's unit (second,
//! minute, hour, day). Counts are exact per gateway pod; docs/traffic-control.md says what that
//! means with several pods.

use std::borrow::Cow;
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
    /// `<key>|api`, the Api's counter.
    api_key: String,
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
    fn admit(&self, key: &str, window: u64, limit: u32) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (seen, _)| *seen >= window);
        }
        let entry = match windows.get_mut(key) {
            Some(entry) => entry,
            // The key is copied only the first time it is counted.
            None => windows.entry(key.to_owned()).or_insert((window, 0)),
        };
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
            api_key: format!("{key}|api"),
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

    /// The counters a request increments, in the order they are checked: the App's, the
    /// user's, the API's; `app` is the App's id, `user` its owner.
    pub fn checks(&self, app: Option<&str>, user: Option<&str>) -> Checks<'_> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        let window = now / self.window_seconds;
        let mut items = Vec::with_capacity(3);
        if let Some(app) = app
            && let Some(limit) = self.app_specials.get(app).copied().or(self.app_limit)
        {
            items.push(("APP", Cow::Owned(format!("{}|app|{app}", self.key)), limit));
        }
        if let Some(user) = user
            && let Some(limit) = self.user_specials.get(user).copied().or(self.user_limit)
        {
            items.push(("USER", Cow::Owned(format!("{}|user|{user}", self.key)), limit));
        }
        items.push(("API", Cow::Borrowed(self.api_key.as_str()), self.api_limit));
        Checks {
            window,
            window_seconds: self.window_seconds,
            retry_after: (window + 1) * self.window_seconds - now,
            items,
        }
    }
}

/// The counters one request increments in the current window.
#[derive(Debug)]
pub struct Checks<'a> {
    window: u64,
    window_seconds: u64,
    retry_after: u64,
    /// `(who is limited, counter key, limit)`.
    items: Vec<(&'static str, Cow<'a, str>, u32)>,
}

impl Checks<'_> {
    /// Counts on this pod: admitted, or 429 by the first limit reached.
    pub fn count_locally(&self, counters: &TrafficCounters) -> Result<(), GatewayError> {
        match self.items.iter().position(|(_, key, limit)| !counters.admit(key, self.window, *limit)) {
            Some(index) => Err(self.refused(index)),
            None => Ok(()),
        }
    }

    /// The counters as `(key of this window, limit)`, for the shared store.
    pub fn windowed(&self) -> Vec<(String, u32)> {
        self.items.iter().map(|(_, key, limit)| (format!("{key}|{}", self.window), *limit)).collect()
    }

    /// The window's length.
    pub fn window_seconds(&self) -> u64 {
        self.window_seconds
    }

    /// The 429 of the limit at `index`.
    pub fn refused(&self, index: usize) -> GatewayError {
        GatewayError::Throttled {
            by: self.items.get(index).map_or("API", |(by, _, _)| by),
            retry_after: self.retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(spec: serde_json::Value) -> CompiledTrafficControl {
        let spec = serde_json::from_value(spec).expect("a trafficControl spec");
        CompiledTrafficControl::compile(&NamedPlugin { plugin: "test".into(), spec }, "ns/shop/items/RELEASE".into())
    }

    /// How many of `requests` calls by `app` (owned by `user`) are admitted.
    fn admitted(limits: &CompiledTrafficControl, counters: &TrafficCounters, app: Option<&str>, requests: u32) -> u32 {
        (0..requests).filter(|_| limits.checks(app, app.map(|_| "owner")).count_locally(counters).is_ok()).count()
            as u32
    }

    #[test]
    fn the_api_limit_holds_for_everyone_in_a_window() {
        let limits = compile(serde_json::json!({"unit": "DAY", "apiDefault": 3}));
        let counters = TrafficCounters::default();
        assert_eq!(admitted(&limits, &counters, None, 5), 3);
        let refused = limits.checks(None, None).count_locally(&counters).unwrap_err();
        assert!(matches!(refused, GatewayError::Throttled { by: "API", retry_after } if retry_after <= 86_400));
    }

    #[test]
    fn app_limits_and_specials_come_before_the_api_limit() {
        let limits = compile(serde_json::json!({
            "unit": "DAY", "apiDefault": 100, "appDefault": 2,
            "specials": [{"type": "APP", "policies": [{"key": 42, "value": 4}]}]
        }));
        let counters = TrafficCounters::default();
        assert_eq!(admitted(&limits, &counters, Some("7"), 5), 2, "the App default");
        assert_eq!(admitted(&limits, &counters, Some("42"), 5), 4, "App 42's special");
        let refused = limits.checks(Some("7"), Some("owner")).count_locally(&counters).unwrap_err();
        assert!(matches!(refused, GatewayError::Throttled { by: "APP", .. }));
        let keys: Vec<String> =
            limits.checks(Some("7"), Some("owner")).windowed().into_iter().map(|(key, _)| key).collect();
        assert!(keys[0].starts_with("ns/shop/items/RELEASE|app|7|"), "{keys:?}");
        assert!(keys.last().unwrap().starts_with("ns/shop/items/RELEASE|api|"), "{keys:?}");
    }
}
