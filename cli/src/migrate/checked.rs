//! A converted document checked against the CRD types: the fields the types do not know are
//! reported and left out, never dropped silently.

use serde::de::DeserializeOwned;
use serde_ignored::Path;
use serde_json::Value;

/// `document` read as `T`; every field `T` ignores is removed from `document` and named in
/// `warnings` (`jwtAuth.usersDatasetId`).
pub fn checked<T: DeserializeOwned>(document: &mut Value, warnings: &mut Vec<String>) -> Result<T, String> {
    let mut ignored = Vec::new();
    let typed: T = serde_ignored::deserialize(document.clone(), |path| ignored.push(segments(&path)))
        .map_err(|error| error.to_string())?;
    for path in ignored {
        warnings.push(format!("{}: not an apigw field, not imported", path.join(".")));
        remove(document, &path);
    }
    Ok(typed)
}

/// The keys and indexes of `path`, root first.
fn segments(path: &Path<'_>) -> Vec<String> {
    let mut segments = match path {
        Path::Root => return Vec::new(),
        Path::Seq { parent, .. }
        | Path::Map { parent, .. }
        | Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments(parent),
    };
    match path {
        Path::Seq { index, .. } => segments.push(index.to_string()),
        Path::Map { key, .. } => segments.push(key.clone()),
        _ => {}
    }
    segments
}

fn remove(document: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut at = document;
    for segment in parents {
        at = match at {
            Value::Object(map) => match map.get_mut(segment) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match segment.parse::<usize>().ok().and_then(|index| items.get_mut(index)) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(map) = at {
        map.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_core::resources::PluginSpec;

    #[test]
    fn unknown_fields_are_named_and_removed() {
        let mut document = serde_json::json!({"cors": {"allowOrigins": "*", "shinyNewOption": 1}});
        let mut warnings = Vec::new();
        let spec: PluginSpec = checked(&mut document, &mut warnings).unwrap();
        assert!(spec.cors.is_some());
        assert_eq!(warnings, ["cors.shinyNewOption: not an apigw field, not imported"]);
        assert_eq!(document, serde_json::json!({"cors": {"allowOrigins": "*"}}));
    }
}
