//! Swagger 2.0 and OpenAPI 3.x -> Api resources, honouring the `x-aliyun-apigateway-*`
//! extensions of Alibaba's ImportSwagger (docs/kubectl-apigw.md):
//! - `x-aliyun-apigateway-backend` (document or operation; the operation's fields win) is the
//!   backend: `{type: HTTP, address, path, method, timeout}` or `{type: HTTP-VPC, vpcAccessName, ...}`;
//!   without a `path`, the backend path is the request path;
//! - `x-aliyun-apigateway-auth-type`: APP (default) or ANONYMOUS;
//! - `x-aliyun-apigateway-api-force-nonce-check: true|false` becomes `auth.forceNonceCheck`;
//! - `x-aliyun-apigateway-parameter-handling` (and the `paramater` misspelling generators emit):
//!   PASSTHROUGH (default) or MAPPING; under MAPPING a parameter's
//!   `x-aliyun-apigateway-backend-location` / `-backend-name` become its `backend`;
//! - `x-aliyun-apigateway-any-method: true` makes the method ANY;
//! - `x-aliyun-apigateway-system-parameters`: `[{systemName, backendName, location}]`.
//!
//! `--global-condition` extensions apply below the document's own.

use apigw_core::resources::Api;
use serde_json::{Map, Value, json};

use crate::names::dns_label;

const PREFIX: &str = "x-aliyun-apigateway-";
/// The methods of an OpenAPI path item, in the order operations are read.
pub const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];
/// The annotation naming the Swagger operation an Api came from.
pub const OPERATION_ANNOTATION: &str = "apigw.io/swagger-operation";

/// Why a document could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Neither `swagger: "2.0"` nor `openapi: 3.x`.
    #[error("not a Swagger 2.0 or OpenAPI 3 document (no `swagger: \"2.0\"` or `openapi: 3.x`)")]
    UnknownFormat,
    /// An operation could not become an Api.
    #[error("{method} {path}: {reason}")]
    Operation {
        /// The HTTP method.
        method: String,
        /// The Swagger path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// What an import needs besides the document.
pub struct ImportOptions<'a> {
    /// The ApiGroup the Apis belong to.
    pub group: &'a str,
    /// Extensions applied below the document's (ImportSwagger's GlobalCondition); string values
    /// holding JSON (as the official Java sample sends them) are read as that JSON.
    pub global: &'a Map<String, Value>,
    /// The stage the Apis are published to (default: the Api's default, RELEASE).
    pub stage: Option<&'a str>,
}

/// The extensions the import reads; any other `x-aliyun-apigateway-*` is reported.
const KNOWN_EXTENSIONS: [&str; 9] = [
    "backend",
    "auth-type",
    "api-force-nonce-check",
    "parameter-handling",
    "paramater-handling",
    "backend-location",
    "backend-name",
    "any-method",
    "system-parameters",
];

/// The Apis of a document, and what of it was not imported.
#[derive(Debug)]
pub struct Import {
    /// One Api per operation, in path and method order.
    pub apis: Vec<Imported>,
    /// Extensions that were not imported, and defaults taken for what was missing.
    pub warnings: Vec<String>,
}

/// One imported operation: the Api (checked against the CRD types) and the manifest as written,
/// without the defaults the API server fills in (what goes to Git and to server-side apply).
#[derive(Clone, Debug)]
pub struct Imported {
    /// The typed Api.
    pub api: Api,
    /// Its manifest.
    pub manifest: Value,
}

impl Imported {
    /// Renames the Api (an overwrite keeps the existing Api's name).
    pub fn rename(&mut self, name: &str) {
        self.api.metadata.name = Some(name.to_owned());
        self.manifest["metadata"]["name"] = json!(name);
    }
}

/// The Apis of `document`, one per operation, in path and method order, with warnings for what
/// was not imported.
pub fn import(document: &Value, options: &ImportOptions) -> Result<Import, ImportError> {
    let openapi3 = document.get("openapi").and_then(Value::as_str).is_some_and(|version| version.starts_with('3'));
    let swagger2 = document.get("swagger").and_then(Value::as_str) == Some("2.0");
    if !openapi3 && !swagger2 {
        return Err(ImportError::UnknownFormat);
    }
    let base_path = match swagger2 {
        true => document.get("basePath").and_then(Value::as_str).unwrap_or("/").trim_end_matches('/'),
        false => "",
    };
    let global = json_strings_read(options.global);
    let options = ImportOptions { global: &global, ..*options };
    let mut warnings = unknown_extensions(document, &global);
    let mut apis = Vec::new();
    let paths = document.get("paths").and_then(Value::as_object).cloned().unwrap_or_default();
    for (path, item) in &paths {
        let shared = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            let context = Context { document, options: &options, openapi3, operation };
            let full_path = format!("{base_path}{path}");
            let api = context.api(method, &full_path, &shared).map_err(|reason| ImportError::Operation {
                method: method.to_uppercase(),
                path: full_path.clone(),
                reason,
            })?;
            if api.manifest["spec"]["backend"]["type"] == "MOCK" && context.extension("backend").is_none() {
                warnings.push(format!(
                    "{} {full_path}: no x-aliyun-apigateway-backend; a MOCK backend answering 200 was given, as Alibaba's console does",
                    method.to_uppercase()
                ));
            }
            apis.push(api);
        }
    }
    Ok(Import { apis, warnings })
}

