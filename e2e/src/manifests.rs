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

/// `groups` ApiGroups of `apis_per_group` MOCK Apis each, in one YAML stream.
pub fn many_apis(groups: usize, apis_per_group: usize) -> String {
    many_apis_answering(groups, apis_per_group, "")
}

/// [`many_apis`] whose bodies end with `suffix` (`g3-a7{suffix}`).
pub fn many_apis_answering(groups: usize, apis_per_group: usize, suffix: &str) -> String {
    let mut yaml = String::new();
    for group in 0..groups {
        yaml += &format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: g{group}}}\nspec: {{domains: [{{host: g{group}.example.com}}]}}\n"
        );
        for api in 0..apis_per_group {
            yaml += &format!(
                "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: g{group}-a{api}}}\nspec: {{groupRef: g{group}, auth: {{type: ANONYMOUS}}, request: {{method: GET, path: /items/{api}}}, backend: {{type: MOCK, statusCode: 200, body: g{group}-a{api}{suffix}}}}}\n"
            );
        }
    }
    yaml
}

/// A MOCK Api of group `shop` answering `GET path` with `status` and its name as the body.
pub fn mock_api(name: &str, path: &str, status: u16) -> String {
    shop_api(
        name,
        &format!("{{method: GET, path: {path}}}"),
        &format!("{{type: MOCK, statusCode: {status}, body: {name}}}"),
    )
}

/// A Service `echo` whose EndpointSlice points at `backend` (no kubelet runs pods here; the API
/// server refuses loopback endpoints, so backends listen on [`crate::echo::host_ip`]), and a
/// VpcAccess `echo` to it.
pub fn echo_service(backend: std::net::SocketAddr) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: echo}}\nspec: {{ports: [{{name: http, port: 80}}]}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: echo-1, labels: {{kubernetes.io/service-name: echo}}}}\naddressType: IPv4\nports: [{{name: http, port: {}}}]\nendpoints: [{{addresses: [\"{}\"]}}]\n---\napiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {{name: echo}}\nspec: {{service: {{name: echo, port: 80}}}}\n",
        backend.port(),
        backend.ip()
    )
}
