//! Helper processes the tests run beside the gateway (a collector, Prometheus): started, waited
//! for until they listen, killed when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running helper process; killed when dropped.
pub struct ListeningProcess {
    child: Child,
}

impl ListeningProcess {
    /// Spawns `command` (stdout discarded, stderr into `log`) and waits up to 20 s until
    /// `address` accepts connections; panics with the log if it exits first.
    pub fn spawn(mut command: Command, address: SocketAddr, log: &Path) -> Self {
        let name = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("creating the process log"))
            .spawn()
            .unwrap_or_else(|error| panic!("{name} runs: {error}"));
        let mut process = Self { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(address).is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("{name} exited ({status}): {}", std::fs::read_to_string(log).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "{name} did not listen on {address} within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    }
}

impl Drop for ListeningProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
