//! Tokens of the condition language, each with the column (1-based, in characters) it starts at.

use super::ConditionError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// `$name`.
    Param(String),
    /// A quoted string, unescaped.
    Text(String),
    /// A number literal, and its text as written.
    Number(f64, String),
    /// A bare word: `and`, `or`, `not`, `like`, `in_cidr`, `is`, `null`, `Random`, `true`, `false`.
    Word(String),
    /// `=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`.
    Operator(&'static str),
    /// `(`.
    Open,
    /// `)`.
    Close,
}

/// A token and its column.
pub type Spanned = (Token, usize);

/// Splits `source` into tokens.
pub fn tokens(source: &str) -> Result<Vec<Spanned>, ConditionError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let column = i + 1;
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let token = match c {
            '(' => {
                i += 1;
                Token::Open
            }
            ')' => {
                i += 1;
                Token::Close
            }
            '\'' | '"' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(ConditionError::new(column, "a string that is never closed")),
                        Some('\\') if chars.get(i + 1).is_some_and(|next| *next == quote || *next == '\\') => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&ch) if ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                Token::Text(text)
            }
            '$' => {
                let start = i + 1;
                i = start;
                while chars.get(i).is_some_and(|ch| ch.is_ascii_alphanumeric() || *ch == '_') {
                    i += 1;
                }
                if i == start {
                    return Err(ConditionError::new(column, "a parameter name after $"));
                }
                Token::Param(chars[start..i].iter().collect())
            }
            '=' => {
                // `==` (as Alibaba's circuit-breaker examples write it) is `=`.
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                Token::Operator("=")
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Token::Operator("<>")
            }
            '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (operator, width) = match (c, next) {
                    ('<', Some('>')) => ("<>", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    _ => (">", 1),
                };
                i += width;
                Token::Operator(operator)
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) || c == '.' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|ch| ch.is_ascii_digit() || *ch == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let number = text.parse().map_err(|_| ConditionError::new(column, "a number"))?;
                Token::Number(number, text)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars.get(i).is_some_and(|ch| ch.is_ascii_alphanumeric() || *ch == '_') {
                    i += 1;
                }
                Token::Word(chars[start..i].iter().collect())
            }
            other => {
                return Err(ConditionError::new(
                    column,
                    format!("a value, an operator or a parenthesis, not {other:?}"),
                ));
            }
        };
        tokens.push((token, column));
    }
    Ok(tokens)
}
