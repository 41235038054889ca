//! Table-driven tests of the translation, from YAML as users write it.

use super::*;
use crate::config::ApiConfig;

fn snapshot(yaml: &str) -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.add_manifests(yaml, "test").expect("valid YAML");
    snapshot
}

const GROUP: &str = "
apiVersion: apigw.io/v1alpha1
kind: ApiGroup
metadata: {name: shop, namespace: demo}
spec:
  domains: [{host: shop.example.com}]
  basePath: /v1
  internalDomain: true
  stages:
    RELEASE: {variables: {backend: 'http://prod:8080'}}
    TEST: {variables: {backend: 'http://test:8080'}}
";

fn api(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: {name}, namespace: demo}}\nspec:\n  groupRef: shop\n  auth: {{type: ANONYMOUS}}\n{extra}\n"
    )
}

/// The group bound to a Plugin `p` with `plugin_spec`, and a MOCK Api `a` of the group.
fn group_plugin(plugin_spec: &str) -> String {
    let group = GROUP.replace("  basePath: /v1", "  basePath: /v1\n  plugins: [{kind: Plugin, name: p}]");
    let plugin = format!(
        "---\napiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {{name: p, namespace: demo}}\nspec: {plugin_spec}\n"
    );
    let api = api("a", "  request: {method: GET, path: '/users/[id]'}\n  backend: {type: MOCK, statusCode: 200}");
    format!("{group}{plugin}{api}")
}

