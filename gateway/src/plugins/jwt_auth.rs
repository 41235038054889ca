//! The jwtAuth plugin: a token read from a header (`Bearer ` optional), the query or a cookie,
//! verified against the plugin's public JWKs (a token's `kid` picks the key; a token without one
//! tries each), `exp` and `nbf` checked unless turned off, a `jti` refused when seen before (if
//! asked), and chosen claims passed to the backend.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apigw_core::config::JwtAuthConfig;
use apigw_core::resources::{ClaimLocation, Jwk, ParameterLocation, TokenLocation};
use http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk};
use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::secrets::Secrets;
use crate::state::replay::Replay;

/// How long a `jti` is remembered when its token has no `exp`.
const JTI_MEMORY_WITHOUT_EXP: Duration = Duration::from_secs(24 * 3600);
/// The clock skew allowed on `exp` and `nbf` (jsonwebtoken's default).
const LEEWAY: Duration = Duration::from_secs(60);

/// One verification key.
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
    /// Built once: this key's algorithm, `exp`/`nbf` as the plugin says, `aud` unchecked.
    validation: Validation,
}

/// A claim the backend receives: where, under which name, and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardedClaim {
    /// Where the backend receives it.
    pub location: ParameterLocation,
    /// The parameter name.
    pub name: String,
    /// The claim's value (strings as they are, other JSON as JSON text).
    pub value: String,
}

/// What a verified token gives the request.
#[derive(Debug, Default)]
pub struct Verified {
    /// Every claim, for `Token:claim` sources in conditions.
    pub claims: Map<String, Value>,
    /// The claims the backend receives.
    pub forwarded: Vec<ForwardedClaim>,
    /// The token's id, when preventJtiReplay asks for a replay check.
    pub replay: Option<Replay>,
}

/// A jwtAuth plugin, compiled.
pub struct CompiledJwtAuth {
    parameter: String,
    location: TokenLocation,
    keys: Vec<Key>,
    claims: Vec<(String, ForwardedClaim)>,
    bypass_empty_token: bool,
    /// With preventJtiReplay: the plugin's `namespace/name`, which prefixes its ids in the cache.
    replay_scope: Option<String>,
}

