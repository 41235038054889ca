//! `kubectl-apigw` (run as `kubectl apigw ...` when on the PATH): Swagger/OpenAPI import into Api
//! resources, Alibaba plugin documents and App lists into Plugins, Apps and Secrets, requests
//! signed as an App, and the status of groups and Apis. Connects like
//! kubectl (`KUBECONFIG`).

mod curl;
mod export;
mod http_client;
mod import;
mod migrate;
mod names;
mod plan;
mod status;
mod yaml;

use std::process::ExitCode;
use std::sync::Arc;

use apigw_core::resources::{Api, ApiGroup, Plugin, RoutingPlugin, VpcAccess};
use apigw_core::translate::{Snapshot, object_ref, translate};
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Map, Value};

use crate::import::{ImportOptions, Imported, import};
use crate::plan::{Action, plan};

/// Field manager of `--apply`.
const FIELD_MANAGER: &str = "kubectl-apigw";

#[derive(Parser)]
#[command(name = "kubectl-apigw", version, about = "apigw's kubectl plugin")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Swagger 2.0 or OpenAPI 3 (JSON or YAML, a file or an http(s):// URL such as SpringFox's
    /// /v2/api-docs) into the Apis of a group: YAML on stdout, or applied with --apply.
    Import(ImportArgs),
    /// An ApiGroup and its Apis as an OpenAPI 3.1 document (for SDK generators and docs).
    Export {
        /// The ApiGroup.
        #[arg(long)]
        group: String,
        /// The namespace (default: the kubeconfig's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// Read the resources from these YAML files instead of the cluster.
        #[arg(short, long)]
        filename: Vec<std::path::PathBuf>,
        /// json or yaml.
        #[arg(short, long, default_value = "json")]
        output: String,
    },
    /// A plugin document as Alibaba's console shows it (YAML or JSON) into a Plugin (a
    /// RoutingPlugin for `--type routing`), inline credentials moved into Secrets: YAML on stdout.
    ImportPlugin {
        /// Alibaba's plugin type: accessControl, backendSignature, basicAuth, caching,
        /// circuitBreaker, cors, errorMapping, ipControl, jwtAuth, remoteAuth, routing or
        /// trafficControl.
        #[arg(long = "type")]
        kind: String,
        /// The Plugin's name (the Secrets are named after it).
        #[arg(long)]
        name: String,
        /// The document: a file or `-` for stdin.
        source: String,
    },
    /// An Alibaba App list (AppId, AppName, AppKey, AppSecret, AppCode, AuthorizedApis) into Apps
    /// and their credential Secrets: YAML on stdout.
    ImportApps {
        /// The list: a file or `-` for stdin (YAML or JSON).
        source: String,
    },
    /// Send a request signed as an App (alias: sign); -v shows the StringToSign.
    #[command(visible_alias = "sign")]
    Curl(curl::CurlArgs),
    /// The groups and Apis of a namespace with their conditions.
    Status {
        /// The namespace (default: the kubeconfig's).
        #[arg(short, long)]
        namespace: Option<String>,
    },
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The ApiGroup the Apis join.
    #[arg(long)]
    group: String,
    /// Also write the ApiGroup, serving this domain.
    #[arg(long)]
    domain: Option<String>,
    /// The namespace (default: the kubeconfig's).
    #[arg(short, long)]
    namespace: Option<String>,
    /// JSON object of `x-aliyun-apigateway-*` defaults (ImportSwagger's GlobalCondition); values
    /// may be JSON in strings, as the official Java sample sends them.
    #[arg(long, default_value = "{}")]
    global_condition: String,
    /// The stage the Apis are published to (default RELEASE).
    #[arg(long)]
    stage: Option<String>,
    /// Replace existing Apis with the same method and backend path.
    #[arg(long)]
    overwrite: bool,
    /// Report what would be created or modified, and what would fail and why; change nothing.
    #[arg(long, conflicts_with = "apply")]
    dry_run: bool,
    /// Server-side apply the Apis (field manager kubectl-apigw) instead of printing them.
    #[arg(long)]
    apply: bool,
    /// PEM CA certificates to trust for an https:// source, besides Mozilla's roots.
    #[arg(long)]
    cacert: Option<std::path::PathBuf>,
    /// The document: a file, `-` for stdin, or an http(s):// URL.
    source: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Import(import) => run_import(import).await,
        Command::Export { group, namespace, filename, output } => {
            run_export(&group, namespace, &filename, &output).await
        }
        Command::ImportPlugin { kind, name, source } => {
            run_migration(&source, |document| migrate::import_plugin(&kind, &name, document)).await
        }
        Command::ImportApps { source } => run_migration(&source, migrate::import_apps).await,
        Command::Curl(curl) => curl::run(curl).await,
        Command::Status { namespace } => status::run(namespace).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kubectl-apigw: {error}");
            ExitCode::FAILURE
        }
    }
}