/// `(case, yaml, expected problems as "Kind/name Reason")`.
fn problem_cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let ok_request = "  request: {method: GET, path: '/users/[id]'}";
    vec![
        ("valid", format!("{GROUP}{}", api("a", &format!("{ok_request}\n  backend: {{type: HTTP, address: '#backend#'}}"))), vec![]),
        ("no group", api("a", &format!("{ok_request}\n  backend: {{type: MOCK, statusCode: 200}}")), vec!["Api/a GroupNotFound"]),
        (
            "undefined stage variable",
            format!("{GROUP}{}", api("a", &format!("{ok_request}\n  stages: [RELEASE, TEST]\n  backend: {{type: HTTP, address: '#other#'}}"))),
            vec!["Api/a UndefinedStageVariable", "Api/a UndefinedStageVariable"],
        ),
        (
            "unknown stage",
            format!("{GROUP}{}", api("a", &format!("{ok_request}\n  stages: [PRE]\n  backend: {{type: MOCK, statusCode: 200}}"))),
            vec!["Api/a UnknownStage"],
        ),
        (
            "address without scheme",
            format!("{GROUP}{}", api("a", &format!("{ok_request}\n  backend: {{type: HTTP, address: 'prod:8080'}}"))),
            vec!["Api/a InvalidBackend"],
        ),
        (
            "path parameter not in path",
            format!("{GROUP}{}", api("a", "  request: {method: GET, path: /users}\n  parameters: [{name: id, in: PATH}]\n  backend: {type: MOCK, statusCode: 200}")),
            vec!["Api/a UnknownPathParameter"],
        ),
        (
            "bad pattern",
            format!("{GROUP}{}", api("a", &format!("{ok_request}\n  parameters: [{{name: q, in: QUERY, pattern: '('}}]\n  backend: {{type: MOCK, statusCode: 200}}"))),
            vec!["Api/a InvalidParameter"],
        ),
        (
            "conflict: the later name loses",
            format!(
                "{GROUP}{}{}",
                api("a", &format!("{ok_request}\n  backend: {{type: MOCK, statusCode: 200}}")),
                api("b", "  request: {method: ANY, path: '/users/{uid}'}\n  backend: {type: MOCK, statusCode: 200}")
            ),
            vec!["Api/b Conflict"],
        ),
        (
            "different stages do not conflict",
            format!(
                "{GROUP}{}{}",
                api("a", &format!("{ok_request}\n  stages: [RELEASE]\n  backend: {{type: MOCK, statusCode: 200}}")),
                api("b", &format!("{ok_request}\n  stages: [TEST]\n  backend: {{type: MOCK, statusCode: 200}}"))
            ),
            vec![],
        ),
        ("missing VpcAccess", format!("{GROUP}{}", api("a", &format!("{ok_request}\n  backend: {{type: HTTP-VPC, vpcAccessName: nope}}"))), vec!["Api/a VpcAccessNotFound"]),
        ("a jwtAuth Secret that does not exist", group_plugin("{jwtAuth: {keySecretRef: {name: s, key: jwks}}}"), vec!["Api/a SecretNotFound"]),
        (
            "a jwtAuth Secret that holds no JWKS",
            group_plugin("{jwtAuth: {keySecretRef: {name: s, key: jwks}}}")
                + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: demo}\nstringData: {jwks: '{\"keys\": []}'}\n",
            vec!["Api/a InvalidKey"],
        ),
        (
            "a jwtAuth key that cannot be one",
            group_plugin("{jwtAuth: {jwks: [{kty: EC, crv: P-256, x: AAAA, y: AAAA}, {kty: RSA, kid: r1, e: AQAB, \"n\": 'not base64!'}]}}"),
            vec!["Api/a InvalidKey"],
        ),
        (
            "a missing plugin",
            format!("{GROUP}{}", api("a", &format!("{ok_request}\n  backend: {{type: MOCK, statusCode: 200}}\n  plugins: [{{kind: Plugin, name: nope}}]"))),
            vec!["Api/a PluginNotFound"],
        ),
        (
            "traffic-control limits out of order (unchecked in manifest files, so checked here)",
            "apiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {name: limits, namespace: demo}\nspec: {trafficControl: {unit: SECOND, apiDefault: 10, appDefault: 20}}".to_owned(),
            vec!["Plugin/limits InvalidLimits"],
        ),
        (
            "a plugin with two types (unchecked in manifest files, so checked here)",
            "apiVersion: apigw.io/v1alpha1\nkind: Plugin\nmetadata: {name: both, namespace: demo}\nspec: {cors: {}, ipControl: {type: ALLOW, items: [{blocks: [10.0.0.0/8]}]}}".to_owned(),
            vec!["Plugin/both InvalidPluginType"],
        ),
        (
            "lower-case stage name",
            "apiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {name: g, namespace: demo}\nspec: {stages: {release: {}}}".to_owned(),
            vec!["ApiGroup/g InvalidStageName"],
        ),
        (
            "a circuit breaker whose errorCondition reads more than $StatusCode",
            group_plugin("{circuitBreaker: {errorCondition: '$Code = 503', errorThreshold: 5, windowInSeconds: 30, openTimeoutSeconds: 60}}"),
            vec!["Api/a PluginNotAccepted", "Plugin/p UndeclaredParameter"],
        ),
        (
            "a circuit breaker whose downgrade backend names a missing VpcAccess",
            group_plugin("{circuitBreaker: {timeoutThreshold: 5, windowInSeconds: 30, openTimeoutSeconds: 60, downgradeBackend: {type: HTTP-VPC, vpcAccessName: nope}}}"),
            vec!["Api/a VpcAccessNotFound"],
        ),
        (
            "basicAuth users that are not htpasswd with strong hashes",
            group_plugin("{basicAuth: {secretRef: {name: users, key: htpasswd}}}")
                + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: users, namespace: demo}\nstringData: {htpasswd: 'alice:plaintext'}\n",
            vec!["Api/a InvalidUsers"],
        ),
        ("a basicAuth Secret that does not exist", group_plugin("{basicAuth: {secretRef: {name: users, key: htpasswd}}}"), vec!["Api/a SecretNotFound"]),
        (
            "a remoteAuth plugin reading the request in its answer parameters, with a bad header name",
            group_plugin("{remoteAuth: {authUriType: HTTP, authUri: {address: 'http://auth:8080'}, parameters: {q: 'Query:x'}, authResponseHeaders: ['X User'], successCondition: '$q = 1'}}"),
            vec!["Api/a PluginNotAccepted", "Plugin/p InvalidHeaderName", "Plugin/p InvalidParameterSource"],
        ),
        (
            "a remoteAuth plugin on a missing VpcAccess",
            group_plugin("{remoteAuth: {authUriType: HTTP-VPC, authUri: {vpcAccessName: nope}}}"),
            vec!["Api/a VpcAccessNotFound"],
        ),
        (
            "a remoteAuth plugin",
            group_plugin("{remoteAuth: {authUriType: HTTP, authUri: {address: 'http://auth:8080', path: /check}, parameters: {status: StatusCode, ok: 'BodyJsonField:$.ok'}, successCondition: \"$status = 200 and $ok = 'true'\", authParameters: [{targetParameterName: x-token, sourceParameterName: Authorization, targetLocation: header, sourceLocation: header}]}}"),
            vec![],
        ),
        (
            "a caching plugin varying by an undeclared parameter",
            group_plugin("{caching: {varyByParameters: [nope]}}"),
            vec!["Api/a UndeclaredParameter"],
        ),
        ("a circuit breaker", group_plugin("{circuitBreaker: {errorCondition: '$StatusCode == 503', errorThreshold: 5, windowInSeconds: 30, openTimeoutSeconds: 60, downgradeBackend: {type: MOCK, statusCode: 418}}}"), vec![]),
        (
            "JWT auth without a jwtAuth plugin",
            format!("{GROUP}---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {{name: a, namespace: demo}}\nspec:\n  groupRef: shop\n  auth: {{type: JWT}}\n{ok_request}\n  backend: {{type: MOCK, statusCode: 200}}\n"),
            vec!["Api/a JwtPluginMissing"],
        ),
    ]
}