/// The global condition with JSON held in strings read as JSON: the official Java sample sends
/// `"x-aliyun-apigateway-backend": "{\"type\": \"HTTP\", ...}"` and `"...-any-method": "true"`.
fn json_strings_read(global: &Map<String, Value>) -> Map<String, Value> {
    global
        .iter()
        .map(|(key, value)| {
            let read = match value.as_str().map(str::trim) {
                Some(text) if text.starts_with('{') || text.starts_with('[') || text == "true" || text == "false" => {
                    serde_json::from_str(text).unwrap_or_else(|_| value.clone())
                }
                _ => value.clone(),
            };
            (key.clone(), read)
        })
        .collect()
}

/// A warning for every `x-aliyun-apigateway-*` key of the document (at any depth) or the global
/// condition that the import does not read.
fn unknown_extensions(document: &Value, global: &Map<String, Value>) -> Vec<String> {
    fn walk(value: &Value, at: &str, found: &mut Vec<String>) {
        match value {
            Value::Object(fields) => {
                for (key, inner) in fields {
                    if let Some(name) = key.strip_prefix(PREFIX) {
                        if !KNOWN_EXTENSIONS.contains(&name) {
                            found.push(format!("{at}/{key}: not imported (apigw does not read this extension)"));
                        }
                        continue;
                    }
                    walk(inner, &format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), found);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}/{index}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(document, "", &mut found);
    walk(&Value::Object(global.clone()), "--global-condition", &mut found);
    found
}

/// One operation being imported.
struct Context<'a> {
    document: &'a Value,
    options: &'a ImportOptions<'a>,
    openapi3: bool,
    operation: &'a Value,
}

impl Context<'_> {
    /// An extension: the operation's, else the document's, else the global condition's.
    fn extension(&self, name: &str) -> Option<&Value> {
        let key = format!("{PREFIX}{name}");
        self.operation.get(&key).or_else(|| self.document.get(&key)).or_else(|| self.options.global.get(&key))
    }

    fn api(&self, method: &str, path: &str, shared: &[Value]) -> Result<Imported, String> {
        let handling = self.extension("parameter-handling").or_else(|| self.extension("paramater-handling"));
        let mode = match handling.and_then(Value::as_str).unwrap_or("PASSTHROUGH") {
            mode @ ("PASSTHROUGH" | "MAPPING") => mode,
            other => return Err(format!("parameter handling {other:?}: expected PASSTHROUGH or MAPPING")),
        };
        let any = self.extension("any-method").and_then(Value::as_bool) == Some(true);
        let request_method = if any { "ANY".to_owned() } else { method.to_uppercase() };
        let request_path = template(path);
        let auth = self.extension("auth-type").and_then(Value::as_str).unwrap_or("APP");
        let mut parameters = Vec::new();
        let declared =
            shared.iter().chain(self.operation.get("parameters").and_then(Value::as_array).into_iter().flatten());
        for parameter in declared {
            let parameter = self.resolve(parameter);
            if let Some(converted) = self.parameter(parameter, mode == "MAPPING")? {
                parameters.push(converted);
            }
        }
        parameters.extend(self.form_body()?);
        let name = api_name(self.operation.get("operationId").and_then(Value::as_str), method, path);
        let mut spec = json!({
            "groupRef": self.options.group,
            "request": {"method": request_method, "path": request_path, "mode": mode},
            "auth": {"type": auth},
            "backend": self.backend(&request_method, &request_path)?,
        });
        if let Some(stage) = self.options.stage {
            spec["stages"] = json!([stage]);
        }
        if let Some(forced) = self.extension("api-force-nonce-check").and_then(Value::as_bool) {
            spec["auth"]["forceNonceCheck"] = Value::Bool(forced);
        }
        let description = ["summary", "description"].iter().find_map(|key| self.operation.get(*key)?.as_str());
        if let Some(description) = description {
            spec["description"] = json!(description);
        }
        if !parameters.is_empty() {
            spec["parameters"] = Value::Array(parameters);
        }
        if let Some(system) = self.extension("system-parameters").and_then(Value::as_array) {
            spec["systemParameters"] = system
                .iter()
                .map(|entry| {
                    let field = |key| entry.get(key).and_then(Value::as_str).unwrap_or_default();
                    json!({"name": field("systemName"), "backend": {"name": field("backendName"), "in": field("location").to_uppercase()}})
                })
                .collect();
        }
        let object = json!({
            "apiVersion": "apigw.io/v1alpha1",
            "kind": "Api",
            "metadata": {"name": name, "annotations": {OPERATION_ANNOTATION: format!("{} {path}", method.to_uppercase())}},
            "spec": spec,
        });
        let api =
            serde_json::from_value(object.clone()).map_err(|error| format!("does not make a valid Api: {error}"))?;
        Ok(Imported { api, manifest: object })
    }

    /// A `$ref` to `#/parameters/...` or `#/components/parameters/...`, followed.
    fn resolve<'v>(&'v self, value: &'v Value) -> &'v Value {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else { return value };
        let pointer = reference.trim_start_matches('#');
        self.document.pointer(pointer).unwrap_or(value)
    }

    /// A Parameter Object as an Api parameter; `None` for a body parameter (the body passes).
    fn parameter(&self, parameter: &Value, mapping: bool) -> Result<Option<Value>, String> {
        let name = parameter.get("name").and_then(Value::as_str).ok_or("a parameter without a name")?;
        let location = match parameter.get("in").and_then(Value::as_str) {
            Some("path") => "PATH",
            Some("query") => "QUERY",
            Some("header") => "HEADER",
            Some("formData") => "FORM",
            Some("body") | Some("cookie") => return Ok(None),
            other => return Err(format!("parameter {name}: unknown location {other:?}")),
        };
        let schema = match self.openapi3 {
            true => parameter.get("schema").map(|schema| self.resolve(schema)).unwrap_or(&Value::Null),
            false => parameter,
        };
        let mut converted = schema_fields(schema);
        converted.insert("name".into(), json!(name));
        converted.insert("in".into(), json!(location));
        if parameter.get("required").and_then(Value::as_bool) == Some(true) || location == "PATH" {
            converted.insert("required".into(), json!(true));
        }
        if let Some(description) = parameter.get("description").and_then(Value::as_str) {
            converted.insert("description".into(), json!(description));
        }
        let backend_name = parameter.get(format!("{PREFIX}backend-name")).and_then(Value::as_str);
        let backend_location = parameter.get(format!("{PREFIX}backend-location")).and_then(Value::as_str);
        if backend_name.is_some() || backend_location.is_some() {
            if !mapping {
                return Err(format!(
                    "parameter {name}: backend-name and backend-location need MAPPING parameter handling"
                ));
            }
            let location = backend_location.map_or(location.to_owned(), str::to_uppercase);
            let location = if location == "FORMDATA" { "FORM".to_owned() } else { location };
            converted.insert("backend".into(), json!({"name": backend_name.unwrap_or(name), "in": location}));
        }
        Ok(Some(Value::Object(converted)))
    }

    /// OpenAPI 3: the properties of an `application/x-www-form-urlencoded` request body.
    fn form_body(&self) -> Result<Vec<Value>, String> {
        let Some(body) = self.operation.get("requestBody").map(|body| self.resolve(body)) else { return Ok(vec![]) };
        let Some(schema) = body.pointer("/content/application~1x-www-form-urlencoded/schema") else {
            return Ok(vec![]);
        };
        let schema = self.resolve(schema);
        let required: Vec<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        Ok(properties
            .iter()
            .map(|(name, property)| {
                let mut converted = schema_fields(self.resolve(property));
                converted.insert("name".into(), json!(name));
                converted.insert("in".into(), json!("FORM"));
                if required.contains(&name.as_str()) {
                    converted.insert("required".into(), json!(true));
                }
                Value::Object(converted)
            })
            .collect())
    }

    /// The backend: the operation's extension over the document's over the global condition's.
    fn backend(&self, method: &str, path: &str) -> Result<Value, String> {
        let key = format!("{PREFIX}backend");
        let layers = [self.options.global.get(&key), self.document.get(&key), self.operation.get(&key)];
        let mut backend = Map::new();
        for layer in layers.into_iter().flatten() {
            let fields = layer.as_object().ok_or("x-aliyun-apigateway-backend is not an object")?;
            backend.extend(fields.iter().map(|(key, value)| (key.clone(), value.clone())));
        }
        if backend.is_empty() {
            // As Alibaba's console imports a Swagger without a backend.
            return Ok(json!({"type": "MOCK", "statusCode": 200, "body": ""}));
        }
        backend.entry("path").or_insert_with(|| json!(path));
        let backend_method = backend.get("method").and_then(Value::as_str).map(str::to_uppercase);
        backend.insert("method".into(), json!(backend_method.unwrap_or_else(|| method.replace("ANY", "GET"))));
        if let Some(path) = backend.get("path").and_then(Value::as_str) {
            backend.insert("path".into(), json!(template(path)));
        }
        Ok(Value::Object(backend))
    }
}

