//! The traffic-control plugin: request limits per API, per user and per App (with specials for
//! particular Apps or users), each counted in fixed windows of the plugin's unit (second,
//! minute, hour, day). Counts are exact per gateway pod; docs/traffic-control.md says what that
//! means with several pods.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use apigw_core::config::NamedPlugin;
use apigw_core::resources::{SpecialType, TimeUnit, TrafficControl};
use fnv::FnvHashMap;
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

/// Past this many counters in one map, those of past windows are dropped.
const MAX_COUNTERS: usize = 100_000;

/// Counters of the current windows, shared by the worker threads: by Api, then by App and by
/// user, so that counting a request builds no key.
#[derive(Debug, Default)]
pub struct TrafficCounters {
    apis: Mutex<FnvHashMap<String, ApiCounters>>,
}

/// One Api's counters.
#[derive(Debug, Default)]
struct ApiCounters {
    api: Window,
    apps: FnvHashMap<String, Window>,
    users: FnvHashMap<String, Window>,
}

/// Requests counted in a window: `(window, count)`.
#[derive(Debug, Default, Clone, Copy)]
struct Window(u64, u32);

impl Window {
    /// Counts one request in `window`; false when `limit` is already reached.
    fn admit(&mut self, window: u64, limit: u32) -> bool {
        if self.0 != window {
            *self = Self(window, 0);
        }
        if self.1 >= limit {
            return false;
        }
        self.1 += 1;
        true
    }
}

/// The counter of `who` in `map`, made the first time `who` is counted (the only copy of the
/// key); past [`MAX_COUNTERS`], the counters of windows before `window` go first.
fn counter<'m, T: Default>(
    map: &'m mut FnvHashMap<String, T>,
    who: &str,
    window: u64,
    current: impl Fn(&T) -> u64,
) -> &'m mut T {
    if map.len() > MAX_COUNTERS {
        map.retain(|_, counter| current(counter) >= window);
    }
    if !map.contains_key(who) {
        map.insert(who.to_owned(), T::default());
    }
    map.get_mut(who).expect("inserted above")
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

    /// The counters a request increments, in the order they are checked: the App's, the
    /// user's, the API's; `app` is the App's id, `user` its owner.
    pub fn checks<'a>(&'a self, app: Option<&'a str>, user: Option<&'a str>) -> Checks<'a> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        let window = now / self.window_seconds;
        let mut checks = Checks {
            key: &self.key,
            window,
            window_seconds: self.window_seconds,
            retry_after: (window + 1) * self.window_seconds - now,
            limits: [Limit { by: Limited::Api, who: "", limit: self.api_limit }; 3],
            len: 0,
        };
        if let Some(app) = app
            && let Some(limit) = self.app_specials.get(app).copied().or(self.app_limit)
        {
            checks.push(Limit { by: Limited::App, who: app, limit });
        }
        if let Some(user) = user
            && let Some(limit) = self.user_specials.get(user).copied().or(self.user_limit)
        {
            checks.push(Limit { by: Limited::User, who: user, limit });
        }
        checks.push(Limit { by: Limited::Api, who: "", limit: self.api_limit });
        checks
    }
}

/// Whose limit a counter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limited {
    App,
    User,
    Api,
}

impl Limited {
    /// As the 429's `X-Ca-Error-Message` and the shared store's keys name it.
    fn name(self) -> &'static str {
        match self {
            Self::App => "APP",
            Self::User => "USER",
            Self::Api => "API",
        }
    }
}

/// One limit a request counts against.
#[derive(Debug, Clone, Copy)]
struct Limit<'a> {
    by: Limited,
    /// The App's id or the user; empty for the Api's limit.
    who: &'a str,
    limit: u32,
}

/// The counters one request increments in the current window.
#[derive(Debug)]
pub struct Checks<'a> {
    /// The Api's key.
    key: &'a str,
    window: u64,
    window_seconds: u64,
    retry_after: u64,
    /// The first `len` are checked, in order.
    limits: [Limit<'a>; 3],
    len: usize,
}

impl<'a> Checks<'a> {
    fn push(&mut self, limit: Limit<'a>) {
        self.limits[self.len] = limit;
        self.len += 1;
    }

    fn limits(&self) -> &[Limit<'a>] {
        &self.limits[..self.len]
    }

    /// Counts on this pod: admitted, or 429 by the first limit reached.
    pub fn count_locally(&self, counters: &TrafficCounters) -> Result<(), GatewayError> {
        let mut apis = counters.apis.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let api = counter(&mut apis, self.key, self.window, |api: &ApiCounters| api.api.0);
        let window = self.window;
        for (index, limit) in self.limits().iter().enumerate() {
            let counted = match limit.by {
                Limited::App => counter(&mut api.apps, limit.who, window, |counted: &Window| counted.0),
                Limited::User => counter(&mut api.users, limit.who, window, |counted: &Window| counted.0),
                Limited::Api => &mut api.api,
            };
            if !counted.admit(window, limit.limit) {
                return Err(self.refused(index));
            }
        }
        Ok(())
    }

    /// The counters as `(key of this window, limit)`, for the shared store:
    /// `<api key>|app|<app id>|<window>`, `<api key>|user|<user>|<window>`, `<api key>|api|<window>`.
    pub fn windowed(&self) -> Vec<(String, u32)> {
        let (key, window) = (self.key, self.window);
        let windowed = |limit: &Limit<'_>| match limit.by {
            Limited::App => format!("{key}|app|{}|{window}", limit.who),
            Limited::User => format!("{key}|user|{}|{window}", limit.who),
            Limited::Api => format!("{key}|api|{window}"),
        };
        self.limits().iter().map(|limit| (windowed(limit), limit.limit)).collect()
    }

    /// The window's length.
    pub fn window_seconds(&self) -> u64 {
        self.window_seconds
    }

    /// The 429 of the limit at `index`.
    pub fn refused(&self, index: usize) -> GatewayError {
        GatewayError::Throttled {
            by: self.limits().get(index).map_or("API", |limit| limit.by.name()),
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
