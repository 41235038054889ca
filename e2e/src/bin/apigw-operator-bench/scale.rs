//! At scale: Apis created one by one at a set rate through the API server (as a GitOps sync or
//! a CI pipeline writes them), then single changes with all of them present, and the size of
//! what the operator wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::{Cluster, Namespace};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use tokio::sync::Semaphore;

use crate::{percentile, until};

/// Writes in flight at most while keeping the rate.
const IN_FLIGHT: usize = 64;
/// Single changes measured with every Api present.
const CHANGES: usize = 50;

/// What the watch of Apis has seen: each Api's Programmed status, the longest condition message.
#[derive(Default)]
struct Seen {
    programmed: HashMap<String, bool>,
    longest_message: usize,
}

impl Seen {
    fn programmed(&self) -> usize {
        self.programmed.values().filter(|programmed| **programmed).count()
    }

    fn record(&mut self, api: &DynamicObject) {
        let conditions = api.data.pointer("/status/conditions").and_then(|value| value.as_array());
        let conditions = conditions.map(Vec::as_slice).unwrap_or_default();
        let programmed =
            conditions.iter().any(|condition| condition["type"] == "Programmed" && condition["status"] == "True");
        for message in conditions.iter().filter_map(|condition| condition["message"].as_str()) {
            self.longest_message = self.longest_message.max(message.len());
        }
        self.programmed.insert(api.metadata.name.clone().unwrap_or_default(), programmed);
    }
}

fn api_object(group: usize, index: usize, body: &str) -> DynamicObject {
    let name = format!("g{group}-a{index}");
    let mut object = DynamicObject::new(&name, &api_resource());
    object.data = serde_json::json!({"spec": {
        "groupRef": format!("g{group}"),
        "auth": {"type": "ANONYMOUS"},
        "request": {"method": "GET", "path": format!("/items/{index}")},
        "backend": {"type": "MOCK", "statusCode": 200, "body": body},
    }});
    object
}

fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apigw.io", "v1alpha1", "Api"), "apis")
}

/// How many Apis the gateway serves (its `/config`).
async fn served(http: &TestClient, gateway: &GatewayProcess) -> u64 {
    http.get(gateway.admin, "admin", "/config", &[]).await.json()["apis"].as_u64().unwrap_or(0)
}