/// Swagger's `{name}` path parameters in apigw's `[name]` spelling.
fn template(path: &str) -> String {
    path.replace('{', "[").replace('}', "]")
}

/// Type and checks of a Swagger 2.0 parameter or an OpenAPI 3 schema.
fn schema_fields(schema: &Value) -> Map<String, Value> {
    let mut fields = Map::new();
    let kind = match (schema.get("type").and_then(Value::as_str), schema.get("format").and_then(Value::as_str)) {
        (Some("integer"), Some("int32")) => "INT",
        (Some("integer"), _) => "LONG",
        (Some("number"), Some("float")) => "FLOAT",
        (Some("number"), _) => "DOUBLE",
        (Some("boolean"), _) => "BOOLEAN",
        _ => "STRING",
    };
    fields.insert("type".into(), json!(kind));
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if let Some(default) = schema.get("default") {
        fields.insert("default".into(), json!(text(default)));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        fields.insert("enum".into(), Value::Array(allowed.iter().map(|value| json!(text(value))).collect()));
    }
    for (from, to) in [
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("minLength", "minLength"),
        ("maxLength", "maxLength"),
        ("pattern", "pattern"),
    ] {
        if let Some(value) = schema.get(from) {
            fields.insert(to.into(), value.clone());
        }
    }
    fields
}

