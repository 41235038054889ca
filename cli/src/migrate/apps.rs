//! `kubectl apigw import-apps`: an Alibaba App list into Apps and their credential Secrets.
//!
//! Each entry has the fields of Alibaba's OpenAPI answers: `AppId`, `AppName`, `Description`
//! (DescribeApps), `AppKey`, `AppSecret`, `AppCode` (DescribeAppSecurity) and `AuthorizedApis`
//! (DescribeAuthorizedApis: `GroupName`, `ApiName`, `StageName`, `AuthVaildTime`, Alibaba's
//! spelling). The list is a YAML or JSON list, or DescribeApps' own `{Apps: {AppItem: [...]}}`.
//! Api and group names become apigw's as `kubectl apigw import` makes them (lower-case, `-`).

use std::collections::BTreeMap;

use apigw_core::resources::AppSpec;
use serde_json::{Map, Value, json};

use super::checked::checked;
use super::{MigrateError, Migrated, scalar_text};
use crate::names::dns_label;

/// An `AuthVaildTime` in or after this year is Alibaba's "forever" (`9999-12-31 23:59:59`):
/// the authorization never ends.
const NEVER_ENDS_AFTER_YEAR: i16 = 2099;

/// The Apps of `document` and their Secrets.
pub fn import_apps(document: Value) -> Result<Migrated, MigrateError> {
    let entries = match document {
        Value::Array(entries) => entries,
        Value::Object(mut wrapper) => match wrapper.remove("Apps") {
            Some(Value::Object(mut apps)) => list(apps.remove("AppItem")),
            Some(apps) => list(Some(apps)),
            None => return Err(MigrateError::NotAnObject("the App list (a list, or {Apps: {AppItem: [...]}})".into())),
        },
        _ => return Err(MigrateError::NotAnObject("the App list".to_owned())),
    };
    let mut migrated = Migrated::default();
    for (index, entry) in entries.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(MigrateError::NotAnObject(format!("entry {index}")));
        };
        app(entry, index, &mut migrated)?;
    }
    Ok(migrated)
}