/// An error for the user, already worded.
type Failure = Box<dyn std::error::Error>;

async fn run_import(args: ImportArgs) -> Result<(), Failure> {
    let text = read_source(&args.source, args.cacert.as_deref()).await?;
    let document: Value = serde_yaml::from_str(&text).map_err(|error| format!("{}: {error}", args.source))?;
    let global: Map<String, Value> =
        serde_json::from_str(&args.global_condition).map_err(|error| format!("--global-condition: {error}"))?;
    let stage = args.stage.as_deref();
    let imported = import(&document, &ImportOptions { group: &args.group, global: &global, stage })?;
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    let apis = imported.apis;
    let group = args.domain.as_ref().map(|domain| new_group(&args.group, domain, &document));
    if !args.apply && !args.dry_run {
        let objects = group.iter().map(|(_, manifest)| manifest).chain(apis.iter().map(|imported| &imported.manifest));
        print!("{}", yaml::documents(objects));
        return Ok(());
    }
    let client = Client::try_default().await?;
    let namespace = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_owned());
    let cluster = Namespaced { client, namespace };
    let existing: Vec<Api> =
        cluster.list::<Api>().await?.into_iter().filter(|api| api.spec.group_ref == args.group).collect();
    let planned = plan(apis, &existing, args.overwrite);
    let problems = cluster.problems(&planned, group.as_ref().map(|(group, _)| group), &args.group).await?;
    let mut failed = Vec::new();
    for (Imported { api, .. }, action) in &planned {
        let why = problems.iter().filter(|(name, _)| *name == api.name_any()).map(|(_, why)| why.as_str());
        let why: Vec<&str> = why.collect();
        let (word, detail) = match action {
            Action::Fail(reason) => ("FAIL", reason.clone()),
            _ if !why.is_empty() => ("FAIL", why.join("; ")),
            Action::Create => ("CREATE", String::new()),
            Action::Modify => ("MODIFY", String::new()),
        };
        if word == "FAIL" {
            failed.push(api.name_any());
        }
        let operation = api.annotations().get(import::OPERATION_ANNOTATION).cloned().unwrap_or_default();
        println!("{word:<7} {:<30} {operation:<40} {detail}", api.name_any());
    }
    if args.dry_run {
        return match failed.len() {
            0 => Ok(()),
            count => Err(format!("{count} operation(s) would fail").into()),
        };
    }
    if let Some((group, manifest)) = &group {
        cluster.apply(group, manifest).await?;
    }
    for (imported, _) in planned.iter().filter(|(imported, _)| !failed.contains(&imported.api.name_any())) {
        cluster.apply(&imported.api, &imported.manifest).await?;
    }
    if !failed.is_empty() {
        return Err(format!("{} operation(s) failed and were not applied; the others were", failed.len()).into());
    }
    Ok(())
}

/// Reads `source`, converts it with `convert`, prints the objects as YAML and on stderr what moved
/// and what was not imported.
async fn run_migration(
    source: &str,
    convert: impl FnOnce(Value) -> Result<migrate::Migrated, migrate::MigrateError>,
) -> Result<(), Failure> {
    let text = read_source(source, None).await?;
    let document: Value = serde_yaml::from_str(&text).map_err(|error| format!("{source}: {error}"))?;
    let migrated = convert(document)?;
    for moved in &migrated.moved {
        eprintln!("moved: {moved}");
    }
    for warning in &migrated.warnings {
        eprintln!("warning: {warning}");
    }
    print!("{}", yaml::documents(&migrated.objects));
    Ok(())
}

async fn run_export(
    group: &str,
    namespace: Option<String>,
    files: &[std::path::PathBuf],
    output: &str,
) -> Result<(), Failure> {
    let (groups, apis) = if files.is_empty() {
        let client = Client::try_default().await?;
        let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_owned());
        let cluster = Namespaced { client, namespace };
        let groups = cluster.list::<ApiGroup>().await?.into_iter().map(Arc::new).collect();
        (groups, cluster.list::<Api>().await?.into_iter().map(Arc::new).collect())
    } else {
        let mut snapshot = Snapshot::default();
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|error| format!("{}: {error}", file.display()))?;
            snapshot.add_manifests(&text, &file.display().to_string())?;
        }
        (snapshot.groups, snapshot.apis)
    };
    let found = groups.iter().find(|candidate| candidate.name_any() == group).ok_or(format!("no ApiGroup {group}"))?;
    let document = export::export(found, &apis);
    match output {
        "json" => println!("{}", serde_json::to_string_pretty(&document)?),
        "yaml" => print!("{}", serde_yaml::to_string(&document)?),
        other => return Err(format!("--output {other}: expected json or yaml").into()),
    }
    Ok(())
}

