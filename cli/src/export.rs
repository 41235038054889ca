//! An ApiGroup as an OpenAPI 3.1 document: a server per domain (and stage, chosen with the
//! `X-Ca-Stage` header), an operation per Api with its parameters and checks, form parameters
//! as an `application/x-www-form-urlencoded` body, and the security scheme of its auth type —
//! what openapi-generator needs for client SDKs and documentation.

use apigw_core::resources::{Api, ApiGroup, HttpMethod};
use kube::ResourceExt;
use serde_json::{Map, Value, json};

/// The OpenAPI 3.1 document of `group` and its `apis`.
pub fn export(group: &ApiGroup, apis: &[Api]) -> Value {
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
    for api in apis.iter().filter(|api| api.spec.group_ref == group.name_any()) {
        let relative =
            api.spec.request.path.strip_prefix(base).filter(|_| !base.is_empty()).unwrap_or(&api.spec.request.path);
        let path = openapi_path(relative);
        let item = paths.entry(path).or_insert_with(|| json!({}));
        for method in methods(api.spec.request.method) {
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

/// `[id]` and `{id}` as `{id}`; a trailing `*` as `{rest}`.
fn openapi_path(path: &str) -> String {
    let path = path.replace('[', "{").replace(']', "}");
    match path.strip_suffix('*') {
        Some(prefix) => format!("{prefix}{{rest}}"),
        None => path,
    }
}

fn methods(method: HttpMethod) -> Vec<&'static str> {
    let name = serde_json::to_value(method).ok().and_then(|value| value.as_str().map(str::to_lowercase));
    match name.as_deref() {
        Some("any") | None => vec!["get", "post", "put", "delete", "patch"],
        Some(other) => ["get", "post", "put", "delete", "patch", "head", "options"]
            .into_iter()
            .filter(|known| *known == other)
            .collect(),
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
            Some(location) => parameters.push(json!({
                "name": parameter.name,
                "in": location.to_lowercase(),
                "required": parameter.required || location == "PATH",
                "description": parameter.description.clone().unwrap_or_default(),
                "schema": schema,
            })),
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
        "summary": api.spec.description.clone().unwrap_or_default(),
        "parameters": parameters,
        "security": security,
        "responses": {"200": {"description": "The backend's answer"}, "default": {"description": "A gateway error: X-Ca-Error-Code and X-Ca-Error-Message say which"}},
    });
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
            json!({"name": "userId", "in": "path", "required": true, "description": "", "schema": {"type": "integer", "format": "int64", "minimum": 1.0}})
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
            requests(snapshot.apis.iter().collect())
        );
    }
}
