//! `kubectl apigw import-plugin`: a plugin document as Alibaba's console shows it into a Plugin
//! (a RoutingPlugin for `routing`). The fields are apigw's already; what changes is where
//! credentials live:
//! - `backendSignature`: `key` and `secret` become the Secret `<name>-credentials`
//!   (`appKey`, `appSecret`), named by `credentialsSecretRef`; no `type` is `APIGW_BACKEND`;
//! - `basicAuth`: `users: [{username, password}]` become bcrypt hashes in the Secret
//!   `<name>-users` (key `htpasswd`), named by `secretRef`;
//! - `jwtAuth`: symmetric keys (`kty: oct`) go to the Secret `<name>-keys` (key `jwks`, a JWKS
//!   document), named by `keySecretRef`; a private JWK keeps only its public members.

use apigw_core::resources::{PluginSpec, RoutingPluginSpec};
use serde_json::{Map, Value, json};

use super::checked::checked;
use super::{MigrateError, Migrated, scalar_text};

/// Alibaba's plugin types (the console's and CreatePlugin's `PluginType`).
pub const PLUGIN_TYPES: [&str; 12] = [
    "accessControl",
    "backendSignature",
    "basicAuth",
    "caching",
    "circuitBreaker",
    "cors",
    "errorMapping",
    "ipControl",
    "jwtAuth",
    "remoteAuth",
    "routing",
    "trafficControl",
];

/// bcrypt's cost for imported passwords: about 50 ms a check, which the gateway does once per
/// credential and then remembers.
const BCRYPT_COST: u32 = 10;

/// JWK members that only a private key has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// The plugin document `document` of type `kind` as the Plugin (or RoutingPlugin) `name` and
/// the Secrets its credentials moved to.
pub fn import_plugin(kind: &str, name: &str, document: Value) -> Result<Migrated, MigrateError> {
    if !PLUGIN_TYPES.contains(&kind) {
        return Err(MigrateError::UnknownPluginType(kind.to_owned()));
    }
    let Value::Object(mut fields) = document else {
        return Err(MigrateError::NotAnObject("the plugin document".to_owned()));
    };
    let mut migrated = Migrated::default();
    match kind {
        "backendSignature" => backend_signature(&mut fields, name, &mut migrated)?,
        "basicAuth" => basic_auth(&mut fields, name, &mut migrated)?,
        "jwtAuth" => jwt_keys(&mut fields, name, &mut migrated)?,
        _ => {}
    }
    let invalid = |kind, reason| MigrateError::Invalid { kind, name: name.to_owned(), reason };
    if kind == "routing" {
        let mut spec = Value::Object(fields);
        checked::<RoutingPluginSpec>(&mut spec, &mut migrated.warnings)
            .map_err(|reason| invalid("RoutingPlugin", reason))?;
        migrated.resource("RoutingPlugin", name, spec);
    } else {
        let mut spec = json!({ kind: fields });
        checked::<PluginSpec>(&mut spec, &mut migrated.warnings).map_err(|reason| invalid("Plugin", reason))?;
        migrated.resource("Plugin", name, spec);
    }
    Ok(migrated)
}

/// Removes the scalar `key` of `fields` as text.
fn take_text(fields: &mut Map<String, Value>, key: &str, field: &str) -> Result<String, MigrateError> {
    fields
        .remove(key)
        .as_ref()
        .and_then(scalar_text)
        .ok_or_else(|| MigrateError::field(field, "missing (or not a string)"))
}

fn backend_signature(fields: &mut Map<String, Value>, name: &str, migrated: &mut Migrated) -> Result<(), MigrateError> {
    if fields.contains_key("credentialsSecretRef") {
        return Ok(());
    }
    let key = take_text(fields, "key", "backendSignature.key")?;
    let secret = take_text(fields, "secret", "backendSignature.secret")?;
    let secret_name = format!("{name}-credentials");
    migrated.secret(&secret_name, json!({"appKey": key, "appSecret": secret}));
    fields.insert("credentialsSecretRef".to_owned(), json!({ "name": secret_name }));
    migrated.moved.push(format!("backendSignature.key, .secret -> Secret {secret_name} (appKey, appSecret)"));
    if !fields.contains_key("type") {
        fields.insert("type".to_owned(), json!("APIGW_BACKEND"));
        migrated.warnings.push("backendSignature.type: absent, APIGW_BACKEND (Alibaba's default) written".to_owned());
    }
    Ok(())
}

