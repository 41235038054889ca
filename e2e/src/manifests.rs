//! Small custom-resource documents for gateway tests, in flow-style YAML.

/// `---` and an ApiGroup `shop` serving `shop.example.com`; `spec` adds flow-style spec fields
/// (such as `stages: {...}`), or is empty.
pub fn shop_group(spec: &str) -> String {
    let extra = if spec.is_empty() { String::new() } else { format!(", {spec}") };
    format!(
        "---\napiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: shop}}\nspec: {{domains: [{{host: shop.example.com}}]{extra}}}\n"
    )
}

/// `---` and an anonymous Api of group `shop` with the flow-style `request` and `backend`.
pub fn shop_api(name: &str, request: &str, backend: &str) -> String {
    format!(
        "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: {name}}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n  request: {request}\n  backend: {backend}\n"
    )
}
