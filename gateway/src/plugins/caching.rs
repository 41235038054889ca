//! The caching plugin (Alibaba's): a GET answer is kept in this pod's
//! [`ResponseCache`](crate::state::response_cache::ResponseCache) and served again without
//! the backend. The key is the Api, stage and path, plus what `varyByApp`,
//! `varyByParameters` and `varyByHeaders` name. How long an answer is kept: the backend's
//! `Cache-Control` (`s-maxage`, `max-age`; never with `no-store`, `no-cache` or `private`),
//! else its `Expires`, else `duration`; at most 172,800 s. Answers that set cookies are never
//! kept.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use apigw_core::resources::{Caching, ClientCacheMode};
use http::{HeaderMap, HeaderName, header};

/// The longest an answer is kept, whatever the backend says (Alibaba's bound).
pub const MAX_TTL: Duration = Duration::from_secs(172_800);
/// The largest body kept (known from Content-Length; longer or unknown-length ones pass).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Answer headers always kept.
const KEPT: [HeaderName; 3] = [header::CONTENT_TYPE, header::CONTENT_ENCODING, header::CONTENT_LANGUAGE];

/// A caching plugin, compiled for one Api.
#[derive(Debug)]
pub struct CompiledCaching {
    /// The Api and stage, the start of every key.
    prefix: String,
    vary_by_app: bool,
    /// Indexes of the declared parameters keys vary by.
    vary_by_parameters: Vec<usize>,
    vary_by_headers: Vec<HeaderName>,
    client_cache_control: ClientCacheMode,
    /// The appIds that may skip the cache (mode apps).
    bypassing_apps: Vec<String>,
    kept_headers: Vec<HeaderName>,
    duration: Duration,
}

impl CompiledCaching {
    /// Compiles the plugin for the Api keyed `api` (namespace, group, name, stage), whose
    /// declared parameters `parameter` finds by name.
    pub fn compile(config: &Caching, api: &str, parameter: impl Fn(&str) -> Option<usize>) -> Result<Self, String> {
        let vary_by_parameters = config
            .vary_by_parameters
            .iter()
            .map(|name| parameter(name).ok_or_else(|| format!("varyByParameters: {name} is not a declared parameter")))
            .collect::<Result<_, _>>()?;
        let headers = |names: &[String], field: &str| {
            names
                .iter()
                .map(|name| HeaderName::try_from(name.as_str()).map_err(|error| format!("{field} {name:?}: {error}")))
                .collect::<Result<Vec<_>, _>>()
        };
        let control = config.client_cache_control.clone().unwrap_or_default();
        Ok(Self {
            prefix: api.to_owned(),
            vary_by_app: config.vary_by_app,
            vary_by_parameters,
            vary_by_headers: headers(&config.vary_by_headers, "varyByHeaders")?,
            client_cache_control: control.mode,
            bypassing_apps: control.apps.iter().map(i64::to_string).collect(),
            kept_headers: KEPT.into_iter().chain(headers(&config.cacheable_headers, "cacheableHeaders")?).collect(),
            duration: Duration::from_secs(u64::from(config.duration.unwrap_or(300))),
        })
    }

    /// The key of a request for `path` by `app` with the declared parameters' `values` and
    /// `headers`.
    pub fn key(&self, path: &str, app: Option<&str>, values: &[Option<Cow<'_, str>>], headers: &HeaderMap) -> String {
        // Parts are separated by NUL, which none of them can hold.
        let mut key = String::with_capacity(self.prefix.len() + path.len() + 32);
        key.push_str(&self.prefix);
        key.push('\0');
        key.push_str(path);
        if self.vary_by_app {
            key.push('\0');
            key.push_str(app.unwrap_or_default());
        }
        for index in &self.vary_by_parameters {
            key.push('\0');
            key.push_str(values.get(*index).and_then(Option::as_deref).unwrap_or_default());
        }
        for name in &self.vary_by_headers {
            key.push('\0');
            for value in headers.get_all(name) {
                key.push_str(&String::from_utf8_lossy(value.as_bytes()));
            }
        }
        key
    }

    /// Whether the client asks (with `Cache-Control: no-cache` or `max-age=0`) to skip the cache
    /// and may.
    pub fn skipped(&self, headers: &HeaderMap, app: Option<&str>) -> bool {
        let may = match self.client_cache_control {
            ClientCacheMode::Off => false,
            ClientCacheMode::All => true,
            ClientCacheMode::Apps => app.is_some_and(|app| self.bypassing_apps.iter().any(|allowed| allowed == app)),
        };
        may && directives(headers).any(|(name, value)| name == "no-cache" || (name == "max-age" && value == Some("0")))
    }

    /// How long an answer with `headers` is kept; `None`: it is not.
    pub fn ttl(&self, headers: &HeaderMap) -> Option<Duration> {
        if headers.contains_key(header::SET_COOKIE) {
            return None;
        }
        let mut max_age = None;
        let mut shared_max_age = None;
        for (name, value) in directives(headers) {
            let seconds = || value.and_then(|value| value.parse::<u64>().ok()).map(Duration::from_secs);
            match name.as_str() {
                "no-store" | "no-cache" | "private" => return None,
                "max-age" => max_age = seconds(),
                "s-maxage" => shared_max_age = seconds(),
                _ => {}
            }
        }
        let expires = || {
            let expires = headers.get(header::EXPIRES)?.to_str().ok()?;
            let expires = httpdate::parse_http_date(expires).ok()?;
            Some(expires.duration_since(SystemTime::now()).unwrap_or_default())
        };
        let ttl = match shared_max_age.or(max_age) {
            Some(ttl) => ttl,
            None if headers.contains_key(header::EXPIRES) => expires()?,
            None => self.duration,
        };
        (!ttl.is_zero()).then(|| ttl.min(MAX_TTL))
    }

    /// The answer headers kept.
    pub fn kept_headers<'h>(
        &'h self,
        headers: &'h HeaderMap,
    ) -> impl Iterator<Item = (&'h HeaderName, &'h http::HeaderValue)> {
        self.kept_headers.iter().flat_map(move |name| headers.get_all(name).iter().map(move |value| (name, value)))
    }
}