/// The ApiGroup `name` serving `domain`, described by the document's title and version, with its
/// manifest.
fn new_group(name: &str, domain: &str, document: &Value) -> (ApiGroup, Value) {
    let info = |key: &str| document.pointer(&format!("/info/{key}")).and_then(Value::as_str).unwrap_or_default();
    let group = serde_json::json!({
        "apiVersion": "apigw.io/v1alpha1",
        "kind": "ApiGroup",
        "metadata": {"name": name},
        "spec": {"description": format!("{} {}", info("title"), info("version")).trim(), "domains": [{"host": domain}]},
    });
    (serde_json::from_value(group.clone()).expect("a group of a name and a domain is valid"), group)
}

/// The text of a file, stdin (`-`) or an http(s):// URL.
async fn read_source(source: &str, ca_file: Option<&std::path::Path>) -> Result<String, Failure> {
    if source == "-" {
        return Ok(std::io::read_to_string(std::io::stdin())?);
    }
    if !source.starts_with("http://") && !source.starts_with("https://") {
        return std::fs::read_to_string(source).map_err(|error| format!("{source}: {error}").into());
    }
    let request = http::Request::get(source).body(Full::default())?;
    let response =
        http_client::client(ca_file)?.request(request).await.map_err(|error| format!("{source}: {error:?}"))?;
    if !response.status().is_success() {
        return Err(format!("{source}: {}", response.status()).into());
    }
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

/// The cluster, in one namespace.
struct Namespaced {
    client: Client,
    namespace: String,
}

impl Namespaced {
    async fn list<K>(&self) -> Result<Vec<K>, kube::Error>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: kube::Api<K> = kube::Api::namespaced(self.client.clone(), &self.namespace);
        Ok(api.list(&ListParams::default()).await?.items)
    }

    /// Server-side applies `manifest`, the manifest of `object`.
    async fn apply<K>(&self, object: &K, manifest: &Value) -> Result<(), kube::Error>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let api: kube::Api<K> = kube::Api::namespaced(self.client.clone(), &self.namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&object.name_any(), &params, &Patch::Apply(manifest)).await?;
        println!("{}/{} applied", K::kind(&()).to_lowercase(), object.name_any());
        Ok(())
    }

    /// What translation would say about the imported Apis, next to everything else of the
    /// namespace: `(api name, problem)`.
    async fn problems(
        &self,
        planned: &[(Imported, Action)],
        group: Option<&ApiGroup>,
        group_name: &str,
    ) -> Result<Vec<(String, String)>, kube::Error> {
        let mut snapshot = Snapshot {
            groups: self.list::<ApiGroup>().await?.into_iter().map(Arc::new).collect(),
            vpc_accesses: self.list::<VpcAccess>().await?.into_iter().map(Arc::new).collect(),
            plugins: self.list::<Plugin>().await?.into_iter().map(Arc::new).collect(),
            routing_plugins: self.list::<RoutingPlugin>().await?.into_iter().map(Arc::new).collect(),
            ..Snapshot::default()
        };
        if let Some(group) = group {
            let mut group = group.clone();
            group.metadata.namespace = Some(self.namespace.clone());
            snapshot.groups.retain(|existing| existing.name_any() != group_name);
            snapshot.groups.push(Arc::new(group));
        }
        let replaced: Vec<String> = planned.iter().map(|(imported, _)| imported.api.name_any()).collect();
        snapshot.apis = self
            .list::<Api>()
            .await?
            .into_iter()
            .filter(|api| !replaced.contains(&api.name_any()))
            .map(Arc::new)
            .collect();
        for (imported, _) in planned {
            let mut api = imported.api.clone();
            api.metadata.namespace = Some(self.namespace.clone());
            snapshot.apis.push(Arc::new(api));
        }
        let names: Vec<String> = planned.iter().map(|(imported, _)| object_ref(&imported.api).name).collect();
        Ok(translate(&snapshot)
            .problems
            .into_iter()
            .filter(|problem| problem.object.kind == "Api" && names.contains(&problem.object.name))
            .map(|problem| (problem.object.name.clone(), format!("{}: {}", problem.reason, problem.message)))
            .collect())
    }
}
