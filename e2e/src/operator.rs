//! A real `apigw-operator` process against the test control plane, scoped to one test's
//! namespace (it watches and publishes there), and what it reports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::Cluster;
use crate::gateway::{binary, free_port};

/// A running operator; killed when dropped.
pub struct OperatorProcess {
    child: Child,
    /// Its admin listener (/metrics, /healthz, /readyz).
    pub admin: SocketAddr,
}

impl OperatorProcess {
    /// Starts an operator that watches `namespace` and publishes into it, and waits until its
    /// caches are synced.
    pub fn start(namespace: &str) -> Self {
        Self::start_as(Cluster::get().kubeconfig(), namespace)
    }

    /// Like [`OperatorProcess::start`], with the credentials of `kubeconfig` (a service
    /// account's, to test what it may do).
    pub fn start_as(kubeconfig: &std::path::Path, namespace: &str) -> Self {
        Self::start_with(kubeconfig, namespace, &[])
    }

    /// Like [`OperatorProcess::start_as`], with `extra` flags.
    pub fn start_with(kubeconfig: &std::path::Path, namespace: &str, extra: &[&str]) -> Self {
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let identity = format!("e2e-{namespace}-{}", STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let admin = free_port();
        let child = Command::new(binary("apigw-operator"))
            .args(["--watch-namespace", namespace, "--config-namespace", namespace])
            .args(["--admin", &admin.to_string(), "--identity", &identity])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            // With --otlp-endpoint: batches of spans every 200 ms, not 5 s, so tests see them soon.
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .env("RUST_LOG", std::env::var("APIGW_OPERATOR_LOG").unwrap_or_else(|_| "warn".to_owned()))
            .spawn()
            .expect("the operator starts");
        let mut operator = Self { child, admin };
        let deadline = Instant::now() + Duration::from_secs(30);
        while operator.get("/readyz").0 != 200 {
            if let Ok(Some(status)) = operator.child.try_wait() {
                panic!("the operator exited while starting ({status}); its log is above");
            }
            assert!(Instant::now() < deadline, "the operator was not ready within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        operator
    }

    /// Status code and body of an admin GET (0 when the port does not answer).
    pub fn get(&self, path: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(self.admin) else { return (0, String::new()) };
        let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        let mut answer = String::new();
        if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut answer).is_err() {
            return (0, String::new());
        }
        let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// The sum of every series of the metric `name` (such as `apigw_operator_config_writes_total`).
    pub fn metric(&self, name: &str) -> f64 {
        self.metric_series(name, "")
    }

    /// The sum of the series of the metric `name` whose labels contain `labels` (such as
    /// `kind="Secret"`).
    pub fn metric_series(&self, name: &str, labels: &str) -> f64 {
        self.get("/metrics")
            .1
            .lines()
            .filter(|line| line.split(['{', ' ']).next() == Some(name) && line.contains(labels))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Resident memory of the process, in bytes.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse::<u64>().ok());
        kib.unwrap_or(0) * 1024
    }

    /// Stops it with SIGTERM (it releases its Lease) and waits for it to exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