/// The directives of `Cache-Control`, lower-case, with their values.
fn directives(headers: &HeaderMap) -> impl Iterator<Item = (String, Option<&str>)> {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|directive| {
            let (name, value) =
                directive.split_once('=').map_or((directive, None), |(name, value)| (name, Some(value)));
            (name.trim().to_ascii_lowercase(), value.map(|value| value.trim().trim_matches('"')))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caching(spec: serde_json::Value) -> CompiledCaching {
        let config: Caching = serde_json::from_value(spec).expect("a caching spec");
        let declared = ["userId", "lang"];
        CompiledCaching::compile(&config, "ns/g/a/RELEASE", |name| declared.iter().position(|d| *d == name))
            .expect("compiles")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (HeaderName::try_from(*name).unwrap(), value.parse().unwrap())).collect()
    }

    #[test]
    fn keys_vary_by_what_the_plugin_names_only() {
        let plugin =
            caching(serde_json::json!({"varyByApp": true, "varyByParameters": ["lang"], "varyByHeaders": ["Accept"]}));
        let values = [Some(Cow::Borrowed("7")), Some(Cow::Borrowed("en"))];
        let other_user = [Some(Cow::Borrowed("8")), Some(Cow::Borrowed("en"))];
        let json = headers(&[("accept", "application/json")]);
        let key = plugin.key("/a", Some("1"), &values, &json);
        assert_eq!(key, plugin.key("/a", Some("1"), &other_user, &json), "userId is not named");
        assert_ne!(key, plugin.key("/a", Some("2"), &values, &json), "by App");
        assert_ne!(key, plugin.key("/a", Some("1"), &[None, Some(Cow::Borrowed("zh"))], &json), "by lang");
        assert_ne!(key, plugin.key("/a", Some("1"), &values, &headers(&[("accept", "text/html")])), "by Accept");
        assert_ne!(key, plugin.key("/b", Some("1"), &values, &json), "by path");
        let declared: [&str; 0] = [];
        let undeclared = serde_json::from_value(serde_json::json!({"varyByParameters": ["nope"]})).unwrap();
        assert!(CompiledCaching::compile(&undeclared, "k", |name| declared.iter().position(|d| *d == name)).is_err());
    }

    #[test]
    fn the_backend_decides_how_long_else_the_duration() {
        let plugin = caching(serde_json::json!({"duration": 60}));
        let ttl = |pairs: &[(&str, &str)]| plugin.ttl(&headers(pairs)).map(|ttl| ttl.as_secs());
        assert_eq!(ttl(&[]), Some(60));
        assert_eq!(ttl(&[("cache-control", "public, max-age=10")]), Some(10));
        assert_eq!(ttl(&[("cache-control", "max-age=10, s-maxage=20")]), Some(20));
        assert_eq!(ttl(&[("cache-control", "max-age=999999")]), Some(172_800), "at most two days");
        for refused in ["no-store", "no-cache", "private, max-age=60", "max-age=0"] {
            assert_eq!(ttl(&[("cache-control", refused)]), None, "{refused}");
        }
        assert_eq!(ttl(&[("set-cookie", "a=b")]), None);
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        assert!(ttl(&[("expires", &later)]).is_some_and(|ttl| (118..=120).contains(&ttl)));
        assert_eq!(ttl(&[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]), None);
    }

    #[test]
    fn clients_skip_the_cache_only_where_the_plugin_lets_them() {
        let no_cache = headers(&[("cache-control", "no-cache")]);
        assert!(!caching(serde_json::json!({})).skipped(&no_cache, Some("1")));
        assert!(caching(serde_json::json!({"clientCacheControl": {"mode": "all"}})).skipped(&no_cache, None));
        let apps = caching(serde_json::json!({"clientCacheControl": {"mode": "apps", "apps": [1]}}));
        assert!(apps.skipped(&no_cache, Some("1")) && !apps.skipped(&no_cache, Some("2")));
        assert!(!apps.skipped(&HeaderMap::new(), Some("1")), "without Cache-Control it is served from the cache");
    }
}
