//! Invalid objects are refused by the API server itself, with a message naming the field, and
//! nothing is stored for them.

use apigw_e2e::Namespace;

/// One invalid object: its kind and name, its spec, and what the refusal must say.
struct Case {
    kind: &'static str,
    spec: &'static str,
    expected: &'static [&'static str],
}

const API_BASE: &str = "groupRef: shop\n  request: {method: GET, path: /a}";

fn api(rest: &str) -> String {
    format!("{API_BASE}\n  {rest}")
}

fn cases() -> Vec<(Case, Option<String>)> {
    let case = |kind, spec, expected| (Case { kind, spec, expected }, None);
    let api_case = |rest: &str, expected| (Case { kind: "Api", spec: "", expected }, Some(api(rest)));
    vec![
        // Plugin: exactly one type.
        case(
            "Plugin",
            "{cors: {}, ipControl: {type: ALLOW, items: [{blocks: [10.0.0.0/8]}]}}",
            &["spec", "set exactly one plugin type"],
        ),
        case("Plugin", "{description: nothing}", &["spec", "set exactly one plugin type"]),
        // Backends.
        api_case(
            "backend: {type: HTTP-VPC}",
            &["spec.backend.vpcAccessName", "an HTTP-VPC backend needs vpcAccessName"],
        ),
        api_case("backend: {type: MOCK, body: x}", &["spec.backend.statusCode", "a MOCK backend needs statusCode"]),
        api_case("backend: {type: HTTP, path: /b}", &["spec.backend.address", "an HTTP or FC backend needs address"]),
        api_case(
            "backend: {type: HTTP, address: 'http://a', vpcAccessName: x}",
            &["spec.backend.vpcAccessName", "only for HTTP-VPC"],
        ),
        api_case(
            "backend: {type: HTTP_VPC, vpcAccessName: x}",
            &["spec.backend.type", "Unsupported value: \"HTTP_VPC\"", "\"HTTP-VPC\""],
        ),
        api_case(
            "backend: {type: HTTP, address: 'http://a', path: b}",
            &["spec.backend.path", "path must start with /"],
        ),
        api_case("backend: {type: HTTP, address: 'http://a', method: ANY}", &["spec.backend.method", "not ANY"]),
        api_case("backend: {type: MOCK, statusCode: 99}", &["spec.backend.statusCode", "greater than or equal to 100"]),
        // Requests and parameters.
        (
            Case { kind: "Api", spec: "", expected: &["spec.request.path", "path must start with /"] },
            Some(
                "groupRef: shop\n  request: {method: GET, path: users}\n  backend: {type: MOCK, statusCode: 200}"
                    .to_owned(),
            ),
        ),
        (
            Case { kind: "Api", spec: "", expected: &["spec.request.method", "Unsupported value: \"FETCH\""] },
            Some(
                "groupRef: shop\n  request: {method: FETCH, path: /a}\n  backend: {type: MOCK, statusCode: 200}"
                    .to_owned(),
            ),
        ),
        api_case(
            "backend: {type: MOCK, statusCode: 200}\n  parameters: [{name: a, in: COOKIE}]",
            &["spec.parameters[0].in", "Unsupported value: \"COOKIE\""],
        ),
        api_case(
            "backend: {type: MOCK, statusCode: 200}\n  parameters: [{name: a, in: QUERY, backend: {name: b, in: HEADER}}]",
            &["spec.parameters", "only allowed when request.mode is MAPPING"],
        ),
        api_case(
            "backend: {type: MOCK, statusCode: 200}\n  parameters: [{name: a, in: QUERY, minLength: 5, maxLength: 2}]",
            &["spec.parameters[0].minLength", "minLength must not exceed maxLength"],
        ),
        api_case("backend: {type: MOCK, statusCode: 200}\n  stages: [release]", &["spec.stages[0]", "should match"]),
        api_case(
            "backend: {type: MOCK, statusCode: 200}\n  auth: {type: OAUTH}",
            &["spec.auth.type", "Unsupported value: \"OAUTH\""],
        ),
        api_case(
            "backend: {type: MOCK, statusCode: 200}\n  systemParameters: [{name: CaNothing, backend: {name: a, in: HEADER}}]",
            &["spec.systemParameters[0].name", "Unsupported value: \"CaNothing\""],
        ),
        api_case(
            "backend: {type: MOCK, statusCode: 200}\n  plugins: [{kind: RoutingPlugin, name: a}, {kind: RoutingPlugin, name: b}]",
            &["spec.plugins", "at most one RoutingPlugin"],
        ),
        // ApiGroup.
        case("ApiGroup", "{domains: [{host: Shop.Example.com}]}", &["spec.domains[0].host", "should match"]),
        case("ApiGroup", "{basePath: v1}", &["spec.basePath", "basePath must start with /"]),
        // RoutingPlugin.
        case(
            "RoutingPlugin",
            "{parameters: {v: 'Cookie:v'}, routes: [{name: a, condition: '1 = 1', backend: {type: MOCK, statusCode: 400}}]}",
            &["spec.parameters.v", "should match"],
        ),
        case(
            "RoutingPlugin",
            "{routes: [{name: a, condition: '1 = 1', backend: {type: MOCK, statusCode: 400}}, {name: a, condition: '1 = 1', backend: {type: MOCK, statusCode: 400}}]}",
            &["spec.routes", "duplicate entries for key [name=\"a\"]"],
        ),
        case(
            "RoutingPlugin",
            "{routes: [{name: 'a b', condition: '1 = 1', backend: {type: MOCK, statusCode: 400}}]}",
            &["spec.routes[0].name", "should match"],
        ),
        case(
            "RoutingPlugin",
            "{routes: [{name: a, condition: '1 = 1', backend: {type: HTTP-VPC}}]}",
            &["spec.routes[0].backend.vpcAccessName", "needs vpcAccessName"],
        ),
        case(
            "RoutingPlugin",
            "{routes: [{name: a, condition: '1 = 1', backend: {type: MOCK, statusCode: 400}, constantParameters: [{name: x, location: body, value: v}]}]}",
            &["spec.routes[0].constantParameters[0].location", "Unsupported value: \"body\""],
        ),
        // VpcAccess.
        case(
            "VpcAccess",
            "{service: {name: s, port: 80}, address: 10.0.0.1, port: 80}",
            &["spec", "set exactly one of service or address"],
        ),
        case("VpcAccess", "{vpcId: vpc-1}", &["spec", "set exactly one of service or address"]),
        case("VpcAccess", "{address: 10.0.0.1}", &["spec.port", "address and port go together"]),
        case(
            "VpcAccess",
            "{address: 'not an address!', port: 80}",
            &["spec.address", "address must be an IP address or a DNS name"],
        ),
        // App.
        case(
            "App",
            "{appId: 1, credentialsSecretRef: {name: s}, authorizations: [{apiRef: a, groupRef: g}]}",
            &["spec.authorizations[0]", "set exactly one of apiRef or groupRef"],
        ),
        case("App", "{appId: 0, credentialsSecretRef: {name: s}}", &["spec.appId", "greater than or equal to 1"]),
        // Plugin types.
        case(
            "Plugin",
            "{trafficControl: {unit: SECOND, apiDefault: 10, userDefault: 20}}",
            &["spec.trafficControl.userDefault", "userDefault must not exceed apiDefault"],
        ),
        case(
            "Plugin",
            "{trafficControl: {unit: SECOND, apiDefault: 10, userDefault: 5, appDefault: 8}}",
            &["spec.trafficControl.appDefault", "appDefault must not exceed userDefault"],
        ),
        case(
            "Plugin",
            "{trafficControl: {unit: SECOND, apiDefault: 10, specials: [{type: APP, policies: [{key: 1, value: 50}]}]}}",
            &["spec.trafficControl.specials", "must not exceed apiDefault"],
        ),
        case(
            "Plugin",
            "{trafficControl: {unit: WEEK, apiDefault: 10}}",
            &["spec.trafficControl.unit", "Unsupported value: \"WEEK\""],
        ),
        case(
            "Plugin",
            "{ipControl: {type: DENY, items: [{blocks: [10.0.0.0/8]}]}}",
            &["spec.ipControl.type", "Unsupported value: \"DENY\""],
        ),
        case(
            "Plugin",
            "{ipControl: {type: ALLOW, items: [{blocks: [10.0.0.300/8]}]}}",
            &["spec.ipControl.items[0].blocks", "blocks must be IP addresses or CIDR blocks"],
        ),
        case(
            "Plugin",
            "{ipControl: {type: ALLOW, resource: 'Header:x', items: [{blocks: [10.0.0.0/8]}]}}",
            &["spec.ipControl.resource", "should match"],
        ),
        case("Plugin", "{jwtAuth: {parameter: X-Token}}", &["spec.jwtAuth", "give the verification keys"]),
        case("Plugin", "{jwtAuth: {jwk: {kty: RSA, e: AQAB}}}", &["spec.jwtAuth.jwk", "an RSA key needs n and e"]),
        case("Plugin", "{jwtAuth: {jwk: {kty: oct, kid: a}}}", &["spec.jwtAuth.jwk.kty", "Unsupported value: \"oct\""]),
        case(
            "Plugin",
            "{backendSignature: {type: APIGW_SIDEWAYS, credentialsSecretRef: {name: s}}}",
            &["spec.backendSignature.type", "Unsupported value: \"APIGW_SIDEWAYS\""],
        ),
        case(
            "Plugin",
            "{accessControl: {rules: [{name: a, condition: '1 = 1'}]}}",
            &["spec.accessControl.rules[0]", "a rule needs ifTrue or ifFalse"],
        ),
        case(
            "Plugin",
            "{errorMapping: {parameters: {code: 'Nowhere:x'}, errorCondition: '1 = 1'}}",
            &["spec.errorMapping.parameters.code", "should match"],
        ),
        case(
            "Plugin",
            "{basicAuth: {secretRef: {name: users, key: htpasswd}, realm: 'say \"hi\"'}}",
            &["spec.basicAuth.realm", "should match"],
        ),
        case(
            "Plugin",
            "{caching: {duration: 200000, clientCacheControl: {mode: all, apps: [1]}}}",
            &[
                "spec.caching.duration",
                "less than or equal to 172800",
                "spec.caching.clientCacheControl.apps",
                "apps is only for mode apps",
            ],
        ),
        case(
            "Plugin",
            "{remoteAuth: {authUriType: HTTP, authUri: {vpcAccessName: auth, timeout: 20000, path: check}, cachedTimeBySecond: 900, errorStatusCode: 500}}",
            &[
                "authUriType HTTP needs authUri.address",
                "spec.remoteAuth.authUri.timeout",
                "less than or equal to 10000",
                "path must start with /",
                "spec.remoteAuth.cachedTimeBySecond",
                "less than or equal to 600",
                "errorStatusCode must be 400, 401, 403, 404 or 429",
            ],
        ),
        // Circuit breakers, retries, passive health.
        case(
            "Plugin",
            "{circuitBreaker: {timeoutThreshold: 5, errorCondition: '$StatusCode = 503', errorThreshold: 5, windowInSeconds: 30, openTimeoutSeconds: 60}}",
            &["spec.circuitBreaker", "set timeoutThreshold (timeout mode) or errorCondition (error mode)"],
        ),
        case(
            "Plugin",
            "{circuitBreaker: {errorCondition: '$StatusCode = 503', windowInSeconds: 30, openTimeoutSeconds: 60}}",
            &["spec.circuitBreaker.errorThreshold", "errorCondition and errorThreshold go together"],
        ),
        case(
            "Plugin",
            "{circuitBreaker: {timeoutThreshold: 5, windowInSeconds: 5, openTimeoutSeconds: 400}}",
            &[
                "spec.circuitBreaker.windowInSeconds",
                "greater than or equal to 10",
                "spec.circuitBreaker.openTimeoutSeconds",
            ],
        ),
        api_case(
            "backend: {type: HTTP, address: 'http://a', retries: {onStatus: [404]}}",
            &["spec.backend.retries.onStatus[0]", "greater than or equal to 500"],
        ),
        api_case(
            "backend: {type: HTTP, address: 'http://a', timeout: 1000, retries: {perTryTimeout: 2000}}",
            &["spec.backend.retries.perTryTimeout", "must not exceed the backend's timeout"],
        ),
        case(
            "VpcAccess",
            "{address: 10.0.0.1, port: 80, outlierDetection: {maxEjectionPercent: 150}}",
            &["spec.outlierDetection.maxEjectionPercent", "less than or equal to 100"],
        ),
        case(
            "VpcAccess",
            "{address: 10.0.0.1, port: 80, healthCheck: {path: /healthz, intervalSeconds: 2, timeoutSeconds: 5}}",
            &["spec.healthCheck.timeoutSeconds", "timeoutSeconds must be less than intervalSeconds"],
        ),
    ]
}

#[test]
fn invalid_objects_are_refused_with_the_field_and_nothing_is_stored() {
    let namespace = Namespace::create("e2e-invalid");
    let cases = cases();
    assert!(cases.len() >= 12);
    let mut failures = Vec::new();
    for (index, (case, api_spec)) in cases.iter().enumerate() {
        let name = format!("invalid-{index}");
        let spec = api_spec.clone().unwrap_or_else(|| case.spec.to_owned());
        let yaml = format!(
            "apiVersion: apigw.io/v1alpha1\nkind: {}\nmetadata: {{name: {name}}}\nspec:\n  {spec}\n",
            case.kind
        );
        let applied = namespace.apply(&yaml);
        let missing: Vec<_> = case.expected.iter().filter(|expected| !applied.stderr.contains(*expected)).collect();
        if applied.success || !missing.is_empty() {
            failures.push(format!(
                "{yaml}was {}; missing {missing:?} in:\n{}",
                if applied.success { "accepted" } else { "refused" },
                applied.stderr
            ));
        }
        let stored = namespace.kubectl(&["get", case.kind, &name]);
        if stored.success || !stored.stderr.contains("NotFound") {
            failures.push(format!("{yaml}was stored: {}{}", stored.stdout, stored.stderr));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
