//! The routing plugin at request time: the plugin's parameters read from the request, then the
//! first route whose condition holds picks the backend (no match keeps the Api's own).

use apigw_core::condition::Condition;
use apigw_core::config::RoutingConfig;
use apigw_core::resources::RouteParameterLocation;
use http::{HeaderName, HeaderValue};

use crate::compiled::CompiledBackend;
use crate::plugin_parameters::{PluginParameters, RequestInputs};

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