fn basic_auth(fields: &mut Map<String, Value>, name: &str, migrated: &mut Migrated) -> Result<(), MigrateError> {
    if fields.contains_key("secretRef") {
        return Ok(());
    }
    let Some(Value::Array(users)) = fields.remove("users") else {
        return Err(MigrateError::field("basicAuth.users", "missing (expected a list of {username, password})"));
    };
    let mut htpasswd = String::new();
    for (index, user) in users.iter().enumerate() {
        let field = |member: &str| format!("basicAuth.users[{index}].{member}");
        let text = |member: &str| {
            user.get(member).and_then(scalar_text).ok_or_else(|| MigrateError::field(field(member), "missing"))
        };
        let (username, password) = (text("username")?, text("password")?);
        if username.is_empty() || username.contains([':', '\n', '\r']) {
            return Err(MigrateError::field(field("username"), "empty, or holds ':' or a line break"));
        }
        let hash = bcrypt::hash(password, BCRYPT_COST)
            .map_err(|error| MigrateError::field(field("password"), error.to_string()))?;
        htpasswd += &format!("{username}:{hash}\n");
    }
    let secret_name = format!("{name}-users");
    migrated.secret(&secret_name, json!({ "htpasswd": htpasswd }));
    fields.insert("secretRef".to_owned(), json!({"name": secret_name, "key": "htpasswd"}));
    migrated
        .moved
        .push(format!("basicAuth.users ({} passwords, bcrypt-hashed) -> Secret {secret_name} (htpasswd)", users.len()));
    Ok(())
}

fn jwt_keys(fields: &mut Map<String, Value>, name: &str, migrated: &mut Migrated) -> Result<(), MigrateError> {
    let mut symmetric = Vec::new();
    if let Some(jwk) = fields.remove("jwk")
        && let Some(public) = public_key(jwk, "jwtAuth.jwk", &mut symmetric, migrated)?
    {
        fields.insert("jwk".to_owned(), public);
    }
    if let Some(jwks) = fields.remove("jwks") {
        // A JWKS document pasted whole is `{keys: [...]}`.
        let keys = match jwks {
            Value::Object(mut document) if document.contains_key("keys") => document.remove("keys").unwrap_or_default(),
            keys => keys,
        };
        let Value::Array(keys) = keys else {
            return Err(MigrateError::field("jwtAuth.jwks", "expected a list of JWKs"));
        };
        let mut public = Vec::new();
        for (index, jwk) in keys.into_iter().enumerate() {
            public.extend(public_key(jwk, &format!("jwtAuth.jwks[{index}]"), &mut symmetric, migrated)?);
        }
        if !public.is_empty() {
            fields.insert("jwks".to_owned(), Value::Array(public));
        }
    }
    if symmetric.is_empty() {
        return Ok(());
    }
    if fields.contains_key("keySecretRef") {
        return Err(MigrateError::field("jwtAuth.keySecretRef", "set beside inline symmetric keys: keep one"));
    }
    let secret_name = format!("{name}-keys");
    let jwks = json!({ "keys": symmetric }).to_string();
    migrated.secret(&secret_name, json!({ "jwks": jwks }));
    fields.insert("keySecretRef".to_owned(), json!({"name": secret_name, "key": "jwks"}));
    migrated.moved.push(format!("jwtAuth: {} symmetric key(s) -> Secret {secret_name} (jwks)", symmetric.len()));
    Ok(())
}

