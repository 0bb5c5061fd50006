//! The whole stack for gateway tests: a Redis of the test's own, a fresh database, several
//! `ims serve` processes sharing both, and nginx configured by `scripts/stack conf` on free
//! ports in front of them: HTTPS with HTTP/2, with a certificate from a private CA of the
//! test's own (`scripts/stack cert`), and plain HTTP that redirects. Instances are real processes so a
//! test can kill one as a crash would. Files are laid out as `scripts/stack` lays out
//! `.data/` (pid files, `stack/nginx/`), so `scripts/stack roll` can roll this stack too.
//! Everything stops when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::nginx::{client_trusting, make_certificate, nginx_bin, repo_root, write_config, Site};
use crate::{admin_options, fresh_database, send, PrivateRedis, ADMIN_PASSWORD};

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub instances: usize,
    /// `IMS_RATE_LIMIT_PER_SEC` / `IMS_RATE_LIMIT_BURST` of every instance.
    pub rate: (u32, u32),
    /// `IMS_LOGIN_RATE_LIMIT_PER_SEC` / `IMS_LOGIN_RATE_LIMIT_BURST`.
    pub login_rate: (u32, u32),
    /// nginx's per-address flood shield: requests/s, burst, connections.
    pub flood: (u32, u32, u32),
    /// `IMS_SHUTDOWN_GRACE_SECS` of every instance.
    pub shutdown_grace_secs: u32,
}

impl Default for GatewayOptions {
    /// Two instances with limits no test reaches by accident.
    fn default() -> Self {
        Self {
            instances: 2,
            rate: (1_000_000, 1_000_000),
            login_rate: (1_000_000, 1_000_000),
            flood: (1000, 2000, 512),
            shutdown_grace_secs: 1,
        }
    }
}

/// One `ims serve` process.
pub struct Instance {
    pub port: u16,
    child: Option<Child>,
}

/// nginx in front of the instances.
pub struct Gateway {
    /// e.g. `https://127.0.0.1:41234`: the gateway (TLS, HTTP/2).
    pub address: String,
    /// e.g. `http://127.0.0.1:41235`: its plain-HTTP port, which redirects to `address`.
    pub plain_address: String,
    pub instances: Vec<Instance>,
    pub redis: PrivateRedis,
    /// Trusts the test's private CA, and nothing else; speaks HTTP/2 where offered.
    pub client: reqwest::Client,
    /// The private CA's certificate (PEM).
    pub ca_pem: Vec<u8>,
    pub database_name: String,
    /// A token of the admin `admin`, from a login through the gateway.
    pub admin_token: String,
    dir: PathBuf,
    /// Where `scripts/stack conf` put nginx's configuration, logs and cache.
    nginx_dir: PathBuf,
    nginx: Option<Child>,
}

async fn wait_for_port(port: u16, what: &str) {
    // Generous: start-up competes with every other test on a small machine.
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on port {port}");
}

