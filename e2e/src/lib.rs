//! Helpers for end-to-end tests against the test control plane of `e2e/controlplane`.
//!
//! Tests talk to a real kube-apiserver through kubectl, the way users do. Each test works in a
//! namespace of its own ([`Namespace`]), deleted when the test ends.

pub mod auth_service;
pub mod certificates;
pub mod echo;
pub mod faulty;
pub mod gateway;
pub mod load;
pub mod manifests;
pub mod operator;
pub mod process;
pub mod raw;
pub mod recorder;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{
        OnceLock,
        atomic::{AtomicU32, Ordering},
    },
};

/// The repository's top folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running test control plane: its kubeconfig and the kubectl built with it.
#[derive(Clone, Debug)]
pub struct Cluster {
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

/// The result of one kubectl (or helm) call.
#[derive(Debug)]
pub struct KubectlOutput {
    /// Whether kubectl exited with status 0.
    pub success: bool,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl From<Output> for KubectlOutput {
    fn from(output: Output) -> Self {
        Self {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl KubectlOutput {
    /// Stdout, or a panic showing what kubectl said when it failed.
    pub fn expect_success(self, what: &str) -> String {
        assert!(self.success, "{what} failed:\n{}{}", self.stdout, self.stderr);
        self.stdout
    }
}

impl Cluster {
    /// The control plane started by `make cluster-up` (folder `$APIGW_CLUSTER_DIR`, default
    /// `target/controlplane`), with apigw's CRDs applied and established.
    ///
    /// Panics with what to do when none is running: an e2e test never skips.
    pub fn get() -> &'static Cluster {
        static CLUSTER: OnceLock<Cluster> = OnceLock::new();
        CLUSTER.get_or_init(|| {
            let dir = std::env::var_os("APIGW_CLUSTER_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target/controlplane"));
            let cluster = Cluster { kubeconfig: dir.join("kubeconfig"), kubectl: dir.join("bin/kubectl") };
            let ready = cluster.kubectl(&["get", "--raw", "/readyz"]);
            assert!(
                ready.success,
                "no test control plane is serving at {}; start it with `make cluster-up`\n{}",
                dir.display(),
                ready.stderr
            );
            cluster.install_crds();
            cluster
        })
    }

    fn install_crds(&self) {
        let crds = repo_root().join("crds");
        let crds = crds.to_str().expect("repository path is UTF-8");
        self.kubectl(&["apply", "--server-side", "--field-manager=apigw-e2e", "--force-conflicts", "-f", crds])
            .expect_success("applying crds/");
        self.kubectl(&["wait", "--for=condition=Established", "--timeout=30s", "-f", crds])
            .expect_success("waiting for the CRDs to be established");
    }

    /// Installs the prometheus-operator CRDs (ServiceMonitor, PrometheusRule) of
    /// `monitoring-crds/` and waits until they are served.
    pub fn install_monitoring_crds(&self) {
        let crds = self.file("monitoring-crds");
        let crds = crds.to_str().expect("repository path is UTF-8");
        self.kubectl(&["apply", "--server-side", "--field-manager=apigw-e2e", "--force-conflicts", "-f", crds])
            .expect_success("installing the prometheus-operator CRDs");
        self.kubectl(&["wait", "--for=condition=Established", "--timeout=30s", "-f", crds])
            .expect_success("waiting for the prometheus-operator CRDs");
    }

    /// The kubeconfig file of the control plane's admin.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client as the control plane's admin, for what kubectl starts too slowly for.
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("the test kubeconfig");
        let options = kube::config::KubeConfigOptions::default();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.expect("a kube config");
        kube::Client::try_from(config).expect("a kube client")
    }

    /// A file of the control plane's folder, such as `bin/promql-check` or `monitoring-crds`
    /// (see `e2e/controlplane/up.sh`).
    pub fn file(&self, relative: &str) -> PathBuf {
        self.kubeconfig.with_file_name(relative)
    }

    /// Runs kubectl with `args`.
    pub fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        self.command(args).output().expect("kubectl runs").into()
    }

