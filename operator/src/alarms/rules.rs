//! The PrometheusRule of each ApiGroup with alarms: one rule per alarm of the group (every Api
//! alarmed on its own, by the `api` label) and per alarm of its Apis. An Api's own alarm on a
//! metric (and direction) replaces the group's on it for that Api, as an Api's own plugin
//! binding wins over the group's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use apigw_core::bundle::MANAGER;
use apigw_core::resources::{Alarm, AlarmMetric, Api, ApiGroup};
use apigw_core::translate::{ObjectRef, object_ref};
use kube::ResourceExt;
use serde_json::{Value, json};

/// The label naming the ApiGroup a PrometheusRule is for.
pub const GROUP_LABEL: &str = "apigw.io/alarms-of";

/// The PrometheusRule of one ApiGroup.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRules {
    /// Namespace (the group's).
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// The whole manifest, for server-side apply.
    pub manifest: Value,
    /// The objects whose alarms it holds (the group, its Apis with alarms).
    pub alarmed: Vec<ObjectRef>,
}

/// The PrometheusRules `groups` and `apis` call for, each labelled with `labels` too (for a
/// Prometheus's `ruleSelector`).
pub fn group_rules(groups: &[Arc<ApiGroup>], apis: &[Arc<Api>], labels: &BTreeMap<String, String>) -> Vec<GroupRules> {
    // The alarmed Apis by namespace and group, found in one scan (a scan of every Api per
    // group was half of a pass's time at 20,000 Apis in 100 groups).
    let mut alarmed_apis: HashMap<(&str, &str), Vec<&Api>> = HashMap::new();
    for api in apis.iter().filter(|api| !api.spec.alarms.is_empty()) {
        let namespace = api.metadata.namespace.as_deref().unwrap_or_default();
        alarmed_apis.entry((namespace, api.spec.group_ref.as_str())).or_default().push(api);
    }
    let mut rules = Vec::new();
    for group in groups {
        let namespace = group.namespace().unwrap_or_default();
        let group_name = group.name_any();
        let key = (
            group.metadata.namespace.as_deref().unwrap_or_default(),
            group.metadata.name.as_deref().unwrap_or_default(),
        );
        let members = alarmed_apis.remove(&key).unwrap_or_default();
        if group.spec.alarms.is_empty() && members.is_empty() {
            continue;
        }
        let scope = format!(r#"namespace="{namespace}",group="{group_name}""#);
        let mut written = Vec::new();
        for alarm in &group.spec.alarms {
            let overridden: Vec<String> = members
                .iter()
                .filter(|api| api.spec.alarms.iter().any(|own| same_kind(own, alarm)))
                .map(|api| api.name_any())
                .collect();
            let selector = match overridden.is_empty() {
                true => scope.clone(),
                false => format!(r#"{scope},api!~"{}""#, overridden.join("|")),
            };
            written.push(rule(alarm, &selector, &format!("every Api of group {group_name}")));
        }
        for api in &members {
            let selector = format!(r#"{scope},api="{}""#, api.name_any());
            for alarm in &api.spec.alarms {
                written.push(rule(alarm, &selector, &format!("Api {}", api.name_any())));
            }
        }
        let mut alarmed = vec![object_ref(&**group)];
        alarmed.extend(members.iter().map(|api| object_ref(*api)));
        let name = rule_name(&group_name);
        let mut object_labels = labels.clone();
        object_labels.insert("app.kubernetes.io/managed-by".to_owned(), MANAGER.to_owned());
        object_labels.insert(GROUP_LABEL.to_owned(), group_name.clone());
        let owner = group.uid().map(
            |uid| json!([{"apiVersion": "apigw.io/v1alpha1", "kind": "ApiGroup", "name": group_name, "uid": uid}]),
        );
        let mut metadata = json!({"name": name, "namespace": namespace, "labels": object_labels});
        if let Some(owner) = owner {
            metadata["ownerReferences"] = owner;
        }
        let manifest = json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": metadata,
            "spec": {"groups": [{"name": format!("apigw-{namespace}-{group_name}"), "rules": written}]},
        });
        rules.push(GroupRules { namespace, name, manifest, alarmed });
    }
    rules
}

/// `apigw-alarms-<group>`, cut to a valid object name.
fn rule_name(group: &str) -> String {
    let mut name = format!("apigw-alarms-{group}");
    name.truncate(253);
    name.trim_end_matches(['-', '.']).to_owned()
}

/// Whether an Api's alarm `own` replaces the group's `alarm`: the same metric, the same direction.
fn same_kind(own: &Alarm, alarm: &Alarm) -> bool {
    own.metric == alarm.metric && own.above.is_some() == alarm.above.is_some()
}

/// The Prometheus rule of `alarm` over the series `selector` picks; `scope` names them for people.
fn rule(alarm: &Alarm, selector: &str, scope: &str) -> Value {
    let window = &alarm.window;
    let by = "sum by (namespace, group, api)";
    let requests = |extra: &str| format!("{by} (rate(apigw_gateway_requests_total{{{selector}{extra}}}[{window}]))");
    let (value, unit) = match alarm.metric {
        AlarmMetric::ErrorRate => (format!("100 * {} / {}", requests(r#",code=~"5..""#), requests("")), "%"),
        AlarmMetric::ThrottledRate => (format!("100 * {} / {}", requests(r#",code="429""#), requests("")), "%"),
        AlarmMetric::LatencyP99 => (
            format!(
                "1000 * histogram_quantile(0.99, sum by (le, namespace, group, api) (rate(apigw_gateway_request_duration_seconds_bucket{{{selector}}}[{window}])))"
            ),
            " ms",
        ),
        AlarmMetric::RequestRate => (requests(""), " requests/s"),
    };
    let (comparison, threshold, word) = match (alarm.above, alarm.below) {
        (Some(above), _) => (">", above, "above"),
        (None, Some(below)) => ("<", below, "below"),
        (None, None) => (">", 0.0, "above"),
    };
    let mut labels: BTreeMap<String, String> = alarm.labels.clone();
    labels.insert("apigw_metric".to_owned(), alarm.metric.as_str().to_owned());
    let metric = alarm.metric.as_str();
    json!({
        "alert": alarm.name.clone().unwrap_or_else(|| format!("Apigw{metric}")),
        "expr": format!("{value} {comparison} {threshold}"),
        "for": alarm.for_duration,
        "labels": labels,
        "annotations": {
            "summary": format!("{metric} of {{{{ $labels.group }}}}/{{{{ $labels.api }}}} is {{{{ $value | humanize }}}}{unit}, {word} {threshold}{unit} over {window}"),
            "description": format!("apigw alarm on {scope} (namespace {{{{ $labels.namespace }}}})"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<K: serde::de::DeserializeOwned>(yaml: &str) -> K {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn group_and_api_alarms_become_one_rule_object_with_overrides() {
        let mut group: ApiGroup = parse(
            "apiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {name: shop, namespace: web, uid: u-1}\nspec:\n  domains: [{host: shop.example.com}]\n  alarms:\n  - {metric: ErrorRate, above: 5, window: 5m, labels: {severity: page}}\n  - {metric: RequestRate, below: 1, window: 10m, for: 0s}\n",
        );
        group.metadata.namespace = Some("web".to_owned());
        let orders: Api = parse(
            "apiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {name: orders, namespace: web}\nspec:\n  groupRef: shop\n  request: {method: GET, path: /orders}\n  backend: {type: MOCK, statusCode: 200}\n  alarms:\n  - {name: OrdersSlow, metric: LatencyP99, above: 800, window: 1m}\n  - {metric: ErrorRate, above: 1}\n",
        );
        let quiet: Api = parse(
            "apiVersion: apigw.io/v1alpha1\nkind: Api\nmetadata: {name: quiet, namespace: web}\nspec:\n  groupRef: shop\n  request: {method: GET, path: /q}\n  backend: {type: MOCK, statusCode: 200}\n",
        );
        let labels = BTreeMap::from([("release".to_owned(), "monitoring".to_owned())]);
        let rules = group_rules(&[group.into()], &[orders.into(), quiet.into()], &labels);
        assert_eq!(rules.len(), 1);
        let rule_object = &rules[0];
        assert_eq!((rule_object.namespace.as_str(), rule_object.name.as_str()), ("web", "apigw-alarms-shop"));
        assert_eq!(
            rule_object.alarmed.iter().map(|object| object.name.as_str()).collect::<Vec<_>>(),
            ["shop", "orders"]
        );
        let metadata = &rule_object.manifest["metadata"];
        assert_eq!(metadata["labels"]["release"], "monitoring");
        assert_eq!(metadata["ownerReferences"][0]["uid"], "u-1");
        let written = rule_object.manifest["spec"]["groups"][0]["rules"].as_array().unwrap();
        let exprs: Vec<&str> = written.iter().map(|rule| rule["expr"].as_str().unwrap()).collect();
        assert_eq!(
            exprs[0],
            r#"100 * sum by (namespace, group, api) (rate(apigw_gateway_requests_total{namespace="web",group="shop",api!~"orders",code=~"5.."}[5m])) / sum by (namespace, group, api) (rate(apigw_gateway_requests_total{namespace="web",group="shop",api!~"orders"}[5m])) > 5"#,
            "the group's error rate leaves out the Api that has its own"
        );
        assert_eq!(
            exprs[1],
            r#"sum by (namespace, group, api) (rate(apigw_gateway_requests_total{namespace="web",group="shop"}[10m])) < 1"#
        );
        assert_eq!(
            exprs[2],
            r#"1000 * histogram_quantile(0.99, sum by (le, namespace, group, api) (rate(apigw_gateway_request_duration_seconds_bucket{namespace="web",group="shop",api="orders"}[1m]))) > 800"#
        );
        assert!(exprs[3].ends_with(r#"api="orders"}[5m])) > 1"#), "{}", exprs[3]);
        let names: Vec<&str> = written.iter().map(|rule| rule["alert"].as_str().unwrap()).collect();
        assert_eq!(names, ["ApigwErrorRate", "ApigwRequestRate", "OrdersSlow", "ApigwErrorRate"]);
        assert_eq!((written[0]["for"].as_str(), written[1]["for"].as_str()), (Some("1m"), Some("0s")));
        assert_eq!(written[0]["labels"], json!({"severity": "page", "apigw_metric": "ErrorRate"}));
    }

    #[test]
    fn groups_without_alarms_get_no_rule_object() {
        let group: ApiGroup = parse(
            "apiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {name: shop, namespace: web}\nspec: {domains: [{host: a.example.com}]}\n",
        );
        assert!(group_rules(&[group.into()], &[], &BTreeMap::new()).is_empty());
    }
}
