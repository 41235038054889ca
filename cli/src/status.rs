//! `kubectl apigw status`: the ApiGroups and Apis of a namespace, one line each, with their
//! conditions and, when one is False, its reason and message.

use apigw_core::resources::{Api, ApiGroup};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::ListParams;
use kube::{Client, ResourceExt};

/// Prints the table.
pub async fn run(namespace: Option<String>) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_default().await?;
    let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_owned());
    let groups: kube::Api<ApiGroup> = kube::Api::namespaced(client.clone(), &namespace);
    let apis: kube::Api<Api> = kube::Api::namespaced(client, &namespace);
    println!("{:<36} {:<9} {:<9} {:<10} DETAIL", "OBJECT", "ACCEPTED", "RESOLVED", "PROGRAMMED");
    for group in groups.list(&ListParams::default()).await?.items {
        let status = group.status.clone().unwrap_or_default();
        let detail = format!(
            "{} Apis{}",
            status.api_count.unwrap_or(0),
            status.internal_domain.map(|domain| format!(", internal {domain}")).unwrap_or_default()
        );
        print_row(&format!("apigroup/{}", group.name_any()), &status.common.conditions, &detail);
    }
    for api in apis.list(&ListParams::default()).await?.items {
        let status = api.status.clone().unwrap_or_default();
        print_row(&format!("api/{}", api.name_any()), &status.common.conditions, &status.url.unwrap_or_default());
    }
    Ok(())
}

fn print_row(object: &str, conditions: &[Condition], detail: &str) {
    let state =
        |kind: &str| conditions.iter().find(|condition| condition.type_ == kind).map_or("-", |c| c.status.as_str());
    let problem = conditions
        .iter()
        .find(|condition| condition.status == "False")
        .map(|condition| format!("{}: {}", condition.reason, condition.message));
    let detail = problem.unwrap_or_else(|| detail.to_owned());
    println!("{object:<36} {:<9} {:<9} {:<10} {detail}", state("Accepted"), state("ResolvedRefs"), state("Programmed"));
}