impl std::fmt::Debug for CompiledJwtAuth {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CompiledJwtAuth")
            .field("parameter", &self.parameter)
            .field("location", &self.location)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// A key from its JWK: its `kid`, its `alg` or else the usual algorithm of its type and curve
/// (HS256 for `oct` keys, which only a Secret's JWKS holds).
fn key(parsed: &jwk::Jwk) -> Result<Key, String> {
    let name = parsed.common.key_id.as_deref().unwrap_or("without kid");
    let key = DecodingKey::from_jwk(parsed).map_err(|error| format!("key {name}: {error}"))?;
    let algorithm = match (&parsed.common.key_algorithm, &parsed.algorithm) {
        (Some(alg), _) => {
            alg.to_string().parse().map_err(|_| format!("key {name}: alg {alg} is not a JWS algorithm"))?
        }
        (None, jwk::AlgorithmParameters::OctetKey(_)) => Algorithm::HS256,
        (None, jwk::AlgorithmParameters::RSA(_)) => Algorithm::RS256,
        (None, jwk::AlgorithmParameters::EllipticCurve(ec)) if ec.curve == jwk::EllipticCurve::P384 => Algorithm::ES384,
        (None, jwk::AlgorithmParameters::EllipticCurve(_)) => Algorithm::ES256,
        (None, jwk::AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
    };
    let mut validation = Validation::new(algorithm);
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    Ok(Key { kid: parsed.common.key_id.clone(), algorithm, key, validation })
}

/// A key of the Plugin's spec.
fn spec_key(spec: &Jwk) -> Result<Key, String> {
    let name = spec.kid.as_deref().unwrap_or("without kid");
    let parsed: jwk::Jwk =
        serde_json::to_value(spec).and_then(serde_json::from_value).map_err(|error| format!("key {name}: {error}"))?;
    key(&parsed)
}

/// The keys of a JWKS document (a Secret's).
fn secret_keys(text: &[u8]) -> Result<Vec<Key>, String> {
    let set: jwk::JwkSet = serde_json::from_slice(text).map_err(|error| format!("not a JWKS: {error}"))?;
    set.keys.iter().map(key).collect()
}

fn claim_location(location: ClaimLocation) -> ParameterLocation {
    match location {
        ClaimLocation::Query => ParameterLocation::Query,
        ClaimLocation::Header => ParameterLocation::Header,
        ClaimLocation::FormData => ParameterLocation::Form,
        ClaimLocation::Path => ParameterLocation::Path,
    }
}

impl CompiledJwtAuth {
    /// Compiles the plugin of namespace `namespace`: every key must be usable; symmetric keys
    /// come from the `keySecretRef` Secret in `secrets`.
    pub fn compile(config: &JwtAuthConfig, namespace: &str, secrets: &Secrets) -> Result<Self, String> {
        let spec = &config.spec;
        let mut keys = spec.jwk.iter().chain(&spec.jwks).map(spec_key).collect::<Result<Vec<_>, _>>()?;
        if let (Some(reference), Some(secret)) = (&spec.key_secret_ref, &config.key_secret) {
            let text = secrets
                .get(secret)
                .and_then(|data| data.get(&reference.key))
                .ok_or_else(|| format!("Secret {secret} with key {} is not available", reference.key))?;
            keys.extend(secret_keys(text).map_err(|error| format!("Secret {secret}: {error}"))?);
        }
        if keys.is_empty() {
            return Err("no key (jwk, jwks or keySecretRef)".to_owned());
        }
        for key in &mut keys {
            key.validation.validate_exp = !spec.ignore_expiration_check;
            key.validation.validate_nbf = !spec.ignore_expiration_check;
        }
        let claims = spec
            .claim_parameters
            .iter()
            .map(|claim| {
                let location = claim_location(claim.location);
                let forwarded = ForwardedClaim { location, name: claim.parameter_name.clone(), value: String::new() };
                (claim.claim_name.clone(), forwarded)
            })
            .collect();
        Ok(Self {
            parameter: spec.parameter.clone(),
            location: spec.parameter_location,
            keys,
            claims,
            bypass_empty_token: spec.bypass_empty_token,
            replay_scope: spec.prevent_jti_replay.then(|| format!("{namespace}/{}", config.plugin)),
        })
    }

    /// Verifies the request's token (no claims when an empty token is let through); with
    /// preventJtiReplay, the token's id is returned for the caller's replay check.
    pub fn verify(&self, headers: &HeaderMap, query: Option<&str>) -> Result<Verified, GatewayError> {
        if self.sent_twice(headers, query) {
            // The gateway would verify one token and the backend might read the other.
            return Err(GatewayError::DuplicateAuthHeader("the token's header or query parameter"));
        }
        let Some(token) = self.token(headers, query).filter(|token| !token.is_empty()) else {
            return if self.bypass_empty_token { Ok(Verified::default()) } else { Err(GatewayError::MissingToken) };
        };
        let claims = self.claims(&token)?;
        let replay = self.replay_scope.as_deref().map(|scope| replay_of(&claims, scope)).transpose()?;
        let forwarded = self
            .claims
            .iter()
            .filter_map(|(claim, forwarded)| {
                let value = match claims.get(claim)? {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                Some(ForwardedClaim { value, ..forwarded.clone() })
            })
            .collect();
        Ok(Verified { claims, forwarded, replay })
    }

    fn claims(&self, token: &str) -> Result<Map<String, Value>, GatewayError> {
        let invalid = |reason: String| GatewayError::InvalidToken(reason);
        let header = jsonwebtoken::decode_header(token).map_err(|error| invalid(error.to_string()))?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|key| header.kid.is_none() || key.kid.is_none() || key.kid == header.kid)
            .filter(|key| key.algorithm == header.alg)
            .peekable();
        if candidates.peek().is_none() {
            return Err(invalid(format!("no key for kid {:?} and alg {:?}", header.kid, header.alg)));
        }
        let mut last = None;
        for key in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &key.validation) {
                Ok(data) => return Ok(data.claims),
                Err(error) => last = Some(error),
            }
        }
        Err(invalid(last.map(|error| error.to_string()).unwrap_or_default()))
    }

    /// Where the token is read: a header, query parameter or cookie, and its name.
    pub fn token_source(&self) -> (TokenLocation, &str) {
        (self.location, &self.parameter)
    }

    /// Whether the token's header or query parameter is sent more than once.
    fn sent_twice(&self, headers: &HeaderMap, query: Option<&str>) -> bool {
        match self.location {
            TokenLocation::Header => headers.get_all(self.parameter.as_str()).iter().nth(1).is_some(),
            TokenLocation::Query => query.is_some_and(|query| {
                form_urlencoded::parse(query.as_bytes()).filter(|(name, _)| *name == self.parameter).nth(1).is_some()
            }),
            TokenLocation::Cookie => false,
        }
    }

