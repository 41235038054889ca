//! The `parameters` of condition plugins (routing, access control): names bound to sources in
//! the request (`Query:x`, `Header:x`, `Parameter:x`, `System:x`, `XFF:-1`, `Method`, `Path`,
//! `Token:claim`),
//! read once per request and seen by conditions as `$name`, beside the system parameters.

use std::borrow::Cow;
use std::collections::BTreeMap;

use apigw_core::condition::Parameters;
use http::{HeaderMap, HeaderName, Method};

/// Where a plugin parameter's value comes from.
#[derive(Debug)]
enum Source {
    Query(String),
    Header(HeaderName),
    /// A declared Api parameter, by its client-side name (`Parameter:x`, `Path:x`).
    Parameter(String),
    System(String),
    /// An entry of `X-Forwarded-For`, negative from the end (-1 the last).
    Xff(i64),
    Method,
    Path,
    /// A claim of the token the jwtAuth plugin verified.
    Token(String),
    /// Sources that need a later release (host templates) or belong to the response phase:
    /// always null here.
    Unavailable,
    /// A field of an urlencoded form body.
    Form(String),
    /// A field of a JSON body: `$.a.b[0]`.
    BodyJson(Vec<Step>),
}

impl Source {
    fn parse(text: &str) -> Result<Self, String> {
        let (location, name) = text.split_once(':').unwrap_or((text, ""));
        Ok(match location.to_ascii_lowercase().as_str() {
            "method" => Source::Method,
            "path" if name.is_empty() => Source::Path,
            "query" => Source::Query(name.to_owned()),
            "header" => Source::Header(HeaderName::try_from(name).map_err(|e| format!("{text}: {e}"))?),
            "parameter" | "path" => Source::Parameter(name.to_owned()),
            "system" => Source::System(name.to_owned()),
            "xff" => Source::Xff(name.parse().map_err(|_| format!("{text}: XFF needs an index such as -1"))?),
            "form" => Source::Form(name.to_owned()),
            "bodyjson" | "bodyjsonfield" => {
                Source::BodyJson(json_path(name).ok_or_else(|| format!("{text}: expected a JSON path such as $.a.b"))?)
            }
            "token" => Source::Token(name.to_owned()),
            "host" | "statuscode" | "errorcode" => Source::Unavailable,
            _ => return Err(format!("{text}: unknown parameter source")),
        })
    }
}

/// What a condition can read about the request (`'a`: the request's data).
pub struct RequestInputs<'f, 'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request path.
    pub path: &'a str,
    /// The raw query.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Declared Api parameters by client-side name, with their values.
    pub declared: &'f dyn Fn(&str) -> Option<&'a str>,
    /// System parameters (`CaClientIp`, ...).
    pub system: &'f dyn Fn(&str) -> Option<&'a str>,
    /// The request body, when it was read.
    pub body: Option<&'a [u8]>,
    /// The claims of the verified JWT (empty without jwtAuth).
    pub claims: &'a serde_json::Map<String, serde_json::Value>,
}

/// The `X-Forwarded-For` entry at `index` over every line of the header (negative from the end:
/// -1 the last).
pub fn forwarded_entry(headers: &HeaderMap, index: i64) -> Option<&str> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let position = if index < 0 { entries.len().checked_sub(index.unsigned_abs() as usize)? } else { index as usize };
    entries.get(position).copied()
}

/// A plugin's parameter values for one request, and the system parameters.
pub struct Values<'r, 'f, 'i> {
    plugin: Vec<(&'r str, Option<Cow<'i, str>>)>,
    system: &'f dyn Fn(&str) -> Option<&'i str>,
}

impl Values<'_, '_, '_> {
    /// `text` with every `${name}` replaced by the parameter's value (empty when null).
    pub fn interpolate(&self, text: &str) -> String {
        interpolate(text, self)
    }
}

/// `text` with every `${name}` replaced by the parameter's value (empty when null).
pub fn interpolate(text: &str, parameters: &dyn Parameters) -> String {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(length) = rest[start + 2..].find('}') else { break };
        result.push_str(&rest[..start]);
        result.push_str(parameters.get(&rest[start + 2..start + 2 + length]).unwrap_or_default());
        rest = &rest[start + 3 + length..];
    }
    result.push_str(rest);
    result
}

impl Parameters for Values<'_, '_, '_> {
    fn get(&self, name: &str) -> Option<&str> {
        match self.plugin.iter().find(|(declared, _)| *declared == name) {
            Some((_, value)) => value.as_deref(),
            None => (self.system)(name),
        }
    }
}

/// A plugin's parameters, compiled.
#[derive(Debug, Default)]
pub struct PluginParameters {
    parameters: Vec<(String, Source)>,
}

impl PluginParameters {
    /// Compiles `name -> source`.
    pub fn compile(parameters: &BTreeMap<String, String>) -> Result<Self, String> {
        let parameters = parameters
            .iter()
            .map(|(name, source)| Ok((name.clone(), Source::parse(source)?)))
            .collect::<Result<_, String>>()?;
        Ok(Self { parameters })
    }