/// `apis` Apis in `groups` groups created at `rate` per second, then (when `changes`) single
/// changes with all of them present; prints what was measured.
pub async fn stream(apis: usize, groups: usize, rate: u32, changes: bool) {
    let namespace = Namespace::create("bench-operator-stream");
    let operator = OperatorProcess::start(namespace.name());
    let gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
    let http = TestClient::http1();
    let client = Cluster::get().client().await;
    let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace.name(), &api_resource());
    let group_yaml: String = (0..groups)
        .map(|group| {
            format!(
                "---\napiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: g{group}}}\nspec: {{domains: [{{host: g{group}.example.com}}]}}\n"
            )
        })
        .collect();
    namespace.apply(&group_yaml).expect_success("applying the groups");

    let seen = Arc::new(Mutex::new(Seen::default()));
    let watching = tokio::spawn({
        let (objects, seen) = (objects.clone(), seen.clone());
        async move {
            let mut events = std::pin::pin!(watcher(objects, watcher::Config::default()));
            while let Some(event) = events.next().await {
                if let Ok(watcher::Event::Apply(api) | watcher::Event::InitApply(api)) = event {
                    seen.lock().expect("not poisoned").record(&api);
                }
            }
        }
    });

    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut writes = Vec::with_capacity(apis);
    for index in 0..apis {
        tick.tick().await;
        let permit = in_flight.clone().acquire_owned().await.expect("never closed");
        let (group, api) = (index % groups, index / groups);
        let objects = objects.clone();
        writes.push(tokio::spawn(async move {
            let object = api_object(group, api, &format!("g{group}-a{api}"));
            objects.create(&PostParams::default(), &object).await.expect("creating an Api");
            drop(permit);
        }));
    }
    for write in writes {
        write.await.expect("a write task");
    }
    let last_write = Instant::now();
    let writing = last_write - started;
    let limit = Duration::from_secs(300);
    let all_served =
        until(last_write, limit, "every Api served", || async { served(&http, &gateway).await == apis as u64 }).await;
    let all_programmed = until(last_write, limit, "every Api Programmed", || {
        std::future::ready(seen.lock().expect("not poisoned").programmed() == apis)
    })
    .await;
    let load_ms = http.get(gateway.admin, "admin", "/config", &[]).await.json()["loadMs"].as_u64().unwrap_or(0);
    println!(
        "{apis:>6} Apis created at {rate}/s ({:.0}/s achieved, {writing:.1?}): all served {all_served:>6.2?} and all \
         Programmed {all_programmed:>6.2?} after the last write (target: <= 5 s); the gateway's last load took \
         {load_ms} ms",
        apis as f64 / writing.as_secs_f64()
    );

    if changes {
        let bytes = || operator.metric_series("apigw_operator_config_written_bytes_total", "");
        let writes = || operator.metric("apigw_operator_config_writes_total");
        let (bytes_before, writes_before) = (bytes(), writes());
        let (mut published, mut latencies) = (Vec::with_capacity(CHANGES), Vec::with_capacity(CHANGES));
        let version = || operator.metric("apigw_operator_config_version");
        for change in 0..CHANGES {
            let (group, api) = ((change * 7) % groups, (change * 13) % (apis / groups));
            let body = format!("changed-{change}");
            let object = api_object(group, api, &body);
            let name = format!("g{group}-a{api}");
            let params = PatchParams::apply("apigw-bench").force();
            let before = version();
            objects.patch(&name, &params, &Patch::Apply(&object)).await.expect("changing an Api");
            let written = Instant::now();
            let host = format!("g{group}.example.com");
            let path = format!("/items/{api}");
            let limit = Duration::from_secs(30);
            published
                .push(until(written, limit, "the change published", || std::future::ready(version() > before)).await);
            let changed = || async { http.get(gateway.http, &host, &path, &[]).await.body == body.as_bytes() };
            latencies.push(until(written, limit, "the change served", changed).await);
        }
        published.sort();
        latencies.sort();
        println!(
            "{CHANGES} single changes with {apis} Apis present, API server write -> published by the operator: p50 \
             {:>6.0?}  max {:>6.0?}; -> served: p50 {:>6.0?}  p99 {:>6.0?}  max {:>6.0?}   (target: p99 <= 200 ms); per \
             change {:.0} ConfigMap/Secret writes, {:.1} KiB written",
            percentile(&published, 0.5),
            published[CHANGES - 1],
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies[CHANGES - 1],
            (writes() - writes_before) / CHANGES as f64,
            (bytes() - bytes_before) / CHANGES as f64 / 1024.0
        );
    }

    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, namespace.name());
    let largest = maps
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=apigw-operator"))
        .await
        .expect("listing ConfigMaps")
        .items
        .iter()
        .map(|map| {
            let binary: usize = map.binary_data.iter().flatten().map(|(key, value)| key.len() + value.0.len()).sum();
            let text: usize = map.data.iter().flatten().map(|(key, value)| key.len() + value.len()).sum();
            binary + text
        })
        .max()
        .unwrap_or(0);
    let longest = seen.lock().expect("not poisoned").longest_message;
    println!(
        "{apis:>6} Apis: largest published ConfigMap {:.1} KiB (target <= 512 KiB), longest condition message {longest} \
         bytes (target <= 32 KiB), operator RSS {:.0} MiB",
        largest as f64 / 1024.0,
        operator.resident_bytes() as f64 / (1024.0 * 1024.0)
    );
    watching.abort();
    drop((gateway, operator));
    // Deleted before the next measurement starts: deleting thousands of objects loads the API
    // server.
    Cluster::get().kubectl(&["delete", "namespace", namespace.name(), "--timeout=600s"]);
}
