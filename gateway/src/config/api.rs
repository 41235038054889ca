//! One API in one stage, compiled for the request path: checks, mappings and the backend, with
//! stage variables already replaced.

use std::sync::Arc;

use apigw_core::config::{ApiConfig, GroupConfig};
use apigw_core::parameter::ParameterCheck;
use apigw_core::path_template::PathTemplate;
use apigw_core::resources::{
    ApiAuth, BackendParameter, ParameterLocation, ParameterMode, Protocol, SystemParameterName,
};
use http::{HeaderName, HeaderValue};

use crate::backend::target::{CompiledBackend, compile_backend};
use crate::backend::upstream::Upstream;
use crate::plugins::access_control::CompiledAccessControl;
use crate::plugins::backend_signature::BackendSigner;
use crate::plugins::basic_auth::CompiledBasicAuth;
use crate::plugins::caching::CompiledCaching;
use crate::plugins::circuit_breaker::CompiledBreaker;
use crate::plugins::cors::CompiledCors;
use crate::plugins::error_mapping::CompiledErrorMapping;
use crate::plugins::ip_control::CompiledIpControl;
use crate::plugins::jwt_auth::CompiledJwtAuth;
use crate::plugins::remote_auth::CompiledRemoteAuth;
use crate::plugins::routing::CompiledRouting;
use crate::plugins::traffic_control::CompiledTrafficControl;
use crate::secrets::Secrets;
use crate::telemetry::metrics::{ApiLabels, ApiMetrics};

/// Why a config could not be compiled; the whole config is refused.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The document's format is not the one this gateway reads.
    #[error("config format {0:?} is not {expected:?}", expected = apigw_core::config::CONFIG_FORMAT)]
    Format(String),
    /// An API could not be compiled.
    #[error("Api {namespace}/{api}: {message}")]
    Api {
        /// The group's namespace.
        namespace: String,
        /// The API.
        api: String,
        /// What is wrong.
        message: String,
    },
    /// A host's certificate could not be loaded.
    #[error("TLS for {host}: {message}")]
    Tls {
        /// The host.
        host: String,
        /// What is wrong.
        message: String,
    },
    /// The source named an Api to take over from the last config that it does not hold as it was.
    #[error("Api {0} was to be kept from the last config, which does not hold it as it was")]
    NotKept(String),
    /// Two routes collide in the router.
    #[error("host {host}: route {path}: {message}")]
    Route {
        /// The host.
        host: String,
        /// The route.
        path: String,
        /// The router's complaint.
        message: String,
    },
}

/// A declared parameter: its check, and where it goes in MAPPING mode.
#[derive(Debug)]
pub struct CompiledParameter {
    /// Type, pattern, enum, lengths, range.
    pub check: ParameterCheck,
    /// Where the client sends it.
    pub location: ParameterLocation,
    /// A PATH parameter's position among the path's parameters.
    pub path_index: Option<usize>,
    /// Where the backend receives it.
    pub target: BackendParameter,
    /// The target's header name, parsed once, when the target is a header.
    pub target_header: Option<HeaderName>,
}

/// A value added to every backend request.
#[derive(Debug)]
pub struct CompiledConstant {
    /// Where it goes.
    pub location: ParameterLocation,
    /// Its name there.
    pub name: String,
    /// Its value.
    pub value: String,
    /// The header, parsed once, when it goes in a header.
    pub header: Option<(HeaderName, HeaderValue)>,
}

