//! YAML that kubectl reads as it was written. kubectl parses YAML 1.1, where a bare `n`, `no`,
//! `on`, `y` or `off` is a boolean; serde_yaml writes YAML 1.2, where they are strings, and
//! leaves them bare (a JWK's `n:` became `false:` on the API server). Here every string that any
//! YAML version could read as something else is double-quoted.

use serde_json::Value;

/// `objects` as a YAML stream, each document after `---`.
pub fn documents<'a>(objects: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for object in objects {
        out += "---\n";
        block(&mut out, object, 0);
    }
    out
}

/// Writes `value` in block style, its lines indented by `indent`.
fn block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                out.push_str(&format!("{pad}{}:", scalar_string(key)));
                entry(out, value, indent, indent + 2);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // The first key on the dash's line, the others below it.
                        let mut nested = String::new();
                        block(&mut nested, item, indent + 2);
                        out.push_str(&format!("{pad}- {}", &nested[indent + 2..]));
                    }
                    _ => {
                        out.push_str(&format!("{pad}-"));
                        entry(out, item, indent + 2, indent + 2);
                    }
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{}\n", inline(scalar))),
    }
}

/// The rest of a line after `key:` or `-`: a scalar on it, or a collection below it (a list
/// at `list_indent`, a map at `map_indent`).
fn entry(out: &mut String, value: &Value, list_indent: usize, map_indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            block(out, value, map_indent);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            block(out, value, list_indent);
        }
        scalar => out.push_str(&format!(" {}\n", inline(scalar))),
    }
}

/// A scalar or an empty collection on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::String(text) => scalar_string(text),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

/// `text` bare when every YAML reads it as this string, else double-quoted (a JSON string is a
/// valid YAML double-quoted scalar).
fn scalar_string(text: &str) -> String {
    const AMBIGUOUS: [&str; 12] =
        ["y", "yes", "n", "no", "on", "off", "true", "false", "null", "nan", "inf", "infinity"];
    let mut characters = text.chars();
    let plain = characters.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '/' || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || "_./-".contains(character))
        && !AMBIGUOUS.contains(&text.to_ascii_lowercase().as_str());
    if plain { text.to_owned() } else { Value::String(text.to_owned()).to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_1_1_booleans_and_numbers_in_strings_are_quoted() {
        let object = json!({
            "jwk": {"n": "gNHI", "e": "AQAB", "kty": "RSA"},
            "claims": [{"claimName": "on", "parameterName": "no"}, "y", "1.0", "2027-01-01", "a b", "*", "Query:x"],
            "empty": {}, "none": [], "count": 3, "flag": true, "nested": [[1, 2], []],
            "text": "line one\nline two",
        });
        let text = documents([&object]);
        assert!(
            text.contains("\"n\": gNHI") && text.contains("- claimName: \"on\"\n  parameterName: \"no\""),
            "{text}"
        );
        for quoted in ["\"y\"", "\"1.0\"", "\"2027-01-01\"", "\"a b\"", "\"*\"", "\"Query:x\""] {
            assert!(text.contains(&format!("- {quoted}\n")), "{quoted} in {text}");
        }
        let read: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(read, object, "{text}");
    }
}