#[test]
fn reports_each_problem_on_the_object_at_fault() {
    for (case, yaml, expected) in problem_cases() {
        let translation = translate(&snapshot(&yaml));
        let found: Vec<String> = translation
            .problems
            .iter()
            .map(|problem| format!("{}/{} {}", problem.object.kind, problem.object.name, problem.reason))
            .collect();
        assert_eq!(found, expected, "{case}: {:#?}", translation.problems);
    }
}

#[test]
fn routing_plugins_report_bad_conditions_with_the_route_and_column() {
    let plugin = |condition: &str| {
        format!(
            "apiVersion: apigw.io/v1alpha1\nkind: RoutingPlugin\nmetadata: {{name: grey, namespace: demo}}\nspec:\n  parameters: {{v: 'Query:v'}}\n  routes:\n  - name: old\n    condition: \"{condition}\"\n    backend: {{type: MOCK, statusCode: 400}}\n"
        )
    };
    let problems = |condition: &str| translate(&snapshot(&plugin(condition))).problems;
    assert_eq!(problems("$v < '2.0.5' or $CaAppId = 1"), vec![]);
    let bad = problems("$v < ");
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].reason, "InvalidCondition");
    assert!(bad[0].message.contains("route old") && bad[0].message.contains("column 6"), "{}", bad[0].message);
    let undeclared = problems("$nope = 1 or $nope = 2");
    assert_eq!(undeclared.iter().map(|problem| problem.reason).collect::<Vec<_>>(), ["UndeclaredParameter"]);
}

#[test]
fn lays_route_backends_over_the_apis_and_reports_missing_plugins() {
    let plugin = "---\napiVersion: apigw.io/v1alpha1\nkind: RoutingPlugin\nmetadata: {name: grey, namespace: demo}\nspec:\n  routes:\n  - {name: path, condition: '1 = 1', backend: {type: HTTP, path: /v2}}\n  - {name: mock, condition: '1 = 1', backend: {type: MOCK}}\n";
    let bound = api(
        "a",
        "  request: {method: GET, path: /a}\n  backend: {type: HTTP, address: 'http://prod:8080', timeout: 500}\n  plugins: [{kind: RoutingPlugin, name: grey}]",
    );
    let translation = translate(&snapshot(&format!("{GROUP}{plugin}{bound}")));
    assert_eq!(translation.problems, vec![]);
    let routing = translation.configs["default"].groups[0].apis[0].routing.clone().expect("the plugin is bound");
    let merged = routing.routes[0].backend.clone().expect("complete");
    assert_eq!(
        (merged.address.as_deref(), merged.path.as_deref(), merged.timeout_ms),
        (Some("http://prod:8080"), Some("/v2"), 500)
    );
    assert_eq!(routing.routes[1].backend, None, "a MOCK without statusCode stays incomplete: I504RB at run time");

    let missing = translate(&snapshot(&format!("{GROUP}{bound}")));
    assert_eq!(missing.problems.iter().map(|problem| problem.reason).collect::<Vec<_>>(), ["RoutingPluginNotFound"]);
}

#[test]
fn apps_need_their_credentials_and_unique_keys() {
    let app = |name: &str, secret: &str| {
        format!(
            "---\napiVersion: apigw.io/v1alpha1\nkind: App\nmetadata: {{name: {name}, namespace: demo}}\nspec: {{appId: 7, credentialsSecretRef: {{name: {secret}}}, authorizations: [{{groupRef: shop, stages: [RELEASE]}}]}}\n"
        )
    };
    let secret = |name: &str, key: &str| {
        format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: demo}}\nstringData: {{appKey: '{key}', appSecret: s}}\n"
        )
    };
    let yaml = format!(
        "{GROUP}{}{}{}{}{}",
        secret("one", "k1"),
        secret("two", "k1"),
        app("first", "one"),
        app("second", "two"),
        app("third", "missing")
    );
    let translation = translate(&snapshot(&yaml));
    let found: Vec<_> =
        translation.problems.iter().map(|problem| format!("{} {}", problem.object.name, problem.reason)).collect();
    assert_eq!(found, ["second Conflict", "third SecretNotFound"]);
    let apps = &translation.configs["default"].apps;
    assert_eq!(apps.len(), 1);
    assert_eq!((apps[0].name.as_str(), apps[0].secret.as_str(), apps[0].app_id), ("first", "demo/one", 7));
    assert_eq!(apps[0].authorizations[0].group.as_deref(), Some("shop"));
}