/// One API in one stage, ready to serve.
#[derive(Debug)]
pub struct CompiledApi {
    /// Group namespace (metric label).
    pub namespace: Arc<String>,
    /// Group name (metric label).
    pub group: Arc<String>,
    /// API name (`$CaApiName`, metric label).
    pub name: Arc<String>,
    /// Stage served (`$CaStage`, metric label).
    pub stage: Arc<String>,
    /// Protocols allowed.
    pub protocols: Vec<Protocol>,
    /// Authentication settings.
    pub auth: ApiAuth,
    /// Path parameter names, by position in the path.
    pub path_params: Vec<String>,
    /// MAPPING or PASSTHROUGH.
    pub mode: ParameterMode,
    /// Declared parameters.
    pub parameters: Vec<CompiledParameter>,
    /// Whether the request body must be read before forwarding (FORM or BODY parameters).
    pub reads_body: bool,
    /// Constant parameters.
    pub constants: Vec<CompiledConstant>,
    /// System parameters.
    pub system: Vec<(SystemParameterName, BackendParameter)>,
    /// Where the request goes.
    pub backend: CompiledBackend,
    /// Its metric handles.
    pub metrics: ApiMetrics,
    /// Its routing plugin.
    pub routing: Option<Box<CompiledRouting>>,
    /// Its access-control plugin.
    pub access_control: Option<Box<CompiledAccessControl>>,
    /// Its error-mapping plugin.
    pub error_mapping: Option<Box<CompiledErrorMapping>>,
    /// Its IP-control plugin.
    pub ip_control: Option<Box<CompiledIpControl>>,
    /// Its CORS plugin.
    pub cors: Option<Box<CompiledCors>>,
    /// Its traffic-control plugin.
    pub traffic_control: Option<Box<CompiledTrafficControl>>,
    /// Its backend-signature plugin.
    pub backend_signer: Option<Box<BackendSigner>>,
    /// Its jwtAuth plugin.
    pub jwt_auth: Option<Box<CompiledJwtAuth>>,
    /// Its basicAuth plugin.
    pub basic_auth: Option<Box<CompiledBasicAuth>>,
    /// Its caching plugin.
    pub caching: Option<Box<CompiledCaching>>,
    /// Its remoteAuth plugin.
    pub remote_auth: Option<Box<CompiledRemoteAuth>>,
    /// Its circuit breaker (a plugin's, else the default).
    pub circuit_breaker: CompiledBreaker,
}