    fn token<'r>(&self, headers: &'r HeaderMap, query: Option<&'r str>) -> Option<Cow<'r, str>> {
        match self.location {
            TokenLocation::Header => {
                let value = headers.get(self.parameter.as_str())?.to_str().ok()?.trim();
                let bearer = value.get(..7).filter(|prefix| prefix.eq_ignore_ascii_case("bearer "));
                Some(Cow::Borrowed(if bearer.is_some() { value[7..].trim_start() } else { value }))
            }
            TokenLocation::Query => {
                form_urlencoded::parse(query?.as_bytes()).find(|(name, _)| *name == self.parameter).map(|(_, v)| v)
            }
            TokenLocation::Cookie => headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|cookies| cookies.split(';'))
                .filter_map(cookie_pair)
                .find(|(name, _)| *name == self.parameter)
                .map(|(_, value)| Cow::Borrowed(value)),
        }
    }
}

/// The name and value of one `;`-separated part of a `Cookie` header.
pub fn cookie_pair(part: &str) -> Option<(&str, &str)> {
    part.trim().split_once('=')
}

/// The token's `jti` as a replay key, remembered until the token expires.
fn replay_of(claims: &Map<String, Value>, scope: &str) -> Result<Replay, GatewayError> {
    let Some(Value::String(id)) = claims.get("jti") else {
        return Err(GatewayError::InvalidToken("preventJtiReplay needs a jti claim".to_owned()));
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let keep_for = match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) => Duration::from_secs(exp).saturating_sub(now) + LEEWAY,
        None => JTI_MEMORY_WITHOUT_EXP,
    };
    Ok(Replay { key: format!("jti/{scope}/{id}"), keep_for })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    const KEY: &[u8] = b"a shared secret of at least 32 bytes!";

    fn plugin(spec: serde_json::Value) -> CompiledJwtAuth {
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(KEY);
        let jwks = format!(r#"{{"keys": [{{"kty": "oct", "kid": "h1", "k": "{k}"}}]}}"#);
        let secrets: Secrets = [("ns/keys".to_owned(), [("jwks".to_owned(), jwks.into_bytes())].into())].into();
        let config = serde_json::json!({"plugin": "jwt", "spec": spec, "keySecret": "ns/keys"});
        CompiledJwtAuth::compile(&serde_json::from_value(config).expect("a config"), "ns", &secrets)
            .expect("it compiles")
    }

    fn token(claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("h1".to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(KEY)).expect("a token")
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    fn in_ten_minutes() -> u64 {
        jiff::Timestamp::now().as_second() as u64 + 600
    }

    #[test]
    fn a_valid_token_passes_and_its_claims_are_forwarded() {
        let spec = serde_json::json!({"keySecretRef": {"name": "keys", "key": "jwks"},
            "claimParameters": [{"claimName": "userId", "parameterName": "x-user", "location": "header"}]});
        let jwt = plugin(spec);
        let verified =
            jwt.verify(&bearer(&token(serde_json::json!({"userId": "u-1", "exp": in_ten_minutes()}))), None).unwrap();
        assert_eq!(verified.forwarded[0].value, "u-1");
        assert_eq!(verified.claims["userId"], "u-1");
        assert_eq!(jwt.token_source(), (TokenLocation::Header, "Authorization"));
    }

    #[test]
    fn missing_expired_forged_and_doubled_tokens_are_refused() {
        let jwt = plugin(serde_json::json!({"keySecretRef": {"name": "keys", "key": "jwks"}}));
        assert!(matches!(jwt.verify(&HeaderMap::new(), None), Err(GatewayError::MissingToken)));
        let expired = token(serde_json::json!({"exp": 1_000_000}));
        assert!(matches!(jwt.verify(&bearer(&expired), None), Err(GatewayError::InvalidToken(_))));
        let mut forged = token(serde_json::json!({"exp": in_ten_minutes()}));
        forged.push('x');
        assert!(matches!(jwt.verify(&bearer(&forged), None), Err(GatewayError::InvalidToken(_))));
        let mut twice = bearer(&token(serde_json::json!({"exp": in_ten_minutes()})));
        twice.append(header::AUTHORIZATION, "Bearer other".parse().unwrap());
        assert!(matches!(jwt.verify(&twice, None), Err(GatewayError::DuplicateAuthHeader(_))));
        let bypass =
            plugin(serde_json::json!({"keySecretRef": {"name": "keys", "key": "jwks"}, "bypassEmptyToken": true}));
        assert!(bypass.verify(&HeaderMap::new(), None).unwrap().claims.is_empty());
    }
}
