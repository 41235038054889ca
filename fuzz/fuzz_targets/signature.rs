//! Alibaba's StringToSign from any request parts: nothing panics, the text is the same for the
//! same parts whatever order headers, query and form fields come in, and each signature method
//! signs it.
#![no_main]

use apigw_core::resources::SignatureMethod;
use apigw_core::signature::{SignedParts, sign, string_to_sign};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|parts: (&str, &str, &str, Vec<(&str, &str)>, Vec<(&str, &str)>, Vec<(&str, &str)>)| {
    let (method, path, content_type, headers, query, form) = parts;
    let signed = |headers: Vec<(&str, &str)>, query: Vec<(&str, &str)>, form: Vec<(&str, &str)>| {
        string_to_sign(&SignedParts {
            method,
            accept: "",
            content_md5: "",
            content_type,
            date: "",
            headers,
            path,
            query,
            form,
        })
    };
    let text = signed(headers.clone(), query.clone(), form.clone());
    let reversed = |pairs: &Vec<(&str, &str)>| {
        let mut pairs = pairs.clone();
        pairs.reverse();
        pairs
    };
    let unique = |pairs: &Vec<(&str, &str)>| {
        let mut keys: Vec<&str> = pairs.iter().map(|(key, _)| *key).collect();
        keys.sort_unstable();
        keys.windows(2).all(|pair| !pair[0].eq_ignore_ascii_case(pair[1]))
    };
    if unique(&headers) && unique(&query) && unique(&form) {
        assert_eq!(signed(reversed(&headers), reversed(&query), reversed(&form)), text, "order matters not");
    }
    for method in [SignatureMethod::HmacSHA256, SignatureMethod::HmacSHA1] {
        assert!(!sign(method, b"secret", &text).is_empty());
    }
});