impl Gateway {
    /// Starts the stack; `ims` is the service binary (`env!("CARGO_BIN_EXE_ims")`).
    pub async fn start(ims: &Path, options: GatewayOptions) -> Gateway {
        let redis = PrivateRedis::start(&[]).await;
        let database_name = fresh_database().await.expect("fresh test database");
        let db = storage::Db::connect(&storage::DbConfig {
            min_connections: 0,
            max_connections: 2,
            ..storage::DbConfig::new(admin_options().database(&database_name))
        });
        let hash = domain::user::Password::parse(ADMIN_PASSWORD)
            .expect("valid")
            .hash();
        storage::users::upsert_admin(
            db.primary(),
            &domain::user::Email::parse("admin@example.com").expect("valid"),
            &domain::user::Username::parse("admin").expect("valid"),
            &hash,
        )
        .await
        .expect("admin user");
        db.close().await;

        // IMS_DATA_DIR's layout: stack/ims-N.pid, stack/nginx/, stack/tls/.
        let dir = std::env::temp_dir().join(format!("ims-gateway-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("stack")).expect("gateway folder");
        let ca_pem = make_certificate(&dir);
        let mut gateway = Gateway {
            address: String::new(),
            plain_address: String::new(),
            instances: Vec::new(),
            redis,
            client: client_trusting(&ca_pem),
            ca_pem,
            database_name,
            admin_token: String::new(),
            nginx_dir: dir.join("stack/nginx"),
            dir,
            nginx: None,
        };
        for index in 0..options.instances {
            let instance = gateway.spawn_instance(ims, &options);
            std::fs::write(
                gateway.stack_dir().join(format!("ims-{index}.pid")),
                instance.child.as_ref().map_or(0, Child::id).to_string(),
            )
            .expect("pid file");
            gateway.instances.push(instance);
        }
        for instance in &gateway.instances {
            wait_for_port(instance.port, "ims serve").await;
        }
        gateway.start_nginx(options.flood).await;
        gateway.admin_token = gateway.login("admin", ADMIN_PASSWORD).await;
        gateway
    }

    fn spawn_instance(&self, ims: &Path, options: &GatewayOptions) -> Instance {
        let port = crate::ports::reserve();
        let base = std::env::var("IMS_TEST_DATABASE_URL").expect("IMS_TEST_DATABASE_URL");
        let (server, _) = base.rsplit_once('/').expect("a database URL with a path");
        let log = std::env::var_os("TEST_LOG").is_some();
        let child = Command::new(ims)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "IMS_DATABASE_URL",
                format!("{server}/{}", self.database_name),
            )
            .env("IMS_REDIS_URL", self.redis.url())
            .env("IMS_LISTEN", format!("127.0.0.1:{port}"))
            .env("IMS_TRUSTED_PROXIES", "127.0.0.1")
            .env("IMS_RATE_LIMIT_PER_SEC", options.rate.0.to_string())
            .env("IMS_RATE_LIMIT_BURST", options.rate.1.to_string())
            .env(
                "IMS_LOGIN_RATE_LIMIT_PER_SEC",
                options.login_rate.0.to_string(),
            )
            .env(
                "IMS_LOGIN_RATE_LIMIT_BURST",
                options.login_rate.1.to_string(),
            )
            // Many tests run at once against one PostgreSQL.
            .env("IMS_DB_POOL_MAX", "8")
            .env("IMS_DB_POOL_MIN", "0")
            .env(
                "IMS_SHUTDOWN_GRACE_SECS",
                options.shutdown_grace_secs.to_string(),
            )
            .env("IMS_LOG", if log { "info" } else { "warn" })
            .stdout(if log { Stdio::inherit() } else { Stdio::null() })
            .stderr(if log { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .expect("ims serve starts");
        Instance {
            port,
            child: Some(child),
        }
    }

    /// `IMS_DATA_DIR` of this stack, as `scripts/stack` would use it.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    fn stack_dir(&self) -> PathBuf {
        self.dir.join("stack")
    }

    async fn start_nginx(&mut self, flood: (u32, u32, u32)) {
        let (plain_port, tls_port) = (crate::ports::reserve(), crate::ports::reserve());
        let site = Site {
            plain_port,
            tls_port,
            upstreams: self.instances.iter().map(|i| i.port).collect(),
            flood,
        };
        let conf = write_config(&self.dir, &site);
        let ndir = conf.parent().expect("nginx's folder").to_path_buf();
        self.nginx_dir.clone_from(&ndir);
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(&ndir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(ndir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx runs (scripts/test installs it)");
        self.nginx = Some(child);
        for port in [plain_port, tls_port] {
            for _ in 0..300 {
                if let Some(Ok(Some(exit))) = self.nginx.as_mut().map(Child::try_wait) {
                    panic!("nginx exited ({exit}); its complaint is above");
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            wait_for_port(port, "nginx").await;
        }
        self.address = format!("https://127.0.0.1:{tls_port}");
        self.plain_address = format!("http://127.0.0.1:{plain_port}");
    }

    /// Sends SIGTERM to instance `index`, as `scripts/stack down` and `roll` do; returns
    /// the process, still to be waited for.
    pub fn terminate_instance(&mut self, index: usize) -> Option<Child> {
        let child = self.instances[index].child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        Some(child)
    }

    /// Runs `scripts/stack roll` on this stack, restarting the instances with `ims`;
    /// returns its exit status and its output (stderr).
    pub async fn roll(&self, ims: &Path) -> (std::process::ExitStatus, String) {
        let mut command = Command::new(repo_root().join("scripts/stack"));
        command
            .arg("roll")
            .env("IMS_DATA_DIR", &self.dir)
            .env("IMS_STACK_BIN", ims)
            .stdin(Stdio::null());
        // The test's load keeps running on the runtime meanwhile.
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("joined")
            .expect("scripts/stack runs");
        (
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The pid in instance `index`'s pid file (`scripts/stack roll` replaces it).
    pub fn instance_pid(&self, index: usize) -> u32 {
        self.pid_file(index).expect("a pid file")
    }

    fn pid_file(&self, index: usize) -> Option<u32> {
        std::fs::read_to_string(self.stack_dir().join(format!("ims-{index}.pid")))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    /// Kills instance `index` with SIGKILL, as a crash would.
    pub fn kill_instance(&mut self, index: usize) {
        if let Some(mut child) = self.instances[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A request to the gateway's `/api/v1{path}` with `token` as bearer, if any.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        crate::api_request(&self.client, &self.address, method, path, token)
    }

    /// As the admin, through the gateway: status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut request = self.request(method, path, Some(&self.admin_token));
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// Logs in through the gateway; panics unless it succeeds.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let (status, body) = send(
            self.request(Method::POST, "/auth/login", None)
                .json(&json!({ "login": login, "password": password })),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::OK, "login failed: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// The access log so far, one JSON object per request.
    pub fn access_log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.nginx_dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("access log line is not JSON ({e}): {line}"))
            })
            .collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut nginx) = self.nginx.take() {
            // SIGTERM: nginx's master stops its workers too (SIGKILL would orphan them).
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(nginx.id().to_string())
                .status();
            let _ = nginx.wait();
        }
        for index in 0..self.instances.len() {
            // Instances `scripts/stack roll` started are not children of the test.
            let pid = self.pid_file(index).unwrap_or(0);
            if self.instances[index].child.as_ref().map(Child::id) != Some(pid) && pid > 0 {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
            self.kill_instance(index);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
