//! The credentials the gateway checked, kept from the backend unless the Api's
//! `auth.forwardCredentials` asks for them: `X-Ca-Signature`, `-Method` and `-Headers` of a
//! signed request, an `Authorization: APPCODE ...` header or `AppCode` query parameter, and the
//! header, query parameter or cookie a jwtAuth plugin read its token from, and the
//! `Authorization` a basicAuth plugin checked.

use std::borrow::Cow;

use apigw_core::resources::{AppCodeMode, AuthType, TokenLocation};
use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::auth::{X_CA_SIGNATURE, X_CA_SIGNATURE_HEADERS, X_CA_SIGNATURE_METHOD};
use crate::config::api::CompiledApi;
use crate::plugins::jwt_auth::cookie_pair;

/// The signature headers of a signed request.
const SIGNATURE_HEADERS: [HeaderName; 3] = [X_CA_SIGNATURE, X_CA_SIGNATURE_METHOD, X_CA_SIGNATURE_HEADERS];
/// The spellings of the AppCode query parameter the gateway accepts.
pub const APP_CODE_PARAMETERS: [&str; 5] = ["AppCode", "appcode", "appCode", "APPCODE", "APPCode"];

/// Removes the checked credentials from the headers the backend gets.
pub fn strip_headers(api: &CompiledApi, headers: &mut HeaderMap) {
    if api.auth.forward_credentials {
        return;
    }
    if api.auth.kind == AuthType::App {
        for name in SIGNATURE_HEADERS {
            headers.remove(name);
        }
        let app_code = api.auth.app_code != AppCodeMode::Disabled
            && headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).is_some_and(|value| {
                value.trim_start().get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("APPCODE "))
            });
        if app_code {
            headers.remove(header::AUTHORIZATION);
        }
    }
    match api.jwt_auth.as_ref().map(|jwt| jwt.token_source()) {
        Some((TokenLocation::Header, name)) => drop(headers.remove(name)),
        Some((TokenLocation::Cookie, name)) => strip_cookie(headers, name),
        _ => {}
    }
    if api.basic_auth.is_some() {
        headers.remove(header::AUTHORIZATION);
    }
}

/// Removes cookie `name` from the `Cookie` headers; the other cookies stay, and a header left
/// with none goes. Headers without it are not touched.
fn strip_cookie(headers: &mut HeaderMap, name: &str) {
    let is_token = |part: &str| cookie_pair(part).is_some_and(|(cookie, _)| cookie == name);
    let holds_token = |value: &HeaderValue| value.to_str().is_ok_and(|cookies| cookies.split(';').any(is_token));
    if !headers.get_all(header::COOKIE).iter().any(holds_token) {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| match value.to_str() {
            Ok(cookies) if holds_token(value) => {
                let rest: Vec<&str> = cookies.split(';').filter(|cookie| !is_token(cookie)).map(str::trim).collect();
                HeaderValue::from_str(&rest.join("; ")).ok().filter(|rest| !rest.is_empty())
            }
            _ => Some(value.clone()),
        })
        .collect();
    headers.remove(header::COOKIE);
    for value in kept {
        headers.append(header::COOKIE, value);
    }
}

/// The query the backend gets: `query` without the checked credentials' parameters (unchanged,
/// and not copied, when it has none).
pub fn strip_query<'q>(api: &CompiledApi, query: &'q str) -> Cow<'q, str> {
    if api.auth.forward_credentials {
        return Cow::Borrowed(query);
    }
    let token = match api.jwt_auth.as_ref().map(|jwt| jwt.token_source()) {
        Some((TokenLocation::Query, name)) => Some(name),
        _ => None,
    };
    let app_code = api.auth.kind == AuthType::App && api.auth.app_code == AppCodeMode::HeaderQuery;
    if token.is_none() && !app_code {
        return Cow::Borrowed(query);
    }
    let checked = |name: &str| token == Some(name) || (app_code && APP_CODE_PARAMETERS.contains(&name));
    let is_checked = |pair: &str| {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        checked(&form_urlencoded::parse(name.as_bytes()).next().map(|(name, _)| name).unwrap_or_default())
    };
    if !query.split('&').any(is_checked) {
        return Cow::Borrowed(query);
    }
    Cow::Owned(query.split('&').filter(|pair| !is_checked(pair)).collect::<Vec<_>>().join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::COOKIE, HeaderValue::from_str(value).expect("a header value"));
        }
        headers
    }

    fn left(headers: &HeaderMap) -> Vec<&str> {
        headers.get_all(header::COOKIE).iter().map(|value| value.to_str().expect("text")).collect()
    }

    #[test]
    fn only_the_token_cookie_is_kept_from_the_backend() {
        let mut headers = cookies(&["theme=dark; session=eyJ.token; lang=en", "session=again", "other=1"]);
        strip_cookie(&mut headers, "session");
        assert_eq!(left(&headers), ["theme=dark; lang=en", "other=1"]);

        let mut unchanged = cookies(&["sessionx=1; xsession=2", "theme=dark"]);
        strip_cookie(&mut unchanged, "session");
        assert_eq!(left(&unchanged), ["sessionx=1; xsession=2", "theme=dark"], "similar names stay");
    }
}
