//! An ApiGroup as an OpenAPI 3.1 document: a server per domain (and stage, chosen with the
//! `X-Ca-Stage` header), an operation per Api with its parameters and checks, form parameters
//! as an `application/x-www-form-urlencoded` body, and the security scheme of its auth type —
//! what openapi-generator needs for client SDKs and documentation. The `x-aliyun-apigateway-*`
//! extensions `kubectl apigw import` reads (backend, auth type, nonce check, parameter handling
//! and mapping, ANY, system parameters) are written too, so that the document imports back to
//! the same Apis.

use apigw_core::resources::{Api, ApiGroup, HttpMethod, ParameterLocation};
use kube::ResourceExt;
use serde_json::{Map, Value, json};
use std::borrow::Borrow;

use crate::import::{METHODS, OPERATION_ANNOTATION};

/// The OpenAPI 3.1 document of `group` and its `apis`.
pub fn export<A: Borrow<Api>>(group: &ApiGroup, apis: &[A]) -> Value {
    let base = group.spec.base_path.as_deref().unwrap_or("").trim_end_matches('/');
    let mut servers = Vec::new();
    for domain in &group.spec.domains {
        for stage in group.spec.stages.keys().map(String::as_str).chain(["RELEASE"]) {
            let server = json!({"url": format!("http://{}{base}", domain.host), "description": format!("stage {stage} (header X-Ca-Stage: {stage})")});
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
    }
    let mut paths = Map::new();
    for api in apis.iter().map(Borrow::borrow).filter(|api: &&Api| api.spec.group_ref == group.name_any()) {
        let relative =
            api.spec.request.path.strip_prefix(base).filter(|_| !base.is_empty()).unwrap_or(&api.spec.request.path);
        let path = openapi_path(relative);
        let item = paths.entry(path).or_insert_with(|| json!({}));
        for method in methods(api) {
            item[method] = operation(api);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": group.name_any(), "description": group.spec.description.clone().unwrap_or_default(), "version": "RELEASE"},
        "servers": servers,
        "paths": paths,
        "components": {"securitySchemes": {
            "appSignature": {"type": "apiKey", "in": "header", "name": "X-Ca-Key",
                "description": "Alibaba APP signature: X-Ca-Key, X-Ca-Timestamp, X-Ca-Nonce, X-Ca-Signature-Headers and X-Ca-Signature (HmacSHA256 of the StringToSign), as the official SDKs send them"},
            "appCode": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "APPCODE <code>"},
            "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }},
    })
}

/// The `x-aliyun-apigateway-` extension `name`.
fn extension(name: &str) -> String {
    format!("x-aliyun-apigateway-{name}")
}

/// A CRD enum value as the CRD spells it (`MAPPING`, `QUERY`).
fn spelled<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// `[id]` and `{id}` as `{id}`; a trailing `*` as `{rest}`.
fn openapi_path(path: &str) -> String {
    let path = path.replace('[', "{").replace(']', "}");
    match path.strip_suffix('*') {
        Some(prefix) => format!("{prefix}{{rest}}"),
        None => path,
    }
}

/// The operations an Api is written as: ANY as one operation carrying
/// `x-aliyun-apigateway-any-method: true` (Alibaba's spelling of ANY), under the method it was
/// imported from (its `apigw.io/swagger-operation` annotation), else `get`.
fn methods(api: &Api) -> Vec<&'static str> {
    let name = spelled(&api.spec.request.method).as_str().map(str::to_lowercase);
    let imported = api.annotations().get(OPERATION_ANNOTATION).and_then(|operation| operation.split(' ').next());
    let imported = imported.map(str::to_lowercase);
    match name.as_deref() {
        Some("any") | None => {
            let method = METHODS.into_iter().find(|method| Some(*method) == imported.as_deref());
            vec![method.unwrap_or("get")]
        }
        Some(other) => METHODS.into_iter().filter(|known| *known == other).collect(),
    }
}

fn operation(api: &Api) -> Value {
    let mut parameters = Vec::new();
    let mut form = Map::new();
    let mut required_form = Vec::new();
    for parameter in &api.spec.parameters {
        let value = serde_json::to_value(parameter).unwrap_or_default();
        let schema = schema(&value);
        match value["in"].as_str() {
            Some("FORM") => {
                if parameter.required {
                    required_form.push(json!(parameter.name));
                }
                form.insert(parameter.name.clone(), schema);
            }
            Some("BODY") | None => {}
            Some(location) => {
                let mut written = json!({
                    "name": parameter.name,
                    "in": location.to_lowercase(),
                    "required": parameter.required || location == "PATH",
                    "schema": schema,
                });
                if let Some(description) = &parameter.description {
                    written["description"] = json!(description);
                }
                if let Some(backend) = &parameter.backend {
                    written[extension("backend-name")] = json!(backend.name);
                    let location = match backend.location {
                        ParameterLocation::Form => json!("FORMDATA"),
                        other => spelled(&other),
                    };
                    written[extension("backend-location")] = location;
                }
                parameters.push(written);
            }
        }
    }
    if api.spec.request.path.ends_with('*') {
        parameters.push(json!({"name": "rest", "in": "path", "required": true, "schema": {"type": "string"}}));
    }
    let auth = serde_json::to_value(api.spec.auth.kind).ok().and_then(|value| value.as_str().map(str::to_owned));
    let security = match auth.as_deref() {
        Some("APP") => json!([{"appSignature": []}, {"appCode": []}]),
        Some("JWT") => json!([{"jwt": []}]),
        _ => json!([]),
    };
    let mut operation = json!({
        "operationId": api.name_any(),
        "parameters": parameters,
        "security": security,
        "responses": {"200": {"description": "The backend's answer"}, "default": {"description": "A gateway error: X-Ca-Error-Code and X-Ca-Error-Message say which"}},
    });
    if let Some(description) = &api.spec.description {
        operation["summary"] = json!(description);
    }
    let mut backend = spelled(&api.spec.backend);
    if let Some(path) = backend.get("path").and_then(Value::as_str).map(openapi_path) {
        backend["path"] = json!(path);
    }
    operation[extension("backend")] = backend;
    operation[extension("auth-type")] = spelled(&api.spec.auth.kind);
    if let Some(forced) = api.spec.auth.force_nonce_check {
        operation[extension("api-force-nonce-check")] = json!(forced);
    }
    operation[extension("parameter-handling")] = spelled(&api.spec.request.mode);
    if api.spec.request.method == HttpMethod::Any {
        operation[extension("any-method")] = json!(true);
    }
    if !api.spec.system_parameters.is_empty() {
        operation[extension("system-parameters")] = api
            .spec
            .system_parameters
            .iter()
            .map(|system| {
                json!({"systemName": spelled(&system.name), "backendName": system.backend.name, "location": spelled(&system.backend.location)})
            })
            .collect();
    }
    if !form.is_empty() {
        operation["requestBody"] = json!({"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": form, "required": required_form}}}});
    }
    operation
}