/// The public JWK to keep inline, or `None` when `jwk` is symmetric (moved to `symmetric`).
fn public_key(
    jwk: Value,
    field: &str,
    symmetric: &mut Vec<Value>,
    migrated: &mut Migrated,
) -> Result<Option<Value>, MigrateError> {
    let Value::Object(mut members) = jwk else {
        return Err(MigrateError::field(field, "expected a JWK object"));
    };
    if members.get("kty").and_then(Value::as_str) == Some("oct") {
        symmetric.push(Value::Object(members));
        return Ok(None);
    }
    let private: Vec<&str> = PRIVATE_MEMBERS.into_iter().filter(|member| members.remove(*member).is_some()).collect();
    if !private.is_empty() {
        migrated.warnings.push(format!(
            "{field}: a private key; its private members ({}) were left out: the gateway only verifies",
            private.join(", ")
        ));
    }
    Ok(Some(Value::Object(members)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn secret_data<'a>(migrated: &'a Migrated, name: &str) -> &'a Value {
        let secret = migrated.objects.iter().find(|object| object["metadata"]["name"] == name).expect(name);
        assert_eq!(secret["kind"], "Secret");
        &secret["stringData"]
    }

    #[test]
    fn backend_signature_keys_move_to_a_secret() {
        let migrated = import_plugin(
            "backendSignature",
            "sign",
            yaml("---\ntype: APIGW_BACKEND\nkey: SampleKey\nsecret: SampleSecret\n"),
        )
        .unwrap();
        assert_eq!(
            *secret_data(&migrated, "sign-credentials"),
            json!({"appKey": "SampleKey", "appSecret": "SampleSecret"})
        );
        assert_eq!(
            migrated.objects[1]["spec"],
            json!({"backendSignature": {"type": "APIGW_BACKEND", "credentialsSecretRef": {"name": "sign-credentials"}}})
        );
        assert_eq!(migrated.moved.len(), 1);
        let untyped = import_plugin("backendSignature", "old", yaml("key: k\nsecret: s")).unwrap();
        assert_eq!(untyped.objects[1]["spec"]["backendSignature"]["type"], "APIGW_BACKEND");
        assert!(import_plugin("backendSignature", "x", yaml("key: k")).unwrap_err().to_string().contains("secret"));
    }

    #[test]
    fn basic_auth_passwords_become_bcrypt_hashes() {
        // Alibaba's template, numbers as passwords and its plugin-dataset field included.
        let document = yaml(
            "users:\n- {username: alice, password: 123456}\n- {username: bob, password: 'p@ss:word'}\nusersDatasetId: 42f2\n",
        );
        let migrated = import_plugin("basicAuth", "staff", document).unwrap();
        let htpasswd = secret_data(&migrated, "staff-users")["htpasswd"].as_str().unwrap();
        let lines: Vec<(&str, &str)> = htpasswd.lines().map(|line| line.split_once(':').unwrap()).collect();
        assert_eq!(lines.iter().map(|(user, _)| *user).collect::<Vec<_>>(), ["alice", "bob"]);
        assert!(bcrypt::verify("123456", lines[0].1).unwrap() && bcrypt::verify("p@ss:word", lines[1].1).unwrap());
        assert!(!htpasswd.contains("123456"), "no password in plain text");
        assert_eq!(
            migrated.objects[1]["spec"],
            json!({"basicAuth": {"secretRef": {"name": "staff-users", "key": "htpasswd"}}})
        );
        assert_eq!(migrated.warnings, ["basicAuth.usersDatasetId: not an apigw field, not imported"]);
        let bad = import_plugin("basicAuth", "x", yaml("users: [{username: 'a:b', password: c}]")).unwrap_err();
        assert_eq!(bad.to_string(), "basicAuth.users[0].username: empty, or holds ':' or a line break");
    }

    #[test]
    fn jwt_keys_stay_public_and_symmetric_ones_move() {
        // The reference document's jwtAuth (`n:` unquoted, as the console takes it), a private
        // EC key pasted by mistake and an HS256 key.
        let document = yaml(
            "parameter: X-Token\nparameterLocation: header\nclaimParameters:\n- {claimName: userId, parameterName: userId, location: query}\njwk:\n  kty: RSA\n  e: AQAB\n  kid: showJwt\n  alg: RS256\n  n: gNHI8tm3\njwks:\n- {kty: EC, crv: P-256, kid: e1, x: AAAA, y: BBBB, d: CCCC}\n- {kty: oct, kid: h1, k: c2VjcmV0}\n",
        );
        let migrated = import_plugin("jwtAuth", "jwt", document).unwrap();
        let spec = &migrated.objects[1]["spec"]["jwtAuth"];
        assert_eq!(spec["jwk"]["n"], "gNHI8tm3", "YAML 1.2: `n` is a key, not false");
        assert_eq!(spec["jwks"], json!([{"kty": "EC", "crv": "P-256", "kid": "e1", "x": "AAAA", "y": "BBBB"}]));
        assert_eq!(spec["keySecretRef"], json!({"name": "jwt-keys", "key": "jwks"}));
        let jwks: Value = serde_json::from_str(secret_data(&migrated, "jwt-keys")["jwks"].as_str().unwrap()).unwrap();
        assert_eq!(jwks, json!({"keys": [{"kty": "oct", "kid": "h1", "k": "c2VjcmV0"}]}));
        assert_eq!(migrated.warnings.len(), 1, "{:?}", migrated.warnings);
        assert!(migrated.warnings[0].starts_with("jwtAuth.jwks[0]: a private key"));
    }

    #[test]
    fn other_types_are_checked_and_routing_is_a_routing_plugin() {
        // The reference document's grey release by client version, as it is written there.
        let routing = yaml(
            "---\nparameters: \n   clientVersion: \"Query:clientVersion\"\nroutes:\n -  name: oldVersionClient\n    condition: \"$clientVersion < '2.0.5'\"\n    backend:\n       type: \"MOCK\"\n       statusCode: 400           \n",
        );
        let migrated = import_plugin("routing", "old-clients", routing).unwrap();
        assert_eq!((migrated.objects.len(), migrated.objects[0]["kind"].as_str()), (1, Some("RoutingPlugin")));
        let cors = import_plugin("cors", "cors", yaml("allowOrigins: '*'\nallowMethods: GET,POST")).unwrap();
        assert_eq!(cors.objects[0]["spec"]["cors"]["allowMethods"], "GET,POST");
        let wrong = import_plugin("trafficControl", "limits", yaml("unit: FORTNIGHT\napiDefault: 1")).unwrap_err();
        assert!(wrong.to_string().starts_with("Plugin limits: "), "{wrong}");
        assert!(matches!(import_plugin("logMask", "x", json!({})), Err(MigrateError::UnknownPluginType(_))));
    }
}
