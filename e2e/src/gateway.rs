//! A real `apigw-gateway` process serving manifests from a folder of its own, and a small HTTP
//! client to talk to it.

use std::{
    ffi::OsStr,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use crate::repo_root;

/// A running gateway; killed when dropped.
pub struct GatewayProcess {
    child: Child,
    /// The folder of manifests it serves (write files here to reconfigure it).
    pub manifests: PathBuf,
    /// Its public HTTP listener.
    pub http: SocketAddr,
    /// Its public HTTPS listener.
    pub https: SocketAddr,
    /// Its internal HTTP listener.
    pub internal: SocketAddr,
    /// Its admin listener.
    pub admin: SocketAddr,
}

/// A free loopback port (bound and released; the gateway binds it right after). A port is never
/// handed out twice by one test process.
pub fn free_port() -> SocketAddr {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let address =
            TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free loopback port");
        let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !given.contains(&address.port()) {
            given.push(address.port());
            return address;
        }
    }
}

/// The path of a workspace binary built by `make e2e` (`cargo build --bins`): in the profile
/// folder of the running executable, wherever the target folder is (`CARGO_TARGET_DIR`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the executable's path");
    let folder = exe.parent().expect("executables live in a folder");
    // Tests run from target/<profile>/deps, binaries (benchmarks) from target/<profile>.
    let profile = if folder.ends_with("deps") { folder.parent().expect("deps has a parent") } else { folder };
    let path = profile.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p apigw-gateway -p apigw-operator -p apigw-cli -p apigw-e2e --bins` (make e2e does)",
        path.display()
    );
    path
}

/// A fresh, empty folder under `target/e2e`.
pub fn scratch_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = repo_root().join("target/e2e").join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch folder");
    dir
}

impl GatewayProcess {
    /// Starts a gateway on `manifests` (a YAML text written to `apis.yaml` in a scratch folder)
    /// with extra flags, and waits until its admin port answers.
    pub fn start(manifests: &str, extra: &[&str]) -> Self {
        let dir = scratch_dir("gateway");
        std::fs::write(dir.join("apis.yaml"), manifests).expect("writing manifests");
        let source = [OsStr::new("--manifests"), dir.as_os_str()];
        Self::spawn(&source, extra, None, dir.clone(), None)
    }

    /// Like [`GatewayProcess::start`], with the access log on, written to the file returned.
    pub fn start_logged(manifests: &str, extra: &[&str]) -> (Self, PathBuf) {
        let dir = scratch_dir("gateway");
        std::fs::write(dir.join("apis.yaml"), manifests).expect("writing manifests");
        let log = dir.join("access.log");
        let source = [OsStr::new("--manifests"), dir.as_os_str()];
        (Self::spawn(&source, extra, None, dir.clone(), Some(&log)), log)
    }

    /// Starts a gateway of `instance` reading what the operator publishes into
    /// `config_namespace` of the test control plane.
    pub fn start_in_cluster(config_namespace: &str, instance: &str, extra: &[&str]) -> Self {
        Self::start_in_cluster_as(crate::Cluster::get().kubeconfig(), config_namespace, instance, extra)
    }

    /// Like [`GatewayProcess::start_in_cluster`], with the credentials of `kubeconfig` (a service
    /// account's, to test what it may do).
    pub fn start_in_cluster_as(kubeconfig: &Path, config_namespace: &str, instance: &str, extra: &[&str]) -> Self {
        let source = ["--config-namespace", config_namespace, "--instance", instance].map(OsStr::new);
        Self::spawn(&source, extra, Some(kubeconfig), scratch_dir("gateway"), None)
    }

    fn spawn(
        source: &[&OsStr],
        extra: &[&str],
        kubeconfig: Option<&Path>,
        manifests: PathBuf,
        access_log: Option<&Path>,
    ) -> Self {
        let (http, https, internal, admin) = (free_port(), free_port(), free_port(), free_port());
        let mut command = Command::new(binary("apigw-gateway"));
        command
            .args(source)
            .args(["--http", &http.to_string(), "--https", &https.to_string()])
            .args(["--internal-http", &internal.to_string(), "--admin", &admin.to_string()])
            .args(["--gateway-id", "gw-e2e", "--access-log", if access_log.is_some() { "true" } else { "false" }])
            .args(extra)
            .env("RUST_LOG", std::env::var("APIGW_GATEWAY_LOG").unwrap_or_else(|_| "warn".to_owned()))
            // With --otlp-endpoint: batches of spans every 200 ms, not 5 s, so tests see them soon.
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .stdout(match access_log {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("creating the access log")),
                None => Stdio::null(),
            });
        if let Some(kubeconfig) = kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let child = command.spawn().expect("the gateway starts");
        let mut gateway = Self { child, manifests, http, https, internal, admin };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(std::net::TcpStream::connect(admin).is_ok() && std::net::TcpStream::connect(http).is_ok()) {
            if let Ok(Some(status)) = gateway.child.try_wait() {
                panic!("the gateway exited while starting ({status}); its log is above");
            }
            assert!(Instant::now() < deadline, "the gateway did not open its ports within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        gateway
    }

    /// Polls `condition` every 20 ms for up to 10 s.
    pub fn wait_until(&self, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for the gateway");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    /// Waits up to `timeout` for the process to exit; whether it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The folder of its manifests.
    pub fn manifests(&self) -> &Path {
        &self.manifests
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
    }

    /// The body as JSON (the echo backend's description of what it received).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.body))
    }
}

/// Sends requests over HTTP/1.1 (or HTTP/2 prior knowledge).
#[derive(Clone)]
pub struct TestClient {
    client: Client<HttpConnector, Full<Bytes>>,
    http2: bool,
}

impl TestClient {
    /// An HTTP/1.1 client.
    pub fn http1() -> Self {
        Self { client: Client::builder(TokioExecutor::new()).build_http(), http2: false }
    }

    /// An HTTP/2 client with prior knowledge (h2c). As curl does, it sends a request's `Host`
    /// header as the `:authority` (the gateway refuses the two when they disagree), over a
    /// connection to the address the URI names.
    pub fn http2() -> Self {
        Self { client: Client::builder(TokioExecutor::new()).http2_only(true).build_http(), http2: true }
    }

    /// Sends `request` and reads the whole answer.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        if self.http2 && request.headers().contains_key(http::header::HOST) {
            let response = send_with_authority_from_host(request).await;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.expect("a whole body").to_bytes();
            return Answer { status: parts.status, headers: parts.headers, body };
        }
        self.try_send(request).await.expect("the gateway answers")
    }

    /// Sends `request` (HTTP/1.1) and reads the whole answer, or says what failed.
    pub async fn try_send(&self, request: Request<Full<Bytes>>) -> Result<Answer, String> {
        let response = self.client.request(request).await.map_err(|error| format!("{error:?}"))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|error| format!("reading the body: {error}"))?.to_bytes();
        Ok(Answer { status: parts.status, headers: parts.headers, body })
    }

    /// `GET http://{address}{path}` with `Host: {host}` and extra headers.
    pub async fn get(&self, address: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::get(format!("http://{address}{path}")).header("host", host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Full::default()).expect("a valid request")).await
    }
}

/// Sends `request` over a new h2c connection to its URI's address, with its `Host` header moved
/// into the URI as the `:authority`.
async fn send_with_authority_from_host(mut request: Request<Full<Bytes>>) -> http::Response<hyper::body::Incoming> {
    let address: SocketAddr = request.uri().authority().expect("an absolute URI").as_str().parse().expect("an address");
    let host = request.headers_mut().remove(http::header::HOST).expect("a Host header");
    let mut parts = request.uri().clone().into_parts();
    parts.authority = Some(host.to_str().expect("a text Host").parse().expect("a valid authority"));
    *request.uri_mut() = http::Uri::from_parts(parts).expect("a valid URI");
    send_h2c(address, request).await
}

/// Sends `request` as it is (its `:authority` and any `Host` header untouched) over a new h2c
/// connection to `address`.
pub async fn send_h2c(address: SocketAddr, request: Request<Full<Bytes>>) -> http::Response<hyper::body::Incoming> {
    let stream = tokio::net::TcpStream::connect(address).await.expect("connecting to the gateway");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("an HTTP/2 handshake");
    tokio::spawn(connection);
    sender.send_request(request).await.expect("the gateway answers")
}