/// The JSON Schema of a parameter (as the CRD spells it).
fn schema(parameter: &Value) -> Value {
    let (kind, format) = match parameter["type"].as_str() {
        Some("INT") => ("integer", Some("int32")),
        Some("LONG") => ("integer", Some("int64")),
        Some("FLOAT") => ("number", Some("float")),
        Some("DOUBLE") => ("number", Some("double")),
        Some("BOOLEAN") => ("boolean", None),
        _ => ("string", None),
    };
    let mut schema = json!({"type": kind});
    if let Some(format) = format {
        schema["format"] = json!(format);
    }
    for key in ["default", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern"] {
        if let Some(value) = parameter.get(key) {
            schema[key] = value.clone();
        }
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{ImportOptions, import};
    use apigw_core::translate::Snapshot;

    fn quickstart() -> Snapshot {
        let mut snapshot = Snapshot::default();
        let text = include_str!("../../examples/quickstart/quickstart.yaml");
        snapshot.add_manifests(text, "quickstart.yaml").unwrap();
        snapshot
    }

    #[test]
    fn the_quickstart_group_becomes_an_openapi_document() {
        let snapshot = quickstart();
        let document = export(&snapshot.groups[0], &snapshot.apis);
        assert_eq!(document["openapi"], "3.1.0");
        let servers: Vec<&str> =
            document["servers"].as_array().unwrap().iter().map(|s| s["url"].as_str().unwrap()).collect();
        assert!(servers.contains(&"http://localhost") && servers.contains(&"http://127.0.0.1"), "{servers:?}");
        let user = &document["paths"]["/users/{userId}"]["get"];
        assert_eq!(user["operationId"], "get-user");
        assert_eq!(
            user["parameters"][0],
            json!({
                "name": "userId", "in": "path", "required": true,
                "schema": {"type": "integer", "format": "int64", "minimum": 1.0},
                "x-aliyun-apigateway-backend-name": "uid", "x-aliyun-apigateway-backend-location": "QUERY"
            })
        );
        assert_eq!(user["parameters"][1]["schema"], json!({"type": "boolean", "default": "false"}));
        assert_eq!(document["paths"]["/hello"]["get"]["security"], json!([]));
    }

    #[test]
    fn an_exported_group_imports_back_to_the_same_requests() {
        let snapshot = quickstart();
        let mut document = export(&snapshot.groups[0], &snapshot.apis);
        document["x-aliyun-apigateway-backend"] = json!({"type": "HTTP", "address": "http://backend"});
        let imported =
            import(&document, &ImportOptions { group: "quickstart", global: &Map::new(), stage: None }).unwrap().apis;
        let requests = |apis: Vec<&Api>| {
            let mut requests: Vec<String> =
                apis.iter().map(|api| format!("{:?} {}", api.spec.request.method, api.spec.request.path)).collect();
            requests.sort();
            requests
        };
        assert_eq!(
            requests(imported.iter().map(|imported| &imported.api).collect()),
            requests(snapshot.apis.iter().map(|api| &**api).collect())
        );
    }

    /// import -> export -> import: the typed Apis of both imports (as JSON, defaults filled in).
    fn round_trip(document: &Value) -> (Vec<Value>, Vec<Value>) {
        let options = ImportOptions { group: "shop", global: &Map::new(), stage: None };
        let first: Vec<Api> =
            import(document, &options).unwrap().apis.into_iter().map(|imported| imported.api).collect();
        let group: ApiGroup = serde_json::from_value(json!({
            "apiVersion": "apigw.io/v1alpha1", "kind": "ApiGroup", "metadata": {"name": "shop"},
            "spec": {"domains": [{"host": "shop.example.com"}]},
        }))
        .unwrap();
        let exported = export(&group, &first);
        let again = import(&exported, &options).unwrap();
        assert!(again.warnings.is_empty(), "the export writes only extensions the import reads: {:?}", again.warnings);
        let typed = |apis: Vec<Api>| {
            let mut apis: Vec<Value> = apis.iter().map(|api| serde_json::to_value(api).unwrap()).collect();
            apis.sort_by_key(|api| api["metadata"]["name"].to_string());
            apis
        };
        (typed(first), typed(again.apis.into_iter().map(|imported| imported.api).collect()))
    }

    #[test]
    fn the_swagger_import_example_round_trips() {
        let document: Value =
            serde_json::from_str(include_str!("../../examples/swagger-import/api-docs.json")).unwrap();
        let (first, second) = round_trip(&document);
        assert_eq!(first.len(), 2);
        assert_eq!(first, second);
    }

    #[test]
    fn every_extension_round_trips() {
        let document = json!({
            "openapi": "3.0.1",
            "info": {"title": "shop", "version": "2"},
            "x-aliyun-apigateway-backend": {"type": "HTTP", "address": "http://orders:8080", "timeout": 3000},
            "paths": {
                "/orders/{orderId}": {
                    "get": {
                        "operationId": "Get_Order",
                        "summary": "One order",
                        "x-aliyun-apigateway-auth-type": "APP",
                        "x-aliyun-apigateway-api-force-nonce-check": true,
                        "x-aliyun-apigateway-paramater-handling": "MAPPING",
                        "x-aliyun-apigateway-system-parameters": [
                            {"systemName": "CaAppId", "backendName": "X-App-Id", "location": "HEADER"},
                            {"systemName": "CaClientIp", "backendName": "ip", "location": "QUERY"}
                        ],
                        "x-aliyun-apigateway-backend": {"type": "HTTP", "address": "http://orders:8080", "path": "/v2/orders/{id}", "method": "POST"},
                        "parameters": [
                            {"name": "orderId", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64", "minimum": 1},
                             "x-aliyun-apigateway-backend-name": "id", "x-aliyun-apigateway-backend-location": "PATH"},
                            {"name": "view", "in": "query", "description": "how much", "schema": {"type": "string", "enum": ["short", "full"], "default": "short"},
                             "x-aliyun-apigateway-backend-name": "v", "x-aliyun-apigateway-backend-location": "formData"},
                            {"name": "X-Trace", "in": "header", "schema": {"type": "string", "maxLength": 64, "pattern": "^[a-z0-9]+$"}}
                        ]
                    }
                },
                "/anything": {
                    "post": {
                        "operationId": "anything",
                        "x-aliyun-apigateway-any-method": true,
                        "x-aliyun-apigateway-auth-type": "ANONYMOUS",
                        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                            "type": "object", "required": ["q"], "properties": {"q": {"type": "string", "minLength": 1}}
                        }}}}
                    }
                },
                "/mock": {"get": {"operationId": "mocked", "x-aliyun-apigateway-backend": {"type": "MOCK", "statusCode": 204, "body": ""}}}
            }
        });
        let (first, second) = round_trip(&document);
        assert_eq!(first.len(), 3);
        assert_eq!(first, second);
    }
}
