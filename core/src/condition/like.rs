//! SQL `like` patterns: `%` any run of characters, `_` exactly one, `\` escapes the next.

/// One piece of a pattern.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    /// `%`.
    AnyRun,
    /// `_`.
    AnyOne,
    /// A literal character.
    Char(char),
}

/// A compiled `like` pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct LikePattern {
    pieces: Vec<Piece>,
}

impl LikePattern {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Self {
        let mut pieces = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            pieces.push(match c {
                '%' => Piece::AnyRun,
                '_' => Piece::AnyOne,
                '\\' => Piece::Char(chars.next().unwrap_or('\\')),
                c => Piece::Char(c),
            });
        }
        Self { pieces }
    }

    /// Whether `text` matches, without allocating: a greedy walk that backtracks to the last `%`.
    pub fn matches(&self, text: &str) -> bool {
        let text: &[u8] = text.as_bytes();
        let (mut p, mut t) = (0, 0);
        let mut resume: Option<(usize, usize)> = None;
        let char_at = |t: usize| std::str::from_utf8(&text[t..]).ok().and_then(|rest| rest.chars().next());
        while t < text.len() {
            let c = char_at(t);
            match (self.pieces.get(p), c) {
                (Some(Piece::AnyRun), _) => {
                    resume = Some((p, t));
                    p += 1;
                    continue;
                }
                (Some(Piece::AnyOne), Some(c)) => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                (Some(Piece::Char(expected)), Some(c)) if *expected == c => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                _ => {}
            }
            match resume {
                Some((star, start)) => {
                    let skipped = char_at(start).map_or(1, char::len_utf8);
                    resume = Some((star, start + skipped));
                    p = star + 1;
                    t = start + skipped;
                }
                None => return false,
            }
        }
        self.pieces[p..].iter().all(|piece| *piece == Piece::AnyRun)
    }
}

#[cfg(test)]
mod tests {
    use super::LikePattern;

    #[test]
    fn matches_like_sql() {
        let cases = [
            ("%0", "12340", true),
            ("%0", "12341", false),
            ("%1", "1", true),
            ("a_c", "abc", true),
            ("a_c", "ac", false),
            ("a%c%e", "abcde", true),
            ("a%c%e", "abcdf", false),
            ("%", "", true),
            ("", "", true),
            ("", "x", false),
            ("100\\%", "100%", true),
            ("100\\%", "1000", false),
            ("a\\_b", "a_b", true),
            ("a\\_b", "axb", false),
            ("é_", "éa", true),
            ("%ü", "grün-ü", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(LikePattern::new(pattern).matches(text), expected, "{text:?} like {pattern:?}");
        }
    }
}
