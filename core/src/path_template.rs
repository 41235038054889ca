//! Request path templates: `/users/[userId]`, `/users/{userId}`, and a trailing `*` for a prefix.

use std::fmt;

/// A parsed request or backend path template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
    prefix: bool,
}

/// One `/`-separated piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Text matched exactly.
    Literal(String),
    /// A whole segment captured as the named parameter.
    Param(String),
}

/// Why a path template is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathTemplateError {
    /// The template does not start with `/`.
    #[error("path {0:?} must start with /")]
    NoLeadingSlash(String),
    /// A parameter marker is not a whole segment or is unbalanced.
    #[error("path {path:?}: segment {segment:?} must be a literal or a whole [name] or {{name}}")]
    BadSegment {
        /// The template.
        path: String,
        /// The offending segment.
        segment: String,
    },
    /// `*` appears elsewhere than at the very end.
    #[error("path {0:?}: * is allowed only at the end")]
    MisplacedWildcard(String),
    /// The same parameter name is used twice.
    #[error("path {path:?}: parameter {name:?} appears twice")]
    DuplicateParam {
        /// The template.
        path: String,
        /// The repeated name.
        name: String,
    },
}

impl PathTemplate {
    /// Parses a template; `[name]` and `{name}` are the same parameter syntax.
    pub fn parse(path: &str) -> Result<Self, PathTemplateError> {
        let Some(rest) = path.strip_prefix('/') else {
            return Err(PathTemplateError::NoLeadingSlash(path.to_owned()));
        };
        let (rest, prefix) = match rest.strip_suffix('*') {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        if rest.contains('*') {
            return Err(PathTemplateError::MisplacedWildcard(path.to_owned()));
        }
        let mut segments = Vec::new();
        let pieces: Vec<&str> = rest.split('/').collect();
        for (index, piece) in pieces.iter().enumerate() {
            let is_last = index + 1 == pieces.len();
            if piece.is_empty() && is_last {
                break; // a trailing slash, or the root path
            }
            let name = piece
                .strip_prefix('[')
                .and_then(|name| name.strip_suffix(']'))
                .or_else(|| piece.strip_prefix('{').and_then(|name| name.strip_suffix('}')));
            let segment = match name {
                Some(name) if is_parameter_name(name) => Segment::Param(name.to_owned()),
                None if !piece.contains(['[', ']', '{', '}']) => Segment::Literal((*piece).to_owned()),
                _ => {
                    return Err(PathTemplateError::BadSegment { path: path.to_owned(), segment: (*piece).to_owned() });
                }
            };
            if let Segment::Param(name) = &segment
                && segments.iter().any(|seen| matches!(seen, Segment::Param(other) if other == name))
            {
                return Err(PathTemplateError::DuplicateParam { path: path.to_owned(), name: name.clone() });
            }
            segments.push(segment);
        }
        let trailing_slash = rest.ends_with('/') || rest.is_empty();
        let mut template = Self { segments, prefix };
        if trailing_slash && !rest.is_empty() && !prefix {
            template.segments.push(Segment::Literal(String::new()));
        }
        Ok(template)
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the template ends in `*` and so matches every path below it.
    pub fn is_prefix(&self) -> bool {
        self.prefix
    }

    /// The names of the path parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// This template under a base path such as `/v1` (a base of `/` changes nothing).
    pub fn under(&self, base: &PathTemplate) -> PathTemplate {
        let mut segments: Vec<Segment> = base
            .segments
            .iter()
            .filter(|segment| !matches!(segment, Segment::Literal(text) if text.is_empty()))
            .cloned()
            .collect();
        segments.extend(self.segments.iter().cloned());
        PathTemplate { segments, prefix: self.prefix }
    }

    /// Appends the filled template to `out`: parameters from `param` (decoded values, each
    /// percent-encoded here as one segment), and the text matched by a trailing `*` from `rest`
    /// (a normalised request path, as it is).
    pub fn render_into<'a>(&'a self, out: &mut String, mut param: impl FnMut(&str) -> Option<&'a str>, rest: &str) {
        let start = out.len();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Param(name) => push_segment(out, param(name).unwrap_or_default()),
            }
        }
        if self.prefix {
            if !out[start..].ends_with('/') {
                out.push('/');
            }
            out.push_str(rest.trim_start_matches('/'));
        } else if out.len() == start {
            out.push('/');
        }
    }
}

