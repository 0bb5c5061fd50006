//! A Redis of a test's own, for tests that stop, pause or fill it.

use std::time::Duration;

use uuid::Uuid;

/// A Redis of a test's own, on a free port with a throwaway folder, for tests that stop,
/// pause or fill Redis. Killed when dropped.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
    dir: std::path::PathBuf,
    extra: Vec<String>,
}

impl PrivateRedis {
    /// Starts `redis-server` with `extra` arguments (e.g. `--maxmemory 1mb`).
    pub async fn start(extra: &[&str]) -> PrivateRedis {
        let port = crate::ports::reserve();
        let dir = std::env::temp_dir().join(format!("ims-redis-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("redis folder");
        let mut redis = PrivateRedis {
            port,
            child: None,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("private redis did not start on port {}", self.port);
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: a Redis that accepts connections
    /// but never answers.
    pub fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.signal("CONT");
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