/// A list that may be absent.
fn list(value: Option<Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn app(entry: &Map<String, Value>, index: usize, migrated: &mut Migrated) -> Result<(), MigrateError> {
    let text = |key: &str| entry.get(key).and_then(scalar_text).filter(|text| !text.is_empty());
    let required = |key: &str| text(key).ok_or_else(|| MigrateError::field(format!("[{index}].{key}"), "missing"));
    let app_id: i64 = required("AppId")?
        .parse()
        .map_err(|_| MigrateError::field(format!("[{index}].AppId"), "not a whole number"))?;
    let name = text("AppName").map(|name| dns_label(&name)).filter(|name| !name.is_empty());
    let name = name.unwrap_or_else(|| format!("app-{app_id}"));
    let mut credentials = json!({"appKey": required("AppKey")?, "appSecret": required("AppSecret")?});
    if let Some(code) = text("AppCode") {
        credentials["appCode"] = json!(code);
    }
    let secret_name = format!("{name}-credentials");
    migrated.secret(&secret_name, credentials);
    migrated.moved.push(format!("App {name}: AppKey, AppSecret, AppCode -> Secret {secret_name}"));

    let mut spec = json!({
        "appId": app_id,
        "credentialsSecretRef": {"name": secret_name},
    });
    if let Some(description) = text("Description") {
        spec["description"] = json!(description);
    }
    let authorized = match entry.get("AuthorizedApis") {
        Some(Value::Object(wrapper)) => list(wrapper.get("AuthorizedApi").cloned()),
        other => list(other.cloned()),
    };
    let authorizations = authorizations(&authorized, &name, index, &mut migrated.warnings)?;
    if !authorizations.is_empty() {
        spec["authorizations"] = Value::Array(authorizations);
    }
    let known = ["AppId", "AppName", "Description", "AppKey", "AppSecret", "AppCode", "AuthorizedApis"];
    for key in entry.keys().filter(|key| !known.contains(&key.as_str())) {
        migrated.warnings.push(format!("App {name}: {key}: not imported"));
    }
    checked::<AppSpec>(&mut spec, &mut migrated.warnings).map_err(|reason| MigrateError::Invalid {
        kind: "App",
        name: name.clone(),
        reason,
    })?;
    migrated.resource("App", &name, spec);
    Ok(())
}

/// One authorization per Api (or group) and expiry, with the stages it covers.
fn authorizations(
    authorized: &[Value],
    app: &str,
    index: usize,
    warnings: &mut Vec<String>,
) -> Result<Vec<Value>, MigrateError> {
    let mut merged: BTreeMap<(String, String, Option<String>), Vec<String>> = BTreeMap::new();
    for (position, grant) in authorized.iter().enumerate() {
        let text = |key: &str| grant.get(key).and_then(scalar_text).filter(|text| !text.is_empty());
        let target = match (text("ApiName"), text("GroupName")) {
            (Some(api), _) => ("apiRef".to_owned(), dns_label(&api)),
            (None, Some(group)) => ("groupRef".to_owned(), dns_label(&group)),
            (None, None) => {
                warnings.push(format!("App {app}: an authorization with neither ApiName nor GroupName: not imported"));
                continue;
            }
        };
        let expires = match text("AuthVaildTime") {
            Some(time) => expiry(&time).map_err(|reason| {
                MigrateError::field(format!("[{index}].AuthorizedApis[{position}].AuthVaildTime"), reason)
            })?,
            None => None,
        };
        let stages = merged.entry((target.0, target.1, expires)).or_default();
        if let Some(stage) = text("StageName") {
            stages.push(stage.to_uppercase());
        }
    }
    Ok(merged
        .into_iter()
        .map(|((reference, target, expires), mut stages)| {
            stages.sort();
            stages.dedup();
            let mut authorization = json!({ reference: target });
            if !stages.is_empty() {
                authorization["stages"] = json!(stages);
            }
            if let Some(expires) = expires {
                authorization["expiresAt"] = json!(expires);
            }
            authorization
        })
        .collect())
}

/// `AuthVaildTime` as RFC 3339 (Alibaba writes `2027-01-01T00:00:00Z`, or a UTC
/// `2027-01-01 00:00:00`), `None` for a time so far away that it means never.
fn expiry(time: &str) -> Result<Option<String>, String> {
    let not_a_time = |_| format!("{time:?} is not a time (RFC 3339 or YYYY-MM-DD HH:MM:SS in UTC)");
    let timestamp = match time.parse::<jiff::Timestamp>() {
        Ok(timestamp) => timestamp,
        Err(_) => {
            let civil: jiff::civil::DateTime =
                time.trim_end_matches('Z').replacen(' ', "T", 1).parse().map_err(not_a_time)?;
            // Past jiff's last timestamp (9999-12-30), so read before it is one.
            if civil.year() >= NEVER_ENDS_AFTER_YEAR {
                return Ok(None);
            }
            civil.to_zoned(jiff::tz::TimeZone::UTC).map_err(not_a_time)?.timestamp()
        }
    };
    if timestamp.to_zoned(jiff::tz::TimeZone::UTC).year() >= NEVER_ENDS_AFTER_YEAR {
        return Ok(None);
    }
    Ok(Some(timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_get_secrets_and_their_authorizations_merged_by_api() {
        let list = json!({"Apps": {"AppItem": [
            {
                "AppId": 110840611, "AppName": "Mobile_App", "Description": "the phone app",
                "AppKey": "203753385", "AppSecret": "s3cr3t", "AppCode": "c0de",
                "AuthorizedApis": {"AuthorizedApi": [
                    {"GroupName": "shop", "ApiName": "Get_Order", "StageName": "RELEASE", "AuthVaildTime": "2027-06-30T16:00:00Z"},
                    {"GroupName": "shop", "ApiName": "Get_Order", "StageName": "TEST", "AuthVaildTime": "2027-07-01T00:00:00+08:00"},
                    {"GroupName": "shop", "ApiName": "listOrders", "StageName": "RELEASE", "AuthVaildTime": "9999-12-31 23:59:59"},
                    {"GroupName": "admin"},
                    {"ApiId": "abc"}
                ]},
                "CreatedTime": "2019-01-01T00:00:00Z"
            },
            {"AppId": "7", "AppKey": "777", "AppSecret": "seven"}
        ]}});
        let migrated = import_apps(list).unwrap();
        let kinds: Vec<(&str, &str)> = migrated
            .objects
            .iter()
            .map(|object| (object["kind"].as_str().unwrap(), object["metadata"]["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("Secret", "mobile-app-credentials"),
                ("App", "mobile-app"),
                ("Secret", "app-7-credentials"),
                ("App", "app-7")
            ]
        );
        assert_eq!(
            migrated.objects[0]["stringData"],
            json!({"appKey": "203753385", "appSecret": "s3cr3t", "appCode": "c0de"})
        );
        assert_eq!(
            migrated.objects[1]["spec"],
            json!({
                "appId": 110840611,
                "description": "the phone app",
                "credentialsSecretRef": {"name": "mobile-app-credentials"},
                "authorizations": [
                    {"apiRef": "get-order", "stages": ["RELEASE", "TEST"], "expiresAt": "2027-06-30T16:00:00Z"},
                    {"apiRef": "listorders", "stages": ["RELEASE"]},
                    {"groupRef": "admin"},
                ],
            })
        );
        assert_eq!(
            migrated.objects[3]["spec"],
            json!({"appId": 7, "credentialsSecretRef": {"name": "app-7-credentials"}})
        );
        assert_eq!(
            migrated.warnings,
            [
                "App mobile-app: an authorization with neither ApiName nor GroupName: not imported",
                "App mobile-app: CreatedTime: not imported"
            ]
        );
    }

    #[test]
    fn an_app_without_its_secret_is_refused_with_the_field() {
        let error = import_apps(json!([{"AppId": 1, "AppKey": "k"}])).unwrap_err();
        assert_eq!(error.to_string(), "[0].AppSecret: missing");
        assert_eq!(import_apps(json!([{"AppId": "x"}])).unwrap_err().to_string(), "[0].AppId: not a whole number");
        let later = json!([{"AppId": 1, "AppKey": "k", "AppSecret": "s", "AuthorizedApis": [{"ApiName": "a", "AuthVaildTime": "soon"}]}]);
        assert_eq!(
            import_apps(later).unwrap_err().to_string(),
            "[0].AuthorizedApis[0].AuthVaildTime: \"soon\" is not a time (RFC 3339 or YYYY-MM-DD HH:MM:SS in UTC)",
            "an end that cannot be read is never taken for no end"
        );
    }
}
