//! Table-driven tests of the condition language.

use std::collections::BTreeMap;

use super::*;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

/// A condition, parameter values, and whether it holds.
type Case = (&'static str, &'static [(&'static str, &'static str)], bool);

#[test]
fn evaluates_the_reference_documents_conditions_and_more() {
    let cases: &[Case] = &[
        // The reference document's grey-release cases.
        ("$CaAppId = 4534463 or $CaAppId = 86734572", &[("CaAppId", "86734572")], true),
        ("$CaAppId = 4534463 or $CaAppId = 86734572", &[("CaAppId", "1")], false),
        ("$userId like '%0' or $userId like '%1'", &[("userId", "10231")], true),
        ("$userId like '%0' or $userId like '%1'", &[("userId", "10232")], false),
        ("$clientVersion < '2.0.5'", &[("clientVersion", "1.9")], true),
        ("$clientVersion < '2.0.5'", &[("clientVersion", "2.1")], false),
        ("$CaClientIp in_cidr  '106.11.31.0/24'", &[("CaClientIp", "106.11.31.77")], true),
        ("$CaClientIp in_cidr '106.11.31.0/24'", &[("CaClientIp", "106.11.32.1")], false),
        ("$target = 'resource1'", &[("target", "resource1")], true),
        // Alibaba's circuit-breaker examples write `==`.
        ("$StatusCode == 503", &[("StatusCode", "503")], true),
        ("$StatusCode == 503", &[("StatusCode", "200")], false),
        ("$statusCode = 200 and $resultCode <> 'OK'", &[("statusCode", "200"), ("resultCode", "FAIL")], true),
        ("$userId = $pathUserId", &[("userId", "7"), ("pathUserId", "7")], true),
        ("$userId = $pathUserId", &[("userId", "7"), ("pathUserId", "8")], false),
        ("1 = 1", &[], true),
        // Numbers compare as numbers when both sides are numeric, else as strings.
        ("$n = 10", &[("n", "10.0")], true),
        ("$n < 9", &[("n", "10")], false),
        ("$n < '9'", &[("n", "10")], false),
        ("$v < '9'", &[("v", "10a")], true),
        ("$id = '042'", &[("id", "42")], true),
        // Null: a missing parameter makes every comparison false.
        ("$missing = 'x'", &[], false),
        ("$missing <> 'x'", &[], false),
        ("$missing like '%'", &[], false),
        ("$missing not like 'x%'", &[], false),
        ("$missing is null", &[], true),
        ("$present is not null", &[("present", "")], true),
        ("not $missing = 'x'", &[], true),
        // Operators, keywords in any case, both quotes, escapes, parentheses and precedence.
        ("$a != 'x' AND $b >= 2 OR $c <= 1", &[("a", "y"), ("b", "1"), ("c", "1")], true),
        ("$a = \"it's\"", &[("a", "it's")], true),
        ("$a = 'say \\'hi\\''", &[("a", "say 'hi'")], true),
        ("$a = 1 or $b = 1 and $c = 1", &[("a", "1"), ("b", "0"), ("c", "0")], true),
        ("($a = 1 or $b = 1) and $c = 1", &[("a", "1"), ("b", "0"), ("c", "0")], false),
        ("not ($a = 1 and $b = 1)", &[("a", "1"), ("b", "0")], true),
        ("$a > 1.5", &[("a", "1.75")], true),
        ("$a > -1", &[("a", "0")], true),
        ("$a like 'a\\_b'", &[("a", "a_b")], true),
        ("$a not like 'a%'", &[("a", "ba")], true),
        ("$ip in_cidr '2001:db8::/32'", &[("ip", "2001:db8::1")], true),
        ("$ip in_cidr '2001:db8::/32'", &[("ip", "10.0.0.1")], false),
        ("$ip in_cidr '10.0.0.7'", &[("ip", "10.0.0.7")], true),
        ("$ip in_cidr '10.0.0.0/8'", &[("ip", "not an ip")], false),
        ("Random() < 2", &[], true),
        ("Random() >= 1", &[], false),
    ];
    for (source, values, expected) in cases {
        let condition = Condition::parse(source).unwrap_or_else(|error| panic!("{source}: {error}"));
        assert_eq!(condition.evaluate(&params(values)), *expected, "{source} with {values:?}");
    }
}

#[test]
fn parse_errors_name_the_column_and_what_was_expected() {
    let cases = [
        ("", 1, "a condition"),
        ("$a =", 5, "a value"),
        ("$a = 'x", 6, "a string that is never closed"),
        ("$a 'x'", 4, "an operator"),
        ("$a = 1 $b = 2", 8, "and, or, or the end"),
        ("($a = 1", 8, ")"),
        ("$a like 5", 9, "a quoted like pattern"),
        ("$a in_cidr '10.0.0.0/33'", 12, "a CIDR block"),
        ("$a is nothing", 7, "null"),
        ("$ = 1", 1, "a parameter name after $"),
        ("$a = 1 and", 11, "a value"),
        ("$a # 1", 4, "a value, an operator or a parenthesis"),
        ("Random < 1", 7, "() after Random"),
    ];
    for (source, column, expected) in cases {
        let error = Condition::parse(source).expect_err(source);
        assert_eq!(error.column, column, "{source}: {error}");
        assert!(error.expected.contains(expected), "{source}: {error}");
    }
}

#[test]
fn lists_the_parameters_it_reads() {
    let condition = Condition::parse("$a = 1 or ($b like 'x%' and not $c is null) or $a = $d").expect("valid");
    assert_eq!(condition.parameters(), ["a", "b", "c", "a", "d"]);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn parsing_never_panics(source in ".{0,64}") {
            if let Ok(condition) = Condition::parse(&source) {
                let _ = condition.evaluate(&BTreeMap::new());
            }
        }

        #[test]
        fn integers_compare_as_numbers(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
            let values = params(&[("a", &a.to_string())]);
            for (operator, expected) in [("=", a == b), ("<>", a != b), ("<", a < b), ("<=", a <= b), (">", a > b), (">=", a >= b)] {
                let condition = Condition::parse(&format!("$a {operator} {b}")).expect("valid");
                prop_assert_eq!(condition.evaluate(&values), expected, "{} {} {}", a, operator, b);
            }
        }

        #[test]
        fn not_inverts_and_null_compares_false(text in "[a-z0-9.]{0,8}", literal in "[a-z0-9.]{0,8}") {
            for operator in ["=", "<>", "<", "<=", ">", ">="] {
                let condition = Condition::parse(&format!("$a {operator} '{literal}'")).expect("valid");
                let negated = Condition::parse(&format!("not ($a {operator} '{literal}')")).expect("valid");
                let values = params(&[("a", &text)]);
                prop_assert_eq!(negated.evaluate(&values), !condition.evaluate(&values));
                prop_assert!(!condition.evaluate(&params(&[])), "null compared true");
            }
        }

        #[test]
        fn like_matches_its_own_escaped_text_and_percent_matches_all(text in "[a-z%_\\\\]{0,12}") {
            let escaped: String = text.chars().flat_map(|c| match c { '%' | '_' | '\\' => vec!['\\', c], c => vec![c] }).collect();
            prop_assert!(LikePattern::new(&escaped).matches(&text), "{:?} like {:?}", text, escaped);
            prop_assert!(LikePattern::new("%").matches(&text));
        }
    }
}
