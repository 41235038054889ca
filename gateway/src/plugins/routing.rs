//! The routing plugin at request time: the plugin's parameters read from the request, then the
//! first route whose condition holds picks the backend (no match keeps the Api's own).

use apigw_core::condition::Condition;
use apigw_core::config::RoutingConfig;
use apigw_core::resources::RouteParameterLocation;
use http::{HeaderName, HeaderValue};

use crate::backend::target::CompiledBackend;
use crate::plugins::parameters::{PluginParameters, RequestInputs};

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
    parameters: PluginParameters,
    routes: Vec<CompiledRoute>,
}

impl CompiledRouting {
    /// Compiles a routing config; `backend` compiles each merged backend.
    pub fn compile(
        config: &RoutingConfig,
        mut backend: impl FnMut(&apigw_core::config::BackendConfig) -> Result<CompiledBackend, String>,
    ) -> Result<Self, String> {
        let parameters = PluginParameters::compile(&config.parameters)?;
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

    /// Whether its parameters read the request body.
    pub fn reads_body(&self) -> bool {
        self.parameters.reads_body()
    }

    /// The first route whose condition holds, if any.
    pub fn select<'r>(&'r self, inputs: &RequestInputs<'_, '_>) -> Option<&'r CompiledRoute> {
        let values = self.parameters.values(inputs);
        self.routes.iter().find(|route| route.condition.evaluate(&values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::target::MockAnswer;
    use crate::plugins::parameters::test_inputs;

    fn compile(config: serde_json::Value) -> CompiledRouting {
        let config: RoutingConfig = serde_json::from_value(config).expect("a routing config");
        let mock = |_: &apigw_core::config::BackendConfig| {
            let answer = MockAnswer { status: http::StatusCode::OK, headers: http::HeaderMap::new(), body: "b".into() };
            Ok(CompiledBackend::Mock(answer))
        };
        CompiledRouting::compile(&config, mock).expect("it compiles")
    }

    #[test]
    fn the_first_route_whose_condition_holds_is_chosen_with_its_constants() {
        let routing = compile(serde_json::json!({
            "plugin": "grey", "parameters": {"version": "Query:v", "lane": "Header:x-lane"},
            "routes": [
                {"name": "blue", "condition": "$lane = 'blue'", "constantParameters": [
                    {"name": "x-route", "location": "header", "value": "blue"},
                    {"name": "lane", "location": "query", "value": "b"}]},
                {"name": "new", "condition": "$version >= 3"}
            ]
        }));
        let chosen = |path: &str, headers| {
            test_inputs::with(path, headers, |inputs| routing.select(inputs).map(|route| route.name.clone()))
        };
        assert_eq!(chosen("/?v=3", &[("x-lane", "blue")]).unwrap(), "blue", "in order");
        assert_eq!(chosen("/?v=3", &[]).unwrap(), "new");
        assert_eq!(chosen("/?v=2", &[]), None, "no route: the Api's own backend");
        let blue = test_inputs::with("/", &[("x-lane", "blue")], |inputs| {
            let route = routing.select(inputs).expect("blue");
            (route.headers.clone(), route.query.clone(), route.backend.is_none())
        });
        assert_eq!(blue.0[0].1, "blue");
        assert_eq!(blue.1, vec![("lane".to_owned(), "b".to_owned())]);
        assert!(blue.2, "a route whose merged backend is incomplete has none (answered I504RB)");
    }
}