/// Appends `value` as one path segment: every byte but the unreserved ones and the
/// sub-delimiters a segment may hold (RFC 3986 `pchar`, less `;`, which some servers read as
/// path parameters) is percent-encoded, and so are the dots of a `.` or `..` value, so that a
/// `/`, `?`, `#`, `%`, `;`, dot segment or control byte in a value never changes the path.
pub fn push_segment(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if value == "." || value == ".." {
        out.push_str(&"%2E".repeat(value.len()));
        return;
    }
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.extend(['%', char::from(HEX[usize::from(byte >> 4)]), char::from(HEX[usize::from(byte & 15)])]);
        }
    }
}

fn is_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for PathTemplate {
    /// Writes the template in Alibaba's `[name]` syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => write!(f, "/{text}")?,
                Segment::Param(name) => write!(f, "/[{name}]")?,
            }
            wrote = true;
        }
        match (self.prefix, wrote) {
            (true, _) => f.write_str("/*"),
            (false, false) => f.write_str("/"),
            (false, true) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Segment {
        Segment::Literal(text.to_owned())
    }

    fn param(name: &str) -> Segment {
        Segment::Param(name.to_owned())
    }

    #[test]
    fn parses_both_parameter_syntaxes_and_prefixes() {
        let cases: [(&str, Vec<Segment>, bool); 7] = [
            ("/", vec![], false),
            ("/*", vec![], true),
            ("/users/[userId]", vec![lit("users"), param("userId")], false),
            ("/users/{userId}/orders", vec![lit("users"), param("userId"), lit("orders")], false),
            ("/static/*", vec![lit("static")], true),
            ("/static*", vec![lit("static")], true),
            ("/dir/", vec![lit("dir"), lit("")], false),
        ];
        for (path, segments, prefix) in cases {
            assert_eq!(PathTemplate::parse(path), Ok(PathTemplate { segments, prefix }), "{path}");
        }
    }

    #[test]
    fn refuses_malformed_templates() {
        for path in ["users", "/a/*/b", "/a/[id", "/a/x[id]", "/a/[1d]", "/a/[id]/[id]", "/a/{}"] {
            assert!(PathTemplate::parse(path).is_err(), "{path} was accepted");
        }
    }

    #[test]
    fn renders_parameters_and_the_matched_rest() {
        let template = PathTemplate::parse("/v1/users/[uid]/*").expect("valid");
        let mut rendered = String::from("/base");
        template.render_into(&mut rendered, |name| (name == "uid").then_some("42"), "/a/b");
        assert_eq!(rendered, "/base/v1/users/42/a/b");
        let render = |template: &str, rest: &str| {
            let mut out = String::from("/base");
            PathTemplate::parse(template).expect("valid").render_into(&mut out, |_| None, rest);
            out
        };
        assert_eq!(render("/", ""), "/base/");
        assert_eq!(render("/*", "x/y"), "/base/x/y");
    }

    #[test]
    fn a_parameter_value_is_always_one_segment() {
        let template = PathTemplate::parse("/safe/[name]").expect("valid");
        let cases = [
            ("report.pdf", "/safe/report.pdf"),
            ("../../admin/secret", "/safe/..%2F..%2Fadmin%2Fsecret"),
            ("..", "/safe/%2E%2E"),
            (".", "/safe/%2E"),
            ("a?x=1", "/safe/a%3Fx=1"),
            ("a#b", "/safe/a%23b"),
            ("100%", "/safe/100%25"),
            ("a b\0\r\n", "/safe/a%20b%00%0D%0A"),
            ("x;jsessionid=1", "/safe/x%3Bjsessionid=1"),
            ("é", "/safe/%C3%A9"),
        ];
        for (value, expected) in cases {
            let mut out = String::new();
            template.render_into(&mut out, |_| Some(value), "");
            assert_eq!(out, expected, "{value:?}");
        }
    }

    #[test]
    fn nests_under_a_base_path_and_displays_in_alibaba_syntax() {
        let base = PathTemplate::parse("/v1/").expect("valid");
        let api = PathTemplate::parse("/users/{id}").expect("valid");
        assert_eq!(api.under(&base).to_string(), "/v1/users/[id]");
        assert_eq!(api.under(&PathTemplate::parse("/").expect("valid")).to_string(), "/users/[id]");
        assert_eq!(PathTemplate::parse("/static/*").expect("valid").to_string(), "/static/*");
    }
}
