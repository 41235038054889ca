//! The CRDs on a real kube-apiserver: accepted, explained, listed, and enforcing their rules.

use apigw_e2e::{Cluster, Namespace};

const KINDS: [&str; 6] = ["apigroups", "apis", "routingplugins", "vpcaccesses", "apps", "plugins"];

#[test]
fn every_crd_is_established_with_its_names() {
    let cluster = Cluster::get();
    for plural in KINDS {
        let crd = format!("crd/{plural}.apigw.io");
        let names = cluster
            .kubectl(&["get", &crd, "-o", "jsonpath={.spec.names.categories} {.spec.names.shortNames} {.spec.scope} {.spec.versions[0].subresources}"])
            .expect_success("reading a CRD");
        assert!(names.contains(r#"["apigw"]"#), "{plural} is not in the apigw category: {names}");
        assert!(names.contains("Namespaced"), "{plural} is not namespaced: {names}");
        assert!(names.contains(r#""status":{}"#), "{plural} has no status subresource: {names}");
    }
}

#[test]
fn explain_describes_the_backend_fields() {
    let explained = Cluster::get().kubectl(&["explain", "api.spec.backend"]).expect_success("kubectl explain");
    for expected in [
        "Where the request goes",
        "vpcAccessName",
        "a VpcAccess in the same namespace",
        "statusCode",
        "in milliseconds (default 10000)",
        "HTTP-VPC",
    ] {
        assert!(explained.contains(expected), "`kubectl explain api.spec.backend` lacks {expected:?}:\n{explained}");
    }
}

const ONE_OF_EACH: &str = r#"
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {name: shop}
spec:
  domains: [{host: shop.example.com}]
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {name: get-user}
spec:
  groupRef: shop
  request: {method: GET, path: "/users/[userId]"}
  backend: {type: MOCK, statusCode: 200, body: "{}"}
---
apiVersion: apigw.io/v1alpha1
kind: RoutingPlugin
metadata: {name: grey}
spec:
  routes:
  - {name: old, condition: "$CaAppId = 1", backend: {type: MOCK, statusCode: 400}}
---
apiVersion: apigw.io/v1alpha1
kind: VpcAccess
metadata: {name: ingress}
spec:
  service: {name: ingress-nginx-controller, port: 80}
---
apiVersion: apigw.io/v1alpha1
kind: App
metadata: {name: mobile}
spec:
  appId: 4534463
  credentialsSecretRef: {name: mobile-app}
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {name: cors}
spec:
  cors: {allowOrigins: "*"}
"#;

#[test]
fn get_apigw_lists_every_kind_with_its_columns() {
    let namespace = Namespace::create("e2e-get");
    namespace.apply(ONE_OF_EACH).expect_success("applying one object of each kind");
    let listed = Cluster::get().kubectl(&["get", "apigw", "-A"]).expect_success("kubectl get apigw -A");
    for expected in [
        "apigroup.apigw.io/shop",
        "api.apigw.io/get-user",
        "routingplugin.apigw.io/grey",
        "vpcaccess.apigw.io/ingress",
        "app.apigw.io/mobile",
        "plugin.apigw.io/cors",
        "READY",
        "DOMAINS",
        "shop.example.com",
        "/users/[userId]",
        "MOCK",
        "ingress-nginx-controller",
        "4534463",
        "AGE",
    ] {
        assert!(listed.contains(expected), "`kubectl get apigw -A` lacks {expected:?}:\n{listed}");
    }
    let defaulted = namespace
        .kubectl(&["get", "api", "get-user", "-o", "jsonpath={.spec.stages} {.spec.auth.type} {.spec.request.mode}"])
        .expect_success("reading the defaulted Api");
    assert_eq!(defaulted, r#"["RELEASE"] APP PASSTHROUGH"#);
}
