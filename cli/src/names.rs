//! Kubernetes object names made from the names Alibaba Cloud exports carry.

/// A DNS-1123 label from `source`: lower-cased, runs of other characters as one `-`, at most 63
/// characters, no `-` at either end (`Update_Order` -> `update-order`).
pub fn dns_label(source: &str) -> String {
    let mut name = String::new();
    for character in source.to_lowercase().chars() {
        match character {
            'a'..='z' | '0'..='9' => name.push(character),
            _ if !name.is_empty() && !name.ends_with('-') => name.push('-'),
            _ => {}
        }
    }
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("Update_Order"), "update-order");
        assert_eq!(dns_label("GET /orders/{id}"), "get-orders-id");
        assert_eq!(dns_label("--App 名字 1--"), "app-1");
        assert_eq!(dns_label(&"a".repeat(70)).len(), 63);
    }
}
