//! The real `cxpulse` binary as a child process, for tests that kill it (SIGKILL) or freeze it
//! (SIGSTOP).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http_get;

/// The real binary, killed on drop.
pub struct Binary {
    child: Child,
    pub http: std::net::SocketAddr,
}

impl Binary {
    pub fn start(config: &Path, port: u16, log: &Path) -> Binary {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cxpulse"))
            .args(["run", "--config"])
            .arg(config)
            // e.g. TEST_SERVICE_LOG=info,cxpulse::service=debug to follow restores and suppression.
            .env("CXPULSE_LOG", std::env::var("TEST_SERVICE_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Binary { child, http: std::net::SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    pub async fn metrics(&self) -> String {
        http_get(self.http, "/metrics").await.map(|(_, b)| b).unwrap_or_default()
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "graceful shutdown failed: {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the service did not stop on SIGTERM");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// SIGSTOP: the process and all its threads freeze (a long GC pause, a frozen VM).
    pub fn freeze(&self) {
        let _ = Command::new("kill").args(["-STOP", &self.child.id().to_string()]).status();
    }

    /// SIGSTOP by process id, for a task that cannot hold the `Binary`.
    pub fn freezer(&self) -> impl Fn() + Send + 'static {
        let pid = self.child.id().to_string();
        move || {
            let _ = Command::new("kill").args(["-STOP", &pid]).status();
        }
    }

    /// SIGCONT after [`Binary::freeze`].
    pub fn thaw(&self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
    }
}
