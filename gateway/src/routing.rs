//! The routing plugin at request time: the plugin's parameters read from the request, then the
//! first route whose condition holds picks the backend (no match keeps the Api's own).

use std::borrow::Cow;

use apigw_core::condition::{Condition, Parameters};
use apigw_core::config::RoutingConfig;
use apigw_core::resources::RouteParameterLocation;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::compiled::CompiledBackend;

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
    /// Sources that need a later release (JWT claims, JSON bodies, host templates, form fields):
    /// always null for now.
    Unavailable,
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
            "token" | "bodyjson" | "bodyjsonfield" | "host" | "form" | "statuscode" | "errorcode" => {
                Source::Unavailable
            }
            _ => return Err(format!("{text}: unknown parameter source")),
        })
    }
}

/// One route, compiled.
#[derive(Debug)]
pub struct CompiledRoute {
    /// Sent to the backend as `X-Ca-Routing-Name`.
    pub name: HeaderValue,
    condition: Condition,
    /// The merged backend; `None` when incomplete.
    pub backend: Option<CompiledBackend>,
    /// Header constants.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Query constants.
    pub query: Vec<(String, String)>,
}

/// A routing plugin, compiled for one API in one stage.
#[derive(Debug)]
pub struct CompiledRouting {
    parameters: Vec<(String, Source)>,
    routes: Vec<CompiledRoute>,
}

/// What a condition can read about the request (`'a`: the request's data).
pub struct RouteInputs<'f, 'a> {
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
}

/// The plugin's parameter values for one request, and the system parameters.
struct Values<'r, 'f, 'i> {
    plugin: Vec<(&'r str, Option<Cow<'i, str>>)>,
    system: &'f dyn Fn(&str) -> Option<&'i str>,
}

impl Parameters for Values<'_, '_, '_> {
    fn get(&self, name: &str) -> Option<&str> {
        match self.plugin.iter().find(|(declared, _)| *declared == name) {
            Some((_, value)) => value.as_deref(),
            None => (self.system)(name),
        }
    }
}

impl CompiledRouting {
    /// Compiles a routing config; `backend` compiles each merged backend.
    pub fn compile(
        config: &RoutingConfig,
        mut backend: impl FnMut(&apigw_core::config::BackendConfig) -> Result<CompiledBackend, String>,
    ) -> Result<Self, String> {
        let parameters = config
            .parameters
            .iter()
            .map(|(name, source)| Ok((name.clone(), Source::parse(source)?)))
            .collect::<Result<_, String>>()?;
        let routes = config
            .routes
            .iter()
            .map(|route| {
                let condition = Condition::parse(&route.condition).map_err(|e| format!("route {}: {e}", route.name))?;
                let name =
                    HeaderValue::try_from(route.name.as_str()).map_err(|e| format!("route {}: {e}", route.name))?;
                let mut headers = Vec::new();
                let mut query = Vec::new();
                for constant in &route.constant_parameters {
                    match constant.location {
                        RouteParameterLocation::Header => headers.push((
                            HeaderName::try_from(constant.name.as_str())
                                .map_err(|e| format!("route {}: {e}", route.name))?,
                            HeaderValue::try_from(constant.value.as_str())
                                .map_err(|e| format!("route {}: {e}", route.name))?,
                        )),
                        RouteParameterLocation::Query => query.push((constant.name.clone(), constant.value.clone())),
                    }
                }
                let backend = route.backend.as_ref().map(&mut backend).transpose()?;
                Ok(CompiledRoute { name, condition, backend, headers, query })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { parameters, routes })
    }

    /// The first route whose condition holds, if any.
    pub fn select<'r>(&'r self, inputs: &RouteInputs<'_, '_>) -> Option<&'r CompiledRoute> {
        let plugin = self.parameters.iter().map(|(name, source)| (name.as_str(), value(source, inputs))).collect();
        let values = Values { plugin, system: inputs.system };
        self.routes.iter().find(|route| route.condition.evaluate(&values))
    }
}

fn value<'a>(source: &Source, inputs: &RouteInputs<'_, 'a>) -> Option<Cow<'a, str>> {
    match source {
        Source::Query(name) => inputs.query.and_then(|query| {
            form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value)
        }),
        Source::Header(name) => inputs.headers.get(name).and_then(|value| value.to_str().ok()).map(Cow::Borrowed),
        Source::Parameter(name) => (inputs.declared)(name).map(Cow::Borrowed),
        Source::System(name) => (inputs.system)(name).map(Cow::Borrowed),
        Source::Xff(index) => {
            let entries: Vec<&'a str> = inputs
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .map(str::trim)
                .collect();
            let position = if *index < 0 {
                entries.len().checked_sub(index.unsigned_abs() as usize)
            } else {
                Some(*index as usize)
            };
            position.and_then(|position| entries.get(position)).map(|entry| Cow::Borrowed(*entry))
        }
        Source::Method => Some(Cow::Borrowed(inputs.method.as_str())),
        Source::Path => Some(Cow::Borrowed(inputs.path)),
        Source::Unavailable => None,
    }
}
