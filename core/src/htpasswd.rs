//! Users of the basicAuth plugin, in htpasswd format: one `user:hash` line each, the hash
//! bcrypt (`$2y$`, `$2a$`, `$2b$`), SHA-256-crypt (`$5$`) or SHA-512-crypt (`$6$`). Plain text,
//! `{SHA}`, `crypt` and Apache MD5 (`$apr1$`) are refused: they are too weak to keep passwords.
//! Empty lines and `#` comments are skipped.

use std::collections::BTreeMap;

/// The hash schemes accepted, by prefix.
pub const SCHEMES: [&str; 5] = ["$2y$", "$2a$", "$2b$", "$5$", "$6$"];

/// Users and their password hashes, or the first line that is not one (numbered from 1).
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut users = BTreeMap::new();
    for (number, line) in text.lines().enumerate().map(|(index, line)| (index + 1, line.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(format!("line {number}: not user:hash"));
        };
        if user.is_empty() {
            return Err(format!("line {number}: no user name"));
        }
        if !SCHEMES.iter().any(|scheme| hash.starts_with(scheme)) {
            return Err(format!(
                "line {number} (user {user}): only bcrypt ($2y$), SHA-256-crypt ($5$) and SHA-512-crypt ($6$) hashes are accepted"
            ));
        }
        if users.insert(user.to_owned(), hash.to_owned()).is_some() {
            return Err(format!("line {number}: user {user} is listed twice"));
        }
    }
    if users.is_empty() {
        return Err("no user".to_owned());
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_strong_hashes_and_refuses_the_rest_naming_the_line() {
        let users = parse("# team\nalice:$2y$05$abcdefghijklmnopqrstuv\n\nbob:$6$salt$hash\n").expect("valid");
        assert_eq!(users.keys().collect::<Vec<_>>(), ["alice", "bob"]);
        for (text, expected) in [
            ("carol:secret", "line 1 (user carol): only bcrypt"),
            ("dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "line 1 (user dave)"),
            ("a:$5$x$y\neve:$apr1$x$y", "line 2 (user eve)"),
            ("nocolon", "line 1: not user:hash"),
            ("a:$5$x$y\na:$6$x$y", "line 2: user a is listed twice"),
            ("# only a comment", "no user"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.starts_with(expected), "{text}: {error}");
        }
    }
}
