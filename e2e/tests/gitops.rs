//! GitOps: what Argo CD needs. After the operator reconciled, `kubectl diff --server-side` of the
//! applied manifests is empty (the operator writes only status); the health script of
//! `gitops/health.lua` (run by Debian's lua5.4, as Argo CD's Lua would) reads the conditions of
//! live objects and of samples; `gitops/argocd-cm.yaml` embeds that script for all six kinds.

use std::process::Command;
use std::time::{Duration, Instant};

use apigw_e2e::gateway::GatewayProcess;
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::{Namespace, repo_root};
use serde_json::{Value, json};

/// `value` as a Lua table constructor (Argo CD hands the object to Lua as such a table).
fn lua_value(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => format!("{text:?}"),
        Value::Array(items) => format!("{{{}}}", items.iter().map(lua_value).collect::<Vec<_>>().join(", ")),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(key, value)| format!("[{key:?}] = {}", lua_value(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs the health script on `object`: `(status, message)`.
fn health(object: &Value) -> (String, String) {
    let script = std::fs::read_to_string(repo_root().join("gitops/health.lua")).unwrap();
    let program = format!(
        "obj = {}\nlocal hs = (function()\n{script}\nend)()\nio.write(hs.status, \"\\n\", hs.message)",
        lua_value(object)
    );
    let output = Command::new("lua5.4").args(["-e", &program]).output().expect("lua5.4 runs (apt install lua5.4)");
    assert!(output.status.success(), "the health script failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let (status, message) = text.split_once('\n').unwrap_or((&text, ""));
    (status.to_owned(), message.to_owned())
}

fn object(generation: i64, observed: Option<i64>, conditions: Value) -> Value {
    let mut status = json!({"conditions": conditions});
    if let Some(observed) = observed {
        status["observedGeneration"] = json!(observed);
    }
    json!({"apiVersion": "apigw.io/v1alpha1", "kind": "Api", "metadata": {"name": "a", "generation": generation}, "status": status})
}

fn condition(kind: &str, status: &str, reason: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": format!("{reason} message")})
}

#[test]
fn the_health_script_reads_the_conditions() {
    let fresh = json!({"apiVersion": "apigw.io/v1alpha1", "kind": "Api", "metadata": {"name": "a", "generation": 1}});
    assert_eq!(health(&fresh).0, "Progressing");
    let ok = |programmed: Value| {
        json!([
            condition("Accepted", "True", "Accepted"),
            condition("ResolvedRefs", "True", "ResolvedRefs"),
            programmed
        ])
    };
    assert_eq!(health(&object(2, Some(2), ok(condition("Programmed", "True", "Programmed")))).0, "Healthy");
    assert_eq!(health(&object(3, Some(2), ok(condition("Programmed", "True", "Programmed")))).0, "Progressing");
    assert_eq!(health(&object(2, Some(2), ok(condition("Programmed", "False", "Pending")))).0, "Progressing");
    assert_eq!(health(&object(2, Some(2), ok(condition("Programmed", "False", "Unused")))).0, "Healthy");
    let last_good = health(&object(2, Some(2), ok(condition("Programmed", "False", "ServingLastGood"))));
    assert_eq!(last_good.0, "Degraded");
    let refused = json!([
        condition("Accepted", "True", "Accepted"),
        condition("ResolvedRefs", "False", "GroupNotFound"),
        condition("Programmed", "False", "Invalid")
    ]);
    let (status, message) = health(&object(2, Some(2), refused));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Degraded", "ResolvedRefs False (GroupNotFound): GroupNotFound message")
    );
}

#[test]
fn the_argocd_configuration_embeds_the_script_for_every_kind() {
    let script = std::fs::read_to_string(repo_root().join("gitops/health.lua")).unwrap();
    let text = std::fs::read_to_string(repo_root().join("gitops/argocd-cm.yaml")).unwrap();
    let document: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for kind in ["ApiGroup", "Api", "RoutingPlugin", "VpcAccess", "App", "Plugin"] {
        let key = format!("resource.customizations.health.apigw.io_{kind}");
        assert_eq!(document["data"][key.as_str()].as_str(), Some(script.as_str()), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_reconcile_nothing_drifts_and_objects_are_healthy() {
    let namespace = Namespace::create("e2e-gitops");
    let _operator = OperatorProcess::start(namespace.name());
    let _gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
    let file = repo_root().join("examples/quickstart/quickstart.yaml");
    let file = file.to_str().unwrap();
    let apply = ["apply", "--server-side", "--field-manager=argocd-controller", "-f", file];
    namespace.kubectl(&apply).expect_success("applying the quickstart as Argo CD would");

    let started = Instant::now();
    loop {
        let listed = namespace.kubectl(&["get", "apigroups,apis", "-o", "json"]).expect_success("listing");
        let items: Value = serde_json::from_str(&listed).unwrap();
        let states: Vec<(String, String)> = items["items"].as_array().unwrap().iter().map(health).collect();
        if states.iter().all(|(status, _)| status == "Healthy") {
            assert_eq!(states.len(), 3, "the group and its two Apis");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not Healthy: {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let diff = namespace.kubectl(&["diff", "--server-side", "--field-manager=argocd-controller", "-f", file]);
    assert!(diff.success && diff.stdout.is_empty(), "drift after reconcile:\n{}{}", diff.stdout, diff.stderr);
    let managers = namespace
        .kubectl(&[
            "get",
            "api/hello",
            "--show-managed-fields",
            "-o",
            "jsonpath={range .metadata.managedFields[*]}{.manager}:{.subresource}{\"\\n\"}{end}",
        ])
        .expect_success("reading managedFields");
    let mut managers: Vec<&str> = managers.lines().collect();
    managers.sort();
    assert_eq!(managers, ["apigw-operator:status", "argocd-controller:"], "the operator owns only status");
}