impl CompiledApi {
    /// Compiles `api` of `group` for `stage`.
    pub fn compile(
        secrets: &Secrets,
        group: &GroupConfig,
        api: &ApiConfig,
        stage: &str,
        upstreams: &std::collections::HashMap<String, Arc<Upstream>>,
    ) -> Result<Self, CompileError> {
        let error =
            |message: String| CompileError::Api { namespace: group.namespace.clone(), api: api.name.clone(), message };
        let template = PathTemplate::parse(&api.path).map_err(|e| error(e.to_string()))?;
        let path_params: Vec<String> = template.params().map(str::to_owned).collect();
        let parameters = api
            .parameters
            .iter()
            .map(|parameter| {
                let target = parameter
                    .backend
                    .clone()
                    .unwrap_or_else(|| BackendParameter { name: parameter.name.clone(), location: parameter.location });
                let target_header = (target.location == ParameterLocation::Header)
                    .then(|| HeaderName::try_from(target.name.as_str()))
                    .transpose()
                    .map_err(|e| {
                        error(format!("parameter {}: backend header {:?}: {e}", parameter.name, target.name))
                    })?;
                Ok(CompiledParameter {
                    check: ParameterCheck::compile(parameter).map_err(|e| error(e.0))?,
                    location: parameter.location,
                    path_index: path_params.iter().position(|name| *name == parameter.name),
                    target,
                    target_header,
                })
            })
            .collect::<Result<Vec<_>, CompileError>>()?;
        let constants = api
            .constant_parameters
            .iter()
            .map(|constant| {
                let header = match constant.location {
                    ParameterLocation::Header => Some(
                        HeaderName::try_from(constant.name.as_str())
                            .map_err(|e| e.to_string())
                            .and_then(|name| {
                                Ok((name, HeaderValue::try_from(constant.value.as_str()).map_err(|e| e.to_string())?))
                            })
                            .map_err(|e| error(format!("constant parameter {}: {e}", constant.name)))?,
                    ),
                    _ => None,
                };
                Ok(CompiledConstant {
                    location: constant.location,
                    name: constant.name.clone(),
                    value: constant.value.clone(),
                    header,
                })
            })
            .collect::<Result<Vec<_>, CompileError>>()?;

        let variables = group.stages.get(stage).cloned().unwrap_or_default();
        let backend = compile_backend(&api.backend, &variables, upstreams).map_err(error)?;
        let routing = api
            .routing
            .as_ref()
            .map(|routing| {
                CompiledRouting::compile(routing, |backend| compile_backend(backend, &variables, upstreams))
                    .map(Box::new)
            })
            .transpose()
            .map_err(|message| error(format!("RoutingPlugin: {message}")))?;
        let access_control = api
            .access_control
            .as_ref()
            .map(|control| CompiledAccessControl::compile(control).map(Box::new))
            .transpose()
            .map_err(|message| error(format!("accessControl: {message}")))?;
        let error_mapping = api
            .error_mapping
            .as_ref()
            .map(|mapping| CompiledErrorMapping::compile(mapping).map(Box::new))
            .transpose()
            .map_err(|message| error(format!("errorMapping: {message}")))?;
        let ip_control = api
            .ip_control
            .as_ref()
            .map(|control| CompiledIpControl::compile(control).map(Box::new))
            .transpose()
            .map_err(|message| error(format!("ipControl: {message}")))?;
        let cors = api
            .cors
            .as_ref()
            .map(|cors| CompiledCors::compile(cors).map(Box::new))
            .transpose()
            .map_err(|message| error(format!("cors: {message}")))?;
        let jwt_auth = api
            .jwt_auth
            .as_ref()
            .map(|jwt| CompiledJwtAuth::compile(jwt, &group.namespace, secrets).map(Box::new))
            .transpose()
            .map_err(|message| error(format!("jwtAuth: {message}")))?;
        let basic_auth = api
            .basic_auth
            .as_ref()
            .map(|basic| CompiledBasicAuth::compile(basic, secrets).map(Box::new))
            .transpose()
            .map_err(|message| error(format!("basicAuth: {message}")))?;
        let remote_auth = api
            .remote_auth
            .as_ref()
            .map(|remote| {
                CompiledRemoteAuth::compile(remote, || compile_backend(&remote.service, &variables, upstreams))
                    .map(Box::new)
            })
            .transpose()
            .map_err(|message| error(format!("remoteAuth: {message}")))?;
        let key = format!("{}/{}/{}/{stage}", group.namespace, group.name, api.name);
        let downgrade = api.circuit_breaker.as_ref().and_then(|breaker| breaker.downgrade.as_ref());
        let downgrade = downgrade
            .map(|backend| compile_backend(backend, &variables, upstreams))
            .transpose()
            .map_err(|message| error(format!("circuitBreaker downgradeBackend: {message}")))?;
        let circuit_breaker = CompiledBreaker::compile(api.circuit_breaker.as_deref(), &key, downgrade)
            .map_err(|message| error(format!("circuitBreaker: {message}")))?;
        let caching = api
            .caching
            .as_ref()
            .map(|caching| {
                CompiledCaching::compile(&caching.spec, &key, |name| {
                    parameters.iter().position(|parameter| parameter.check.name() == name)
                })
                .map(Box::new)
            })
            .transpose()
            .map_err(|message| error(format!("caching: {message}")))?;
        let traffic_control =
            api.traffic_control.as_ref().map(|limits| Box::new(CompiledTrafficControl::compile(limits, key)));
        let backend_signer = api
            .backend_signature
            .as_ref()
            .map(|signature| BackendSigner::compile(signature, secrets).map(Box::new))
            .transpose()
            .map_err(|message| error(format!("backendSignature: {message}")))?;
        let reads_body = parameters
            .iter()
            .any(|parameter| matches!(parameter.location, ParameterLocation::Form | ParameterLocation::Body))
            || routing.as_deref().is_some_and(CompiledRouting::reads_body)
            || access_control.as_deref().is_some_and(CompiledAccessControl::reads_body)
            || remote_auth.as_deref().is_some_and(CompiledRemoteAuth::reads_body);
        let (namespace, group_name, name, stage) = (
            Arc::new(group.namespace.clone()),
            Arc::new(group.name.clone()),
            Arc::new(api.name.clone()),
            Arc::new(stage.to_owned()),
        );
        let labels = ApiLabels {
            namespace: namespace.clone(),
            group: group_name.clone(),
            api: name.clone(),
            stage: stage.clone(),
        };
        Ok(Self {
            metrics: ApiMetrics::new(labels),
            routing,
            access_control,
            error_mapping,
            ip_control,
            cors,
            traffic_control,
            backend_signer,
            jwt_auth,
            basic_auth,
            caching,
            remote_auth,
            circuit_breaker,
            namespace,
            group: group_name,
            name,
            stage,
            protocols: api.protocols.clone(),
            auth: api.auth.clone(),
            path_params,
            mode: api.mode,
            parameters,
            reads_body,
            constants,
            system: api.system_parameters.iter().map(|system| (system.name, system.backend.clone())).collect(),
            backend,
        })
    }
}
