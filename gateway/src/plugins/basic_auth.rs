//! The basicAuth plugin: RFC 7617 credentials checked against htpasswd users kept in a Secret
//! (bcrypt, SHA-256-crypt, SHA-512-crypt).
//!
//! Those hashes cost milliseconds of CPU by design, so a check runs on the blocking pool, never
//! on a worker thread, a few at a time; and credentials that passed are remembered (by their
//! SHA-256, for five minutes, at most 4,096 of them) so that a client sending them with every
//! request pays once. A user name that does not exist costs a check too, so that answer times
//! do not tell which users exist.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apigw_core::config::BasicAuthConfig;
use apigw_core::htpasswd;
use base64::Engine;
use http::{HeaderMap, HeaderValue, header};
use sha_crypt::{PasswordVerifier, ShaCrypt};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::GatewayError;
use crate::secrets::Secrets;
use crate::state::remembered::{Key, Remembered};

/// How long credentials that passed are taken without a new check.
const REMEMBERED_FOR: Duration = Duration::from_secs(300);
/// The most credentials remembered; none are added when full, until some expire.
const MAX_REMEMBERED: usize = 4096;
/// Hash checks running at once (they queue beyond).
const CONCURRENT_CHECKS: usize = 4;
/// Checked when the user does not exist, so that it costs as much as a wrong password.
const UNKNOWN_USER_HASH: &str = "$2y$10$B0Tp2Lu5al4e4m0Dlz43vesRhYcS3Vflf7R1DFTrjZ8m4FlkU4JyC";

/// A basicAuth plugin, compiled.
#[derive(Debug)]
pub struct CompiledBasicAuth {
    users: HashMap<String, Arc<str>>,
    challenge: HeaderValue,
    /// Credentials (their SHA-256) that passed, taken without a new check for a while.
    remembered: Remembered<()>,
    checks: Semaphore,
}

impl CompiledBasicAuth {
    /// Compiles the plugin; its users come from the Secret key in `secrets`.
    pub fn compile(config: &BasicAuthConfig, secrets: &Secrets) -> Result<Self, String> {
        let text = secrets
            .get(&config.secret)
            .and_then(|data| data.get(&config.key))
            .ok_or_else(|| format!("Secret {} with key {} is not available", config.secret, config.key))?;
        let users = htpasswd::parse(&String::from_utf8_lossy(text))?;
        let challenge = HeaderValue::try_from(format!("Basic realm=\"{}\", charset=\"UTF-8\"", config.realm))
            .map_err(|error| format!("realm {:?}: {error}", config.realm))?;
        Ok(Self {
            users: users.into_iter().map(|(user, hash)| (user, Arc::from(hash))).collect(),
            challenge,
            remembered: Remembered::new(MAX_REMEMBERED),
            checks: Semaphore::new(CONCURRENT_CHECKS),
        })
    }

    /// The user the request's `Authorization: Basic` credentials authenticate.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<String, GatewayError> {
        let refused = || GatewayError::BasicAuthRequired(self.challenge.clone());
        let (user, password) = credentials(headers).ok_or_else(refused)?;
        let key = remember_key(&user, &password);
        if self.remembered.get(&key).is_some() {
            return Ok(user);
        }
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (Arc::from(UNKNOWN_USER_HASH), false),
        };
        let permit = self.checks.acquire().await.map_err(|_| refused())?;
        let matches = tokio::task::spawn_blocking(move || verify(&password, &hash)).await.unwrap_or(false);
        drop(permit);
        if !(matches && known) {
            return Err(refused());
        }
        self.remembered.insert(key, (), REMEMBERED_FOR);
        Ok(user)
    }
}

/// The user and password of `Authorization: Basic base64(user:password)`, if well-formed.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, password) =
        String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some((user, password))
}

/// What remembered credentials are known by: never the password itself.
fn remember_key(user: &str, password: &str) -> Key {
    let mut digest = Sha256::new();
    digest.update(user.as_bytes());
    digest.update([0]);
    digest.update(password.as_bytes());
    digest.finalize().into()
}

/// Whether `password` matches `hash` (bcrypt or SHA-crypt), in constant time.
fn verify(password: &str, hash: &str) -> bool {
    if hash.starts_with("$2") {
        bcrypt::verify(password, hash).unwrap_or(false)
    } else {
        ShaCrypt::default().verify_password(password.as_bytes(), hash).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `alice:wonderland` (bcrypt, cost 4), `bob:builder` (SHA-512-crypt, `openssl passwd -6`)
    /// and `carol:carrots` (SHA-256-crypt, `openssl passwd -5`).
    const USERS: &str = "alice:$2y$04$nTask4/B/53krpFjQMue0uPEjV3tMHWOq.Uezuw1jyukaIfcmSYgO\nbob:$6$saltsalt$AMApe3UxKRHFGgpM1NDN5e0tMZ6laQYyoi896lWiBlxd7Nwbszp8z77oH.h4MAG5Y14p5yLYfTD/sjuLtHEDG/\ncarol:$5$pepper$T67ALt7ER7vhePnX26jKIhDA1V45u1IwCis0NlsLNV1\n";

    fn plugin() -> CompiledBasicAuth {
        let config = BasicAuthConfig {
            plugin: "basic".to_owned(),
            secret: "ns/users".to_owned(),
            key: "htpasswd".to_owned(),
            realm: "shop".to_owned(),
        };
        let secrets: Secrets =
            [("ns/users".to_owned(), [("htpasswd".to_owned(), USERS.as_bytes().to_vec())].into())].into();
        CompiledBasicAuth::compile(&config, &secrets).expect("compiles")
    }

    fn basic(credentials: &str) -> HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        [(header::AUTHORIZATION, HeaderValue::try_from(format!("Basic {encoded}")).unwrap())].into_iter().collect()
    }

    #[tokio::test]
    async fn the_right_password_of_a_known_user_passes_and_nothing_else() {
        let plugin = plugin();
        assert_eq!(plugin.authenticate(&basic("alice:wonderland")).await.ok().as_deref(), Some("alice"));
        assert_eq!(plugin.authenticate(&basic("alice:wonderland")).await.ok().as_deref(), Some("alice"), "remembered");
        assert_eq!(plugin.authenticate(&basic("bob:builder")).await.ok().as_deref(), Some("bob"));
        assert_eq!(plugin.authenticate(&basic("carol:carrots")).await.ok().as_deref(), Some("carol"));
        for refused in [
            basic("alice:Wonderland"),
            basic("dave:wonderland"),
            basic("alice"),
            basic("bob:carrots"),
            HeaderMap::new(),
        ] {
            let Err(GatewayError::BasicAuthRequired(challenge)) = plugin.authenticate(&refused).await else {
                panic!("{refused:?} passed");
            };
            assert_eq!(challenge, "Basic realm=\"shop\", charset=\"UTF-8\"");
        }
    }
}
