//! Every `examples/` folder applied with kubectl, reconciled by a real operator and served by a
//! real gateway reading the cluster: each Api is Programmed and routed (its request reaches
//! authentication, a MOCK or the backend, never the gateway's 404), except where the example
//! needs something outside the cluster, which its status says.

use std::time::{Duration, Instant};

use apigw_e2e::gateway::{GatewayProcess, TestClient};
use apigw_e2e::operator::OperatorProcess;
use apigw_e2e::{Namespace, repo_root};

/// Apis that cannot be served here, with the reason their status must give.
const UNSERVABLE: &[(&str, &str)] = &[
    // The ingress controller's Service lives in namespace ingress-nginx, not installed here.
    ("kubernetes-ingress/tomcat", "VpcAccessNotResolved"),
];

/// `jsonpath` over every Api of the namespace: `name|programmed status|reasons|url` per line.
fn api_states(namespace: &Namespace) -> Vec<(String, String, String, String)> {
    let path = "jsonpath={range .items[*]}{.metadata.name}|{.status.conditions[?(@.type==\"Programmed\")].status}|{.status.conditions[*].reason}|{.status.url}{\"\\n\"}{end}";
    let output = namespace.kubectl(&["get", "apis", "-o", path]).expect_success("listing Apis");
    output
        .lines()
        .map(|line| {
            let mut fields = line.splitn(4, '|').map(str::to_owned);
            let mut next = || fields.next().unwrap_or_default();
            (next(), next(), next(), next())
        })
        .collect()
}

/// A concrete path for a path template: parameters become `1`, a trailing `*` becomes `x`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "*" => "x",
            _ if segment.starts_with('[') || segment.starts_with('{') => "1",
            _ => segment,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_is_served_through_the_operator() {
    let mut folders: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    folders.sort();
    let client = TestClient::http1();
    for folder in folders {
        let example = folder.file_name().unwrap().to_string_lossy().into_owned();
        let namespace = Namespace::create("e2e-example-served");
        let _operator = OperatorProcess::start(namespace.name());
        let gateway = GatewayProcess::start_in_cluster(namespace.name(), "default", &[]);
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "yaml"))
            .collect();
        files.sort();
        for file in files {
            namespace
                .apply(&std::fs::read_to_string(&file).unwrap())
                .expect_success(&format!("applying {}", file.display()));
        }
        // Settled: every Api reports Programmed, True or (for what cannot be served) False.
        let started = Instant::now();
        let states = loop {
            let states = api_states(&namespace);
            let settled = states.iter().all(|(name, programmed, reasons, _)| {
                let expected = UNSERVABLE.iter().find(|(api, _)| *api == format!("{example}/{name}"));
                match expected {
                    Some((_, reason)) => reasons.contains(reason),
                    None => programmed == "True",
                }
            });
            if settled {
                break states;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "examples/{example} did not settle: {states:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut routed = 0;
        for (name, programmed, _, url) in &states {
            let Some(rest) = url.strip_prefix("http://").filter(|_| programmed == "True") else { continue };
            let (host, path) =
                rest.split_once('/').map(|(host, path)| (host, format!("/{path}"))).unwrap_or((rest, "/".into()));
            let path = concrete(&path);
            let request = client.get(gateway.http, host, &path, &[]);
            // A backend that does not exist here may take its timeout: reaching it is routing.
            if let Ok(answer) = tokio::time::timeout(Duration::from_secs(3), request).await {
                let code = answer.header("x-ca-error-code");
                assert!(
                    !code.starts_with("I404"),
                    "examples/{example}: Api {name} ({url}) not routed: {} {code}",
                    answer.status
                );
            }
            routed += 1;
        }
        println!("examples/{example}: {} Apis, {routed} routed over HTTP", states.len());
    }
}