    /// Whether a parameter reads the request body (which must then be read before the plugin runs).
    pub fn reads_body(&self) -> bool {
        self.parameters.iter().any(|(_, source)| matches!(source, Source::Form(_) | Source::BodyJson(_)))
    }

    /// Reads every parameter from the request.
    pub fn values<'r, 'f, 'i>(&'r self, inputs: &RequestInputs<'f, 'i>) -> Values<'r, 'f, 'i> {
        let plugin = self.parameters.iter().map(|(name, source)| (name.as_str(), value(source, inputs))).collect();
        Values { plugin, system: inputs.system }
    }
}

fn value<'a>(source: &Source, inputs: &RequestInputs<'_, 'a>) -> Option<Cow<'a, str>> {
    match source {
        Source::Query(name) => inputs.query.and_then(|query| {
            form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value)
        }),
        Source::Header(name) => inputs.headers.get(name).and_then(|value| value.to_str().ok()).map(Cow::Borrowed),
        Source::Token(claim) => claim_text(inputs.claims, claim),
        Source::Parameter(name) => (inputs.declared)(name).map(Cow::Borrowed),
        Source::System(name) => (inputs.system)(name).map(Cow::Borrowed),
        Source::Xff(index) => forwarded_entry(inputs.headers, *index).map(Cow::Borrowed),
        Source::Method => Some(Cow::Borrowed(inputs.method.as_str())),
        Source::Path => Some(Cow::Borrowed(inputs.path)),
        Source::Unavailable => None,
        Source::Form(name) => inputs.body.filter(|_| crate::body::is_form(inputs.headers)).and_then(|body| {
            form_urlencoded::parse(body).find(|(key, _)| key == name).map(|(_, value)| Cow::Owned(value.into_owned()))
        }),
        Source::BodyJson(steps) => inputs
            .body
            .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
            .and_then(|json| field(&json, steps))
            .map(Cow::Owned),
    }
}

/// One step of a JSON path.
#[derive(Debug)]
pub enum Step {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// `$.a.b[0]` -> steps.
pub fn json_path(path: &str) -> Option<Vec<Step>> {
    let rest = path.strip_prefix('$')?;
    let mut steps = Vec::new();
    for part in rest.split('.').skip(1) {
        let (key, indexes) = part.split_once('[').map_or((part, ""), |(key, rest)| (key, rest));
        if !key.is_empty() {
            steps.push(Step::Key(key.to_owned()));
        }
        for index in indexes.split('[').filter(|index| !index.is_empty()) {
            steps.push(Step::Index(index.strip_suffix(']')?.parse().ok()?));
        }
    }
    Some(steps)
}

/// A JSON field as text: strings as they are, other scalars and structures as JSON; null is null.
pub fn field(json: &serde_json::Value, steps: &[Step]) -> Option<String> {
    let mut value = json;
    for step in steps {
        value = match step {
            Step::Key(key) => value.get(key)?,
            Step::Index(index) => value.get(*index)?,
        };
    }
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// A claim as a parameter value: strings as they are, other JSON as text, null as missing.
pub fn claim_text<'a>(claims: &'a serde_json::Map<String, serde_json::Value>, claim: &str) -> Option<Cow<'a, str>> {
    match claims.get(claim)? {
        serde_json::Value::String(text) => Some(Cow::Borrowed(text)),
        serde_json::Value::Null => None,
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// Request inputs for the plugins' unit tests.
#[cfg(test)]
pub(crate) mod test_inputs {
    use super::*;

    /// Runs `check` over a GET of `path_and_query` with `headers`, no declared or system
    /// parameters and no body.
    pub fn with<T>(
        path_and_query: &str,
        headers: &[(&'static str, &'static str)],
        check: impl FnOnce(&RequestInputs<'_, '_>) -> T,
    ) -> T {
        let (path, query) = path_and_query.split_once('?').map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        let headers: HeaderMap = headers
            .iter()
            .map(|(name, value)| (http::HeaderName::from_static(name), http::HeaderValue::from_static(value)))
            .collect();
        let claims = serde_json::Map::new();
        let none = |_: &str| None;
        let inputs = RequestInputs {
            method: &Method::GET,
            path,
            query,
            headers: &headers,
            declared: &none,
            system: &none,
            body: None,
            claims: &claims,
        };
        check(&inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_paths() {
        let json = serde_json::json!({"a": {"b": [{"c": "x"}, {"c": 2}]}, "ok": true});
        let read = |path: &str| field(&json, &json_path(path).expect("a path"));
        assert_eq!(read("$.a.b[0].c").as_deref(), Some("x"));
        assert_eq!(read("$.a.b[1].c").as_deref(), Some("2"));
        assert_eq!(read("$.ok").as_deref(), Some("true"));
        assert_eq!(read("$.missing"), None);
        assert!(json_path("a.b").is_none());
    }
}