    /// Runs kubectl with `args`, feeding `stdin` (for `-f -`).
    pub fn kubectl_with_input(&self, args: &[&str], stdin: &str) -> KubectlOutput {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child.stdin.take().expect("stdin is piped").write_all(stdin.as_bytes()).expect("kubectl reads stdin");
        child.wait_with_output().expect("kubectl ends").into()
    }

    /// Runs helm (built by `e2e/controlplane/build-helm.sh`, linked beside kubectl) with `args`.
    pub fn helm(&self, args: &[&str]) -> KubectlOutput {
        let mut command = Command::new(self.kubectl.with_file_name("helm"));
        command.env("KUBECONFIG", &self.kubeconfig).args(args);
        command.output().expect("helm runs").into()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.kubectl);
        command.env("KUBECONFIG", &self.kubeconfig).args(args);
        command
    }
}

/// A Helm release of the chart, uninstalled when dropped, so that a failed test leaves none of
/// its cluster-scoped objects behind for the next install.
pub struct Release<'a> {
    cluster: &'a Cluster,
    name: String,
    namespace: String,
    uninstalled: bool,
}

impl<'a> Release<'a> {
    /// `helm install NAME charts/apigw -n NAMESPACE --wait` with `values` (`--set` lists).
    pub fn install(cluster: &'a Cluster, name: &str, namespace: &str, values: &[&str]) -> Self {
        let chart = repo_root().join("charts/apigw").display().to_string();
        let mut args = vec!["install", name, &chart, "--namespace", namespace, "--wait", "--timeout", "180s"];
        for value in values {
            args.extend(["--set", value]);
        }
        cluster.helm(&args).expect_success("helm install --wait");
        Self { cluster, name: name.to_owned(), namespace: namespace.to_owned(), uninstalled: false }
    }

    /// `helm upgrade --reuse-values` with `values` set too.
    pub fn upgrade(&self, values: &[&str]) {
        let chart = repo_root().join("charts/apigw").display().to_string();
        let mut args = vec!["upgrade", &self.name, &chart, "--namespace", &self.namespace, "--reuse-values"];
        for value in values {
            args.extend(["--set", value]);
        }
        self.cluster.helm(&args).expect_success(&format!("helm upgrade {values:?}"));
    }

    /// `helm uninstall --wait`, which must succeed.
    pub fn uninstall(mut self) {
        let args = ["uninstall", &self.name, "--namespace", &self.namespace, "--wait"];
        self.cluster.helm(&args).expect_success("helm uninstall");
        self.uninstalled = true;
    }
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        if self.uninstalled {
            return;
        }
        let _ = self.cluster.helm(&["uninstall", &self.name, "--namespace", &self.namespace, "--wait"]);
    }
}

/// A namespace for one test, deleted (without waiting) when dropped.
pub struct Namespace {
    cluster: &'static Cluster,
    name: String,
}

impl Namespace {
    /// Creates a fresh namespace whose name starts with `prefix`.
    pub fn create(prefix: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let cluster = Cluster::get();
        let name = format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        cluster.kubectl(&["create", "namespace", &name]).expect_success("creating the test namespace");
        Self { cluster, name }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs kubectl in this namespace.
    pub fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        self.cluster.kubectl(&[&["-n", &self.name], args].concat())
    }

    /// `status.conditions[type == kind].field` of `object` (such as `api/hello`), as kubectl
    /// prints it (empty when absent).
    pub fn condition(&self, object: &str, kind: &str, field: &str) -> String {
        let path = format!("jsonpath={{.status.conditions[?(@.type==\"{kind}\")].{field}}}");
        self.kubectl(&["get", object, "-o", &path]).stdout
    }

    /// How many Apis of the namespace report Programmed=True.
    pub fn programmed_apis(&self) -> usize {
        let path = "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Programmed\")].status}{\"\\n\"}{end}";
        self.kubectl(&["get", "apis", "-o", path]).stdout.lines().filter(|line| *line == "True").count()
    }

    /// Server-side applies `yaml` in this namespace.
    pub fn apply(&self, yaml: &str) -> KubectlOutput {
        self.cluster.kubectl_with_input(
            &["-n", &self.name, "apply", "--server-side", "--field-manager=apigw-e2e", "-f", "-"],
            yaml,
        )
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        self.cluster.kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}
