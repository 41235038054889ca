//! Alibaba's StringToSign from any request parts: nothing panics, the text is the same for the
//! same parts whatever order headers, query and form fields come in, and each signature method
//! signs it.
#![no_main]

use apigw_core::resources::SignatureMethod;
use apigw_core::signature::{SignedParts, sign, string_to_sign};
use libfuzzer_sys::fuzz_target;

type Pairs<'a> = Vec<(&'a str, &'a str)>;

fn reversed<'a>(pairs: &Pairs<'a>) -> Pairs<'a> {
    pairs.iter().rev().copied().collect()
}

/// Whether no two keys are equal, ignoring case (order is then the only difference).
fn unique(pairs: &Pairs<'_>) -> bool {
    let mut keys: Vec<String> = pairs.iter().map(|(key, _)| key.to_ascii_lowercase()).collect();
    keys.sort_unstable();
    keys.windows(2).all(|pair| pair[0] != pair[1])
}

fuzz_target!(|parts: (&str, &str, &str, Pairs<'_>, Pairs<'_>, Pairs<'_>)| {
    let (method, path, content_type, headers, query, form) = parts;
    let signed = |headers: Pairs<'_>, query: Pairs<'_>, form: Pairs<'_>| {
        string_to_sign(&SignedParts { method, accept: "", content_md5: "", content_type, date: "", headers, path, query, form })
    };
    let text = signed(headers.clone(), query.clone(), form.clone());
    if unique(&headers) && unique(&query) && unique(&form) {
        assert_eq!(signed(reversed(&headers), reversed(&query), reversed(&form)), text, "order matters not");
    }
    for method in [SignatureMethod::HmacSHA256, SignatureMethod::HmacSHA1] {
        assert!(!sign(method, b"secret", &text).is_empty());
    }
});
