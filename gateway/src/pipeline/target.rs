//! The request path, decided once before routing: percent-encodings checked and put in one
//! form, dot segments removed (RFC 3986 §5.2.4, §6.2.2), encoded slashes and backslashes
//! refused or decoded as the `--escaped-slashes` policy says. The router, the plugins, the
//! signature check and the backend all see this one path, so no later reader (a backend that
//! normalises paths itself, a WAF in front) can take the request for another Api's.

use std::borrow::Cow;

use crate::error::GatewayError;

/// What a `%2F`, `%5C` or a literal `\` in a request path does (Envoy calls this
/// `path_with_escaped_slashes_action`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EscapedSlashes {
    /// The request is refused with 400 `I400PT`.
    #[default]
    Reject,
    /// Decoded to `/`, then dot segments are removed over the result.
    Decode,
}

/// Why a request path cannot be normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// A `%` not followed by two hex digits.
    #[error("a % in the path is not followed by two hex digits")]
    BadEscape,
    /// `%2F`, `%5C` or `\` under the `reject` policy.
    #[error("the path has an encoded slash or a backslash")]
    EscapedSlash,
    /// A control byte (`%00`-`%1F`, `%7F`), such as NUL, CR or LF.
    #[error("the path encodes a control character")]
    ControlByte,
    /// More `..` segments than there are segments above them.
    #[error("the path climbs above the root")]
    AboveRoot,
}

impl From<PathRefusal> for GatewayError {
    fn from(refusal: PathRefusal) -> Self {
        GatewayError::InvalidPath(refusal.to_string())
    }
}

/// The normalised form of `path`: borrowed when it is already normal (the usual case: no `%`,
/// no `\`, no `.` segment). Unreserved characters are decoded, other escapes get upper-case hex;
/// paths that are not origin-form (`*`) are left alone.
pub fn normalize_path(path: &str, slashes: EscapedSlashes) -> Result<Cow<'_, str>, PathRefusal> {
    let bytes = path.as_bytes();
    let has_dot_segment = bytes.windows(2).any(|pair| pair == b"/.");
    if !path.starts_with('/') || !(has_dot_segment || bytes.iter().any(|&byte| byte == b'%' || byte == b'\\')) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(bytes, slashes)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)?))
}

/// `bytes` with escapes of unreserved characters decoded and the others in upper-case hex;
/// slashes as `slashes` says.
fn decode_unreserved(bytes: &[u8], slashes: EscapedSlashes) -> Result<String, PathRefusal> {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&byte, after)) = rest.split_first() {
        rest = after;
        let decoded = match byte {
            b'%' => {
                let [high, low, ..] = *rest else { return Err(PathRefusal::BadEscape) };
                rest = &rest[2..];
                let value = hex(high).zip(hex(low)).map(|(high, low)| high << 4 | low);
                value.ok_or(PathRefusal::BadEscape)?
            }
            b'\\' => b'\\',
            _ => {
                out.push(char::from(byte));
                continue;
            }
        };
        match decoded {
            b'/' | b'\\' if slashes == EscapedSlashes::Reject => return Err(PathRefusal::EscapedSlash),
            b'/' | b'\\' => out.push('/'),
            0..=0x1f | 0x7f => return Err(PathRefusal::ControlByte),
            unreserved if unreserved.is_ascii_alphanumeric() || b"-._~".contains(&unreserved) => {
                out.push(char::from(unreserved));
            }
            other => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.extend(['%', char::from(HEX[usize::from(other >> 4)]), char::from(HEX[usize::from(other & 15)])]);
            }
        }
    }
    Ok(out)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|value| value as u8)
}

/// `path` (starting with `/`) without `.` and `..` segments; a path that ended in one ends in
/// `/`.
fn remove_dot_segments(path: &str) -> Result<String, PathRefusal> {
    let mut kept: Vec<&str> = Vec::new();
    let mut ends_in_directory = false;
    for segment in path[1..].split('/') {
        ends_in_directory = matches!(segment, "." | "..");
        match segment {
            "." => {}
            ".." => {
                kept.pop().ok_or(PathRefusal::AboveRoot)?;
            }
            segment => kept.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if ends_in_directory || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_borrowed_as_they_are() {
        for path in ["/", "/public/items", "/a.b/c.d", "/x.y/z", "*"] {
            assert!(matches!(normalize_path(path, EscapedSlashes::Reject), Ok(Cow::Borrowed(same)) if same == path));
        }
    }

    #[test]
    fn normalises_or_refuses_each_shape() {
        use EscapedSlashes::{Decode, Reject};
        use PathRefusal::*;
        let cases: &[(&str, EscapedSlashes, Result<&str, PathRefusal>)] = &[
            ("/public/../admin/secret", Reject, Ok("/admin/secret")),
            ("/public/%2e%2e/admin/secret", Reject, Ok("/admin/secret")),
            ("/public/%2E%2e/admin", Reject, Ok("/admin")),
            ("/public/.%2e/admin", Reject, Ok("/admin")),
            ("/a/./b/.", Reject, Ok("/a/b/")),
            ("/a/b/..", Reject, Ok("/a/")),
            ("/a/..", Reject, Ok("/")),
            ("/..", Reject, Err(AboveRoot)),
            ("/a/../../b", Reject, Err(AboveRoot)),
            ("/public/..%2fadmin", Reject, Err(EscapedSlash)),
            ("/public/..%2Fadmin", Decode, Ok("/admin")),
            ("/public/..%5cadmin", Decode, Ok("/admin")),
            ("/public\\..\\admin", Reject, Err(EscapedSlash)),
            ("/public\\..\\admin", Decode, Ok("/admin")),
            ("/files/%2e%2e%2f%2e%2e%2fadmin", Decode, Err(AboveRoot)),
            ("/p%61th/%7euser", Reject, Ok("/path/~user")),
            ("/a%20b/c%3fd/%23e/%25f", Reject, Ok("/a%20b/c%3Fd/%23e/%25f")),
            ("/a%c3%a9", Reject, Ok("/a%C3%A9")),
            ("/a%00b", Reject, Err(ControlByte)),
            ("/a%0d%0aX-Injected:%201", Reject, Err(ControlByte)),
            ("/a%7f", Reject, Err(ControlByte)),
            ("/a%zz", Reject, Err(BadEscape)),
            ("/a%4", Reject, Err(BadEscape)),
            ("/a%", Reject, Err(BadEscape)),
        ];
        for &(path, slashes, expected) in cases {
            let got = normalize_path(path, slashes);
            assert_eq!(got.as_deref().map_err(|refusal| *refusal), expected, "{path} ({slashes:?})");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_normal_path_has_no_dot_segment_and_is_its_own_normal_form(path in "/[a-z.%/\\\\2eEfF5cC]{0,24}") {
            if let Ok(normal) = normalize_path(&path, EscapedSlashes::Decode) {
                proptest::prop_assert!(!normal.split('/').any(|segment| segment == "." || segment == ".."), "{normal}");
                let again = normalize_path(&normal, EscapedSlashes::Decode).map(Cow::into_owned);
                proptest::prop_assert_eq!(again, Ok(normal.clone().into_owned()));
            }
        }
    }
}