#[test]
fn translates_a_group_with_base_path_stages_and_internal_domain() {
    let yaml = format!(
        "{GROUP}{}",
        api(
            "get-user",
            "  request: {method: GET, path: '/users/{id}'}\n  backend: {type: HTTP, address: '#backend#', path: '/u/[id]'}"
        )
    );
    let translation = translate(&snapshot(&yaml));
    assert_eq!(translation.problems, vec![]);
    let config = &translation.configs["default"];
    let group = &config.groups[0];
    assert_eq!(group.hosts, ["shop.example.com"]);
    assert_eq!(group.internal_host.as_deref(), Some("shop.demo.apigw.internal"));
    assert_eq!(group.apis[0].path, "/v1/users/[id]");
    assert_eq!(group.apis[0].backend.timeout_ms, 10_000);
    assert_eq!(group.stages["TEST"]["backend"], "http://test:8080");
}

const SERVICE: &str = "
---
apiVersion: v1
kind: Service
metadata: {name: ingress, namespace: infra, annotations: {apigw.io/allow-vpc-access-from: 'other, demo'}}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ingress-1, namespace: infra, labels: {kubernetes.io/service-name: ingress}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.0.0.2], conditions: {ready: true}}
- {addresses: [10.0.0.1]}
- {addresses: [10.0.0.3], conditions: {ready: false}}
";

#[test]
fn resolves_services_to_ready_endpoints_only_where_the_namespace_consents() {
    let access = "---\napiVersion: apigw.io/v1alpha1\nkind: VpcAccess\nmetadata: {name: ingress, namespace: demo}\nspec: {service: {name: ingress, namespace: infra, port: 80}}\n";
    let yaml = format!(
        "{GROUP}{SERVICE}{access}{}",
        api("a", "  request: {method: GET, path: /}\n  backend: {type: HTTP-VPC, vpcAccessName: ingress}")
    );
    let translation = translate(&snapshot(&yaml));
    assert_eq!(translation.problems, vec![]);
    assert_eq!(translation.configs["default"].upstreams["demo/ingress"].endpoints, ["10.0.0.1:8080", "10.0.0.2:8080"]);

    let refused = yaml.replace("'other, demo'", "'other'");
    let problems: Vec<_> = translate(&snapshot(&refused)).problems.into_iter().map(|problem| problem.reason).collect();
    assert_eq!(problems, ["VpcAccessNotResolved", "RefNotPermitted"]);
}

#[test]
fn every_example_parses_and_translates_deterministically() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for folder in std::fs::read_dir(examples).expect("examples/") {
        let folder = folder.expect("readable").path();
        let mut snapshot = Snapshot::default();
        for file in std::fs::read_dir(&folder).expect("readable") {
            let file = file.expect("readable").path();
            if file.extension().is_some_and(|extension| extension == "yaml") {
                let text = std::fs::read_to_string(&file).expect("readable");
                snapshot.add_manifests(&text, &file.display().to_string()).expect("example parses");
            }
        }
        let translation = translate(&snapshot);
        assert_eq!(translation, translate(&snapshot), "{}", folder.display());
        let plugin_problems: Vec<_> =
            translation.problems.iter().filter(|problem| problem.object.kind == "RoutingPlugin").collect();
        assert!(plugin_problems.is_empty(), "{}: {plugin_problems:#?}", folder.display());
    }
}

/// Translates `yaml`, then keeps the last good Apis of `previous`; the config and the kept Apis.
fn with_last_good(previous: &GatewayConfig, yaml: &str) -> (GatewayConfig, Vec<String>) {
    let snapshot = snapshot(yaml);
    let mut translation = translate(&snapshot);
    let mut config = translation.configs.remove("default").expect("the group is served");
    let refused = translation.problems.iter().map(|problem| &problem.object).collect();
    let kept = keep_last_good(previous, &mut config, &refused, &snapshot);
    (config, kept.iter().map(ToString::to_string).collect())
}

