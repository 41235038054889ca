//! The control plane end to end: custom resources applied with kubectl, reconciled by a real
//! operator into ConfigMaps, served by a real gateway reading them through the API server, with
//! status on every object. Each test runs its own operator and gateway in its own namespace.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use apigw_e2e::echo;
use apigw_e2e::gateway::{Answer, GatewayProcess, TestClient};
use apigw_e2e::manifests::{echo_service, many_apis, many_apis_answering, mock_api, shop_api, shop_group};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::{Cluster, Namespace, repo_root};
use apigw_operator::leader::{self, Elector};
use k8s_openapi::api::coordination::v1::Lease;

/// Polls `check` every 20 ms for up to `limit`; how long it took to hold.
async fn eventually<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

struct Setup {
    namespace: Namespace,
    operator: OperatorProcess,
    gateway: GatewayProcess,
    client: TestClient,
}

impl Setup {
    fn start(prefix: &str) -> Self {
        let namespace = Namespace::create(prefix);
        let operator = OperatorProcess::start(namespace.name());
        let gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
        Self { namespace, operator, gateway, client: TestClient::http1() }
    }

    async fn get(&self, path: &str) -> Answer {
        self.client.get(self.gateway.http, "shop.example.com", path, &[]).await
    }

    async fn wait_for_status(&self, path: &str, status: u16) -> Duration {
        eventually(Duration::from_secs(10), &format!("GET {path} -> {status}"), || async move {
            self.get(path).await.status.as_u16() == status
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn applied_objects_are_served_reported_changed_and_deleted() {
    let (one, two) = (echo::start_on(echo::host_ip(), "one").await, echo::start_on(echo::host_ip(), "two").await);
    let setup = Setup::start("e2e-operator");
    let namespace = &setup.namespace;
    let manifests = [
        shop_group("internalDomain: true"),
        echo_service(one),
        shop_api("orders", "{method: GET, path: \"/orders/*\"}", "{type: HTTP-VPC, vpcAccessName: echo, path: \"/*\"}"),
        mock_api("hello", "/hello", 200),
    ]
    .concat();
    namespace.apply(&manifests).expect_success("applying the shop");

    let served = setup.wait_for_status("/hello", 200).await;
    println!("first config served {served:?} after kubectl apply returned");
    // The objects of one apply may reach the gateway in more than one version: wait for the last.
    eventually(Duration::from_secs(10), "the HTTP-VPC Api", || async {
        let answer = setup.get("/orders/7").await;
        answer.status == 200 && answer.header("x-echo-name") == "one" && answer.json()["path"] == "/7"
    })
    .await;

    // Status: every object Accepted, ResolvedRefs and (once the gateway reported) Programmed.
    for object in ["apigroup/shop", "api/orders", "api/hello", "vpcaccess/echo"] {
        eventually(Duration::from_secs(10), &format!("{object} Programmed"), || async move {
            namespace.condition(object, "Programmed", "status") == "True"
        })
        .await;
        assert_eq!(namespace.condition(object, "Accepted", "status"), "True", "{object}");
        assert_eq!(namespace.condition(object, "ResolvedRefs", "status"), "True", "{object}");
    }
    let group =
        namespace.kubectl(&["get", "apigroup/shop", "-o", "jsonpath={.status.apiCount} {.status.internalDomain}"]);
    assert_eq!(group.stdout, format!("2 shop.{}.apigw.internal", namespace.name()));
    let url = namespace.kubectl(&["get", "api/orders", "-o", "jsonpath={.status.url}"]).stdout;
    assert_eq!(url, "http://shop.example.com/orders/*");
    eventually(Duration::from_secs(10), "the VpcAccess's ready endpoints", || async {
        namespace.kubectl(&["get", "vpcaccess/echo", "-o", "jsonpath={.status.readyEndpoints}"]).stdout == "1"
    })
    .await;
    let columns =
        namespace.kubectl(&["get", "vpcaccess/echo", "-o", "custom-columns=ENDPOINTS:.status.readyEndpoints"]);
    assert_eq!(columns.stdout.lines().nth(1), Some("1"), "the ENDPOINTS column");
    let generation = namespace.kubectl(&["get", "api/orders", "-o", "jsonpath={.metadata.generation}"]).stdout;
    let observed = namespace.kubectl(&["get", "api/orders", "-o", "jsonpath={.status.observedGeneration}"]).stdout;
    assert_eq!(observed, generation);

    // What the operator published: an index naming the version and its one shard, and a Secret.
    let maps = namespace.kubectl(&[
        "get",
        "configmaps",
        "-l",
        "apigw.io/instance=default",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.labels.apigw\\.io/config-version}{\"\\n\"}{end}",
    ]);
    let names: Vec<&str> = maps.stdout.lines().map(|line| line.split(' ').next().unwrap_or_default()).collect();
    assert_eq!(names, ["apigw-default-config", "apigw-default-config-0-0"], "{}", maps.stdout);
    assert!(maps.stdout.lines().next().is_some_and(|index| index.split(' ').nth(1).is_some_and(|v| !v.is_empty())));
    namespace.kubectl(&["get", "secret", "apigw-default-secrets"]).expect_success("the config Secret exists");

    // A change is served; so is an endpoint change.
    namespace.apply(&mock_api("hello", "/hello", 201)).expect_success("changing hello");
    let changed = setup.wait_for_status("/hello", 201).await;
    println!("a changed Api was served {changed:?} after kubectl apply returned");
    namespace.apply(&echo_service(two)).expect_success("moving the endpoints");
    eventually(Duration::from_secs(10), "the new endpoint", || async {
        setup.get("/orders/7").await.header("x-echo-name") == "two"
    })
    .await;

    // An invalid RoutingPlugin is reported on itself and on the Api binding it, which keeps
    // serving its last good version.
    let routing = "---\napiVersion: apigw.io/v1alpha1\nkind: RoutingPlugin\nmetadata: {name: grey}\nspec:\n  routes:\n  - name: beta\n    condition: \"$uid = = 1\"\n    backend: {type: MOCK, statusCode: 299}\n";
    let bound =
        shop_api("orders", "{method: GET, path: \"/orders/*\"}", "{type: HTTP-VPC, vpcAccessName: echo, path: \"/*\"}")
            .replace("  auth:", "  plugins: [{kind: RoutingPlugin, name: grey}]\n  auth:");
    namespace.apply(&format!("{routing}{bound}")).expect_success("binding an invalid RoutingPlugin");
    eventually(Duration::from_secs(10), "the RoutingPlugin's Accepted=False", || async {
        namespace.condition("routingplugin/grey", "Accepted", "status") == "False"
    })
    .await;
    let message = namespace.condition("routingplugin/grey", "Accepted", "message");
    assert!(message.contains("beta") && message.contains("column"), "{message}");
    eventually(Duration::from_secs(10), "the Api's ResolvedRefs=False", || async {
        namespace.condition("api/orders", "ResolvedRefs", "status") == "False"
    })
    .await;
    assert_eq!(namespace.condition("api/orders", "Programmed", "reason"), "ServingLastGood");
    let orders = setup.get("/orders/7").await;
    assert_eq!((orders.status.as_u16(), orders.header("x-echo-name")), (200, "two"), "the last good Api serves");
    assert_eq!(setup.get("/hello").await.status, 201, "the other Apis keep serving");

    // A deleted Api is no longer served.
    namespace.kubectl(&["delete", "api/hello"]).expect_success("deleting hello");
    setup.wait_for_status("/hello", 404).await;

    let config_writes = setup.operator.metric("apigw_operator_config_writes_total");
    // At most three writes (Secret, shard, index) per version; a burst may take a few versions,
    // never one per object.
    assert!(config_writes <= 40.0, "{config_writes} ConfigMap/Secret writes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_operator_writes_nothing() {
    let setup = Setup::start("e2e-operator-restart");
    let namespace = &setup.namespace;
    namespace.apply(&[shop_group(""), mock_api("hello", "/hello", 200)].concat()).expect_success("applying");
    setup.wait_for_status("/hello", 200).await;
    eventually(Duration::from_secs(10), "Programmed", || async {
        namespace.condition("api/hello", "Programmed", "status") == "True"
    })
    .await;
    let Setup { operator, .. } = setup;
    operator.stop();

    let restarted = OperatorProcess::start(namespace.name());
    eventually(Duration::from_secs(20), "a reconcile pass of the new leader", || async {
        restarted.metric("apigw_operator_reconciles_total") >= 2.0
    })
    .await;
    assert_eq!(restarted.metric("apigw_operator_config_writes_total"), 0.0, "no ConfigMap or Secret written");
    assert_eq!(restarted.metric("apigw_operator_status_writes_total"), 0.0, "no status written");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quickstart_example_is_served_through_the_operator() {
    let namespace = Namespace::create("e2e-operator-quickstart");
    let _operator = OperatorProcess::start(namespace.name());
    let gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
    let yaml = std::fs::read_to_string(repo_root().join("examples/quickstart/quickstart.yaml")).unwrap();
    namespace.apply(&yaml).expect_success("applying examples/quickstart");
    let client = TestClient::http1();
    eventually(Duration::from_secs(10), "the quickstart's /hello", || async {
        client.get(gateway.http, "localhost", "/hello", &[]).await.body.as_ref()
            == br#"{"message": "hello from apigw"}"#
    })
    .await;
    // The objects of one apply may reach the gateway in more than one version: wait for the last.
    eventually(Duration::from_secs(10), "the quickstart's parameter check", || async {
        let invalid = client.get(gateway.http, "localhost", "/users/abc", &[]).await;
        invalid.status == 400 && invalid.header("x-ca-error-message").contains("userId")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_apis_applied_at_once_converge_with_few_writes() {
    let setup = Setup::start("e2e-operator-many");
    let namespace = &setup.namespace;
    namespace.apply(&many_apis(10, 100)).expect_success("applying 1,000 Apis");
    let converged =
        eventually(Duration::from_secs(60), "1,000 Apis Programmed", || async { namespace.programmed_apis() == 1000 })
            .await;
    let writes = setup.operator.metric("apigw_operator_config_writes_total");
    println!("1,000 Apis Programmed {converged:?} after kubectl apply returned, with {writes} ConfigMap/Secret writes");
    assert!(writes <= 50.0, "{writes} ConfigMap/Secret writes");
    let answer = setup.client.get(setup.gateway.http, "g7.example.com", "/items/42", &[]).await;
    assert_eq!((answer.status.as_u16(), &answer.body[..]), (200, &b"g7-a42"[..]));

    // One changed Api rewrites its own shard and the index, never the Secret.
    let (maps, secrets) = ("kind=\"ConfigMap\"", "kind=\"Secret\"");
    let written = |labels| setup.operator.metric_series("apigw_operator_config_writes_total", labels);
    let (maps_before, secrets_before) = (written(maps), written(secrets));
    let changed = "---\napiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {name: g7-a42}\nspec: {groupRef: g7, auth: {type: ANONYMOUS}, request: {method: GET, path: /items/42}, backend: {type: MOCK, statusCode: 200, body: changed}}\n";
    namespace.apply(changed).expect_success("changing one Api");
    eventually(Duration::from_secs(10), "the changed Api", || async {
        &setup.client.get(setup.gateway.http, "g7.example.com", "/items/42", &[]).await.body[..] == b"changed"
    })
    .await;
    assert_eq!(written(maps) - maps_before, 2.0, "ConfigMap writes: the Api's shard and the index");
    assert_eq!(written(secrets), secrets_before, "the Secret is not rewritten");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_of_two_operators_leads_and_the_other_takes_over() {
    let namespace = Namespace::create("e2e-operator-leader");
    let first = OperatorProcess::start(namespace.name());
    let second = OperatorProcess::start(namespace.name());
    let leaders = |operators: &[&OperatorProcess]| {
        operators.iter().map(|operator| operator.metric("apigw_operator_leader")).sum::<f64>()
    };
    eventually(Duration::from_secs(10), "a leader", || async { leaders(&[&first, &second]) == 1.0 }).await;
    let (leader, follower) =
        if first.metric("apigw_operator_leader") == 1.0 { (first, second) } else { (second, first) };

    namespace.apply(&[shop_group(""), mock_api("hello", "/hello", 200)].concat()).expect_success("applying");
    eventually(Duration::from_secs(10), "the leader's status", || async {
        namespace.condition("api/hello", "Accepted", "status") == "True"
    })
    .await;
    assert_eq!(follower.metric("apigw_operator_status_writes_total"), 0.0, "the follower never writes");
    assert_eq!(follower.metric("apigw_operator_config_writes_total"), 0.0, "the follower never writes");

    leader.stop();
    // The stopped leader released the Lease; the follower watches it and takes over at once.
    eventually(Duration::from_secs(2), "the follower to lead within 2 s", || async {
        follower.metric("apigw_operator_leader") == 1.0
    })
    .await;
    namespace.apply(&mock_api("bye", "/bye", 200)).expect_success("applying");
    eventually(Duration::from_secs(10), "the new leader's status", || async {
        namespace.condition("api/bye", "Accepted", "status") == "True"
    })
    .await;
}

/// The Lease's holder, or none.
async fn holder(leases: &kube::Api<Lease>, name: &str) -> Option<String> {
    let lease = leases.get(name).await.expect("reading the Lease");
    lease.spec.and_then(|spec| spec.holder_identity).filter(|holder| !holder.is_empty())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resigned_leader_frees_its_lease_and_does_not_take_it_back() {
    let namespace = Namespace::create("e2e-operator-resign");
    let client = Cluster::get().client().await;
    let leases: kube::Api<Lease> = kube::Api::namespaced(client.clone(), namespace.name());
    let candidate = |identity: &str| Arc::new(Elector::new(client.clone(), namespace.name(), "lease", identity, None));
    let (leading, mut first_leads) = tokio::sync::watch::channel(false);
    let first = candidate("first").campaign(leading);
    tokio::time::timeout(Duration::from_secs(10), first_leads.wait_for(|leading| *leading))
        .await
        .expect("the first candidate leads within 10 s")
        .expect("the campaign runs");
    let (leading, second_leads) = tokio::sync::watch::channel(false);
    let second = candidate("second").campaign(leading);

    // Resigned between renewals (every 2 s) or during one: the release must win either way.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    first.resign().await.expect("releasing the Lease");
    eventually(Duration::from_secs(2), "the second candidate to lead within 2 s", || async { *second_leads.borrow() })
        .await;
    assert_eq!(holder(&leases, "lease").await.as_deref(), Some("second"));

    // A candidate that does not hold the Lease leaves it alone when it resigns.
    let (leading, _third_leads) = tokio::sync::watch::channel(false);
    let third = candidate("third").campaign(leading);
    tokio::time::sleep(Duration::from_millis(500)).await;
    third.resign().await.expect("resigning without the Lease");
    assert_eq!(holder(&leases, "lease").await.as_deref(), Some("second"), "the holder is unchanged");

    // Once resigned, nothing renews or takes back the released Lease.
    second.resign().await.expect("releasing the Lease");
    assert_eq!(holder(&leases, "lease").await, None, "released");
    tokio::time::sleep(leader::RETRY + Duration::from_millis(500)).await;
    assert_eq!(holder(&leases, "lease").await, None, "still released after a renewal period");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_is_reported_on_the_newer_api_only() {
    let setup = Setup::start("e2e-operator-conflict");
    let namespace = &setup.namespace;
    namespace.apply(&[shop_group(""), mock_api("first", "/same", 200)].concat()).expect_success("applying");
    setup.wait_for_status("/same", 200).await;
    namespace.apply(&mock_api("second", "/same", 201)).expect_success("applying the same path again");
    eventually(Duration::from_secs(10), "the newer Api's Conflict", || async {
        namespace.condition("api/second", "Accepted", "reason") == "Conflict"
    })
    .await;
    let message = namespace.condition("api/second", "Accepted", "message");
    assert!(message.contains("first"), "the message names the winner: {message}");
    assert_eq!(namespace.condition("api/first", "Accepted", "status"), "True");
    assert_eq!(setup.get("/same").await.status, 200, "the older Api keeps the path");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_last_group_of_an_instance_removes_its_config() {
    let setup = Setup::start("e2e-operator-cleanup");
    let namespace = &setup.namespace;
    namespace.apply(&[shop_group(""), mock_api("hello", "/hello", 200)].concat()).expect_success("applying");
    setup.wait_for_status("/hello", 200).await;
    namespace.kubectl(&["delete", "apigroup/shop"]).expect_success("deleting the group");
    eventually(Duration::from_secs(10), "the instance's ConfigMaps and Secret to go", || async {
        let left = namespace.kubectl(&["get", "configmaps,secrets", "-l", "apigw.io/instance=default", "-o", "name"]);
        left.success && left.stdout.trim().is_empty()
    })
    .await;
    setup.wait_for_status("/hello", 404).await;
    eventually(Duration::from_secs(10), "the orphaned Api's status", || async {
        namespace.condition("api/hello", "ResolvedRefs", "reason") == "GroupNotFound"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_request_fails_while_a_thousand_apis_change_under_load() {
    let setup = Setup::start("e2e-operator-churn");
    let namespace = &setup.namespace;
    namespace.apply(&many_apis(10, 100)).expect_success("applying 1,000 Apis");
    let served = |suffix: &'static str| {
        let (client, address) = (setup.client.clone(), setup.gateway.http);
        async move {
            let answer = client.get(address, "g9.example.com", "/items/99", &[]).await;
            answer.body == format!("g9-a99{suffix}").as_bytes()
        }
    };
    eventually(Duration::from_secs(60), "1,000 Apis served", || served("")).await;

    // A bounded load of 8 keep-alive clients over every Api, each answer checked: the Api's old
    // or new body, nothing else (no 404 of a half-swapped table, no error).
    let stop = Arc::new(AtomicBool::new(false));
    let loads: Vec<_> = (0..8)
        .map(|worker| {
            let (client, address, stop) = (setup.client.clone(), setup.gateway.http, stop.clone());
            tokio::spawn(async move {
                let (mut sent, mut new, mut failures) = (0usize, 0usize, Vec::new());
                while !stop.load(Ordering::Relaxed) && sent < 200_000 {
                    let (group, api) = ((sent * 7 + worker) % 10, (sent * 13 + worker) % 100);
                    let request = http::Request::get(format!("http://{address}/items/{api}"))
                        .header("host", format!("g{group}.example.com"))
                        .body(Default::default())
                        .expect("a request");
                    sent += 1;
                    let (old, changed) = (format!("g{group}-a{api}"), format!("g{group}-a{api}-v2"));
                    match client.try_send(request).await {
                        Ok(answer) if answer.status == 200 && answer.body == changed.as_bytes() => new += 1,
                        Ok(answer) if answer.status == 200 && answer.body == old.as_bytes() => {}
                        Ok(answer) => failures.push(format!("g{group}-a{api}: {} {:?}", answer.status, answer.body)),
                        Err(error) => failures.push(format!("g{group}-a{api}: {error}")),
                    }
                }
                (sent, new, failures)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    namespace.apply(&many_apis_answering(10, 100, "-v2")).expect_success("changing 1,000 Apis");
    let changed = eventually(Duration::from_secs(60), "1,000 changed Apis served", || served("-v2")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut sent, mut new, mut failures) = (0, 0, Vec::new());
    for load in loads {
        let (worker_sent, worker_new, mut worker_failures) = load.await.expect("a load task");
        (sent, new) = (sent + worker_sent, new + worker_new);
        failures.append(&mut worker_failures);
    }
    println!(
        "1,000 Apis changed under load: the last served {changed:?} after the apply; {sent} requests, {new} answered by a changed Api, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {sent} failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(new > 0 && new < sent, "answers before and after the change: {new} of {sent} new");
}
