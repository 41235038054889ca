//! Any text given to the condition parser either parses or is refused with a column; nothing
//! panics, and what parses evaluates.
#![no_main]

use std::collections::BTreeMap;

use apigw_core::condition::Condition;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|source: &str| {
    match Condition::parse(source) {
        Ok(condition) => {
            let values: BTreeMap<String, String> = [("a".to_owned(), "1".to_owned())].into();
            let _ = condition.evaluate(&values);
        }
        Err(error) => assert!(error.column >= 1 && error.column <= source.chars().count() + 1),
    }
});