#[test]
fn a_refused_api_keeps_its_last_good_version() {
    let good = api("a", "  request: {method: GET, path: '/a'}\n  backend: {type: MOCK, statusCode: 200}");
    let other = api("b", "  request: {method: GET, path: '/b'}\n  backend: {type: MOCK, statusCode: 200}");
    let previous = translate(&snapshot(&format!("{GROUP}{good}{other}"))).configs.remove("default").unwrap();

    let broken = api("a", "  request: {method: GET, path: '/a'}\n  backend: {type: HTTP, address: 'no-scheme'}");
    let (config, kept) = with_last_good(&previous, &format!("{GROUP}{broken}{other}"));
    assert_eq!(kept, ["Api demo/a"]);
    assert_eq!(config, previous, "the broken edit changes nothing served");

    let (config, kept) = with_last_good(&previous, &format!("{GROUP}{other}"));
    assert!(kept.is_empty(), "a deleted Api is not kept");
    assert_eq!(config.api_count(), 1);

    let taken = api("c", "  request: {method: GET, path: '/a'}\n  backend: {type: MOCK, statusCode: 201}");
    let (config, kept) = with_last_good(&previous, &format!("{GROUP}{broken}{other}{taken}"));
    assert!(kept.is_empty(), "another Api took the method and path");
    assert_eq!(config.api_count(), 2);
}

/// `snapshot` as the API server stores it: every object with a uid (its kind and name),
/// generation 1 and resourceVersion 1.
fn stored(mut snapshot: Snapshot) -> Snapshot {
    fn stamp<K: Resource<DynamicType = ()> + Clone>(objects: &mut [Arc<K>]) {
        for object in objects {
            let uid = object_ref(&**object).to_string();
            let meta = Arc::make_mut(object).meta_mut();
            (meta.uid, meta.generation, meta.resource_version) = (Some(uid), Some(1), Some("1".to_owned()));
        }
    }
    stamp(&mut snapshot.groups);
    stamp(&mut snapshot.apis);
    stamp(&mut snapshot.plugins);
    snapshot
}

/// `snapshot` with the spec of `kind`/`name` edited by `edit` (its generation moved on).
fn edited<K: Resource<DynamicType = ()> + Clone>(objects: &mut [Arc<K>], name: &str, edit: impl FnOnce(&mut K)) {
    let object = objects.iter_mut().find(|object| object.meta().name.as_deref() == Some(name)).expect("the object");
    let object = Arc::make_mut(object);
    edit(object);
    let generation = object.meta().generation.map(|generation| generation + 1);
    object.meta_mut().generation = generation;
}

/// The served Api `name` of `translation`.
fn served<'a>(translation: &'a Translation, name: &str) -> &'a Arc<ApiConfig> {
    let group = &translation.configs["default"].groups[0];
    group.apis.iter().find(|api| api.name == name).expect("served")
}

#[test]
fn a_pass_translates_again_only_the_apis_whose_inputs_changed() {
    let request =
        |path: &str| format!("  request: {{method: GET, path: '{path}'}}\n  backend: {{type: MOCK, statusCode: 200}}");
    let apis: String = ["a", "b", "c"].iter().map(|name| api(name, &request(&format!("/{name}")))).collect();
    let refused =
        api("d", "  request: {method: GET, path: '/d'}\n  stages: [PRE]\n  backend: {type: MOCK, statusCode: 200}");
    let mut snapshot = stored(snapshot(&format!("{GROUP}{apis}{refused}")));
    let mut reuse = Reuse::default();
    let first = translate_reusing(&snapshot, &mut reuse);
    assert_eq!(first, translate(&snapshot));
    assert_eq!(first.problems.len(), 1, "{:?}", first.problems);

    edited(&mut snapshot.apis, "b", |api| api.spec.request.path = "/moved".to_owned());
    let second = translate_reusing(&snapshot, &mut reuse);
    assert_eq!(second, translate(&snapshot), "as a fresh translation");
    assert!(Arc::ptr_eq(served(&first, "a"), served(&second, "a")), "an unchanged Api is reused");
    assert!(Arc::ptr_eq(served(&first, "c"), served(&second, "c")));
    assert_eq!(served(&second, "b").path, "/v1/moved", "the changed one is translated again");
    assert_eq!(second.problems, first.problems, "a refused Api stays refused");

    edited(&mut snapshot.groups, "shop", |group| group.spec.base_path = Some("/v2".to_owned()));
    let third = translate_reusing(&snapshot, &mut reuse);
    assert_eq!(third, translate(&snapshot), "another input changed: every Api is translated again");
    assert_eq!(served(&third, "a").path, "/v2/a");

    let unstored = self::snapshot(&format!("{GROUP}{apis}"));
    let (once, again) = (translate_reusing(&unstored, &mut reuse), translate_reusing(&unstored, &mut reuse));
    assert!(!Arc::ptr_eq(served(&once, "a"), served(&again, "a")), "objects without uids are not reused");
}