/// A DNS-1123 name: the operationId lower-cased, else the method and path.
fn api_name(operation_id: Option<&str>, method: &str, path: &str) -> String {
    dns_label(&operation_id.map_or_else(|| format!("{method}-{path}"), str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(global: &Map<String, Value>) -> ImportOptions<'_> {
        ImportOptions { group: "shop", global, stage: None }
    }

    fn yaml(apis: &[Imported]) -> Vec<Value> {
        apis.iter().map(|imported| imported.manifest.clone()).collect()
    }

    #[test]
    fn swagger_2_operations_become_apis_with_the_extensions() {
        let document: Value =
            serde_json::from_str(include_str!("../../examples/swagger-import/api-docs.json")).unwrap();
        let apis = yaml(&import(&document, &options(&Map::new())).unwrap().apis);
        assert_eq!(apis.len(), 2);
        let hello = &apis[0];
        assert_eq!(hello["metadata"]["name"], "sayhello");
        assert_eq!(hello["spec"]["auth"]["type"], "ANONYMOUS");
        assert_eq!(
            hello["spec"]["parameters"][0],
            json!({"name": "name", "in": "QUERY", "type": "STRING", "default": "world"})
        );
        assert_eq!(hello["spec"]["backend"]["path"], "/hello");
        assert_eq!(hello["spec"]["backend"]["timeout"], 10000);
        let user = &apis[1];
        assert_eq!(user["spec"]["request"], json!({"method": "GET", "path": "/users/[userId]", "mode": "MAPPING"}));
        assert_eq!(user["spec"]["auth"]["type"], "APP");
        assert_eq!(user["spec"]["parameters"][0]["type"], "LONG");
        assert_eq!(user["spec"]["parameters"][0]["backend"], json!({"name": "uid", "in": "QUERY"}));
        assert_eq!(user["spec"]["backend"]["path"], "/v1/users");
        assert_eq!(user["spec"]["backend"]["timeout"], 10000, "the operation's backend lies over the document's");
    }

    #[test]
    fn openapi_3_schemas_forms_and_the_global_condition() {
        let document = json!({
            "openapi": "3.0.3",
            "paths": {"/orders/{id}": {
                "parameters": [{"name": "id", "in": "path", "schema": {"type": "integer", "format": "int32", "minimum": 1}}],
                "post": {
                    "operationId": "Update_Order",
                    "x-aliyun-apigateway-paramater-handling": "MAPPING",
                    "parameters": [{"$ref": "#/components/parameters/trace"}],
                    "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                        "required": ["state"],
                        "properties": {"state": {"type": "string", "enum": ["open", "closed"]}}
                    }}}}
                }
            }},
            "components": {"parameters": {"trace": {"name": "X-Trace", "in": "header", "schema": {"type": "string", "maxLength": 64},
                "x-aliyun-apigateway-backend-name": "trace", "x-aliyun-apigateway-backend-location": "query"}}}
        });
        let global: Map<String, Value> = serde_json::from_value(json!({
            "x-aliyun-apigateway-backend": {"type": "HTTP-VPC", "vpcAccessName": "orders", "timeout": 3000},
            "x-aliyun-apigateway-auth-type": "ANONYMOUS",
            "x-aliyun-apigateway-api-force-nonce-check": true
        }))
        .unwrap();
        let apis = yaml(&import(&document, &options(&global)).unwrap().apis);
        let api = &apis[0];
        assert_eq!(api["metadata"]["name"], "update-order");
        assert_eq!(api["spec"]["request"]["mode"], "MAPPING", "the misspelt extension counts");
        assert_eq!(api["spec"]["auth"]["type"], "ANONYMOUS");
        assert_eq!(api["spec"]["auth"]["forceNonceCheck"], true);
        let parameters = api["spec"]["parameters"].as_array().unwrap();
        assert_eq!(parameters[0], json!({"name": "id", "in": "PATH", "type": "INT", "required": true, "minimum": 1}));
        assert_eq!(parameters[1]["backend"], json!({"name": "trace", "in": "QUERY"}));
        assert_eq!(
            parameters[2],
            json!({"name": "state", "in": "FORM", "type": "STRING", "required": true, "enum": ["open", "closed"]})
        );
        assert_eq!(
            api["spec"]["backend"],
            json!({"type": "HTTP-VPC", "vpcAccessName": "orders", "path": "/orders/[id]", "method": "POST", "timeout": 3000})
        );
    }

    #[test]
    fn what_cannot_be_imported_is_named() {
        assert!(matches!(import(&json!({"info": {}}), &options(&Map::new())), Err(ImportError::UnknownFormat)));
        let passthrough = json!({"swagger": "2.0", "x-aliyun-apigateway-backend": {"type": "HTTP", "address": "http://b"},
            "paths": {"/a": {"get": {"parameters": [{"name": "q", "in": "query", "type": "string", "x-aliyun-apigateway-backend-name": "x"}]}}}});
        let error = import(&passthrough, &options(&Map::new())).unwrap_err().to_string();
        assert!(error.contains("need MAPPING"), "{error}");
    }

    #[test]
    fn a_plain_swagger_gets_a_mock_and_unknown_extensions_are_reported() {
        let plain = json!({"swagger": "2.0", "x-aliyun-apigateway-app-code-auth-type": "HEADER",
            "paths": {"/a": {"get": {"x-aliyun-apigateway-constant-parameters": []}}}});
        let imported = import(&plain, &options(&Map::new())).unwrap();
        assert_eq!(
            imported.apis[0].manifest["spec"]["backend"],
            json!({"type": "MOCK", "statusCode": 200, "body": ""})
        );
        assert_eq!(imported.warnings.len(), 3, "{:?}", imported.warnings);
        let warned = |start: &str| imported.warnings.iter().any(|warning| warning.starts_with(start));
        assert!(warned("/x-aliyun-apigateway-app-code-auth-type: not imported"), "{:?}", imported.warnings);
        assert!(warned("/paths/~1a/get/x-aliyun-apigateway-constant-parameters: not imported"));
        assert!(warned("GET /a: no x-aliyun-apigateway-backend; a MOCK"));
    }

    #[test]
    fn the_global_condition_takes_json_in_strings_and_the_stage_is_set() {
        let global: Map<String, Value> = serde_json::from_value(json!({
            "x-aliyun-apigateway-backend": "{\"type\": \"HTTP\", \"address\": \"http://b:8080\", \"timeout\": 3000}",
            "x-aliyun-apigateway-any-method": "true",
            "x-aliyun-apigateway-auth-type": "ANONYMOUS",
        }))
        .unwrap();
        let document = json!({"swagger": "2.0", "paths": {"/a": {"get": {}}}});
        let stage = ImportOptions { group: "shop", global: &global, stage: Some("TEST") };
        let imported = import(&document, &stage).unwrap();
        let spec = &imported.apis[0].manifest["spec"];
        assert_eq!(spec["backend"]["address"], "http://b:8080");
        assert_eq!(spec["backend"]["timeout"], 3000);
        assert_eq!(spec["request"]["method"], "ANY");
        assert_eq!(spec["auth"]["type"], "ANONYMOUS");
        assert_eq!(spec["stages"], json!(["TEST"]));
        assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    }
}
