//! The relay for a test: `dipper-relay run` (the binary, built beside the test) on SQLite in
//! a temporary folder, with a platform administrator, cheap password hashing and no rate
//! limit in a test's way, optionally with `[broker]` on a [`TestBroker`]; its API over HTTP,
//! its `/metrics` and its database file (read by tests to check what it stored).
//!
//! [`Relay::tenant`] registers boxes as an installer would: a tenant, its administrator,
//! an area, then devices with their one-time provisioning keys.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::broker::{ADMIN_PASSWORD, ADMIN_USER, TestBroker};

/// The platform administrator's and the tenant administrator's password.
pub const PASSWORD: &str = "correct-horse-battery";
/// The platform administrator's email.
pub const ROOT: &str = "root@dipper.test";
/// The tenant administrator's email (every tenant of [`Relay::tenant`] has one).
pub const TENANT_ADMIN: &str = "admin@dipper.test";
/// The relay's own broker identity (the relay makes it through the plugin at start).
const BROKER_USER: &str = "dipper-relay";
const BROKER_PASSWORD: &str = "relay-broker-password";

/// A running `dipper-relay`; killed when dropped.
#[derive(Debug)]
pub struct Relay {
    child: Option<Child>,
    pub base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    /// `DIPPER_RELAY__...` overrides of every start.
    env: Vec<(String, String)>,
}

/// What else a relay starts with: TOML appended to its `relay.toml` (sections it does not
/// have: `[objects]`, `[faces]`...) and environment overrides (`DIPPER_RELAY__DATABASE__URL`
/// for PostgreSQL).
#[derive(Debug, Clone, Default)]
pub struct RelayOptions {
    pub toml: String,
    pub env: Vec<(String, String)>,
}

/// A tenant made by [`Relay::tenant`], with its administrator's token and one area.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub admin_token: String,
    pub area: String,
}

/// A box registered on the relay: its id and one-time provisioning key.
#[derive(Debug, Clone)]
pub struct RegisteredBox {
    pub device_id: String,
    pub key: String,
    /// The string the box's local page takes instead of the three fields.
    pub activation: String,
}

impl Relay {
    /// Starts a relay without a broker (activation answers that it has none to give).
    pub async fn start() -> Relay {
        Relay::start_with(None).await
    }

    /// Starts a relay whose `[broker]` is `broker` (boxes get its plain URL at activation).
    pub async fn with_broker(broker: &TestBroker) -> Relay {
        Relay::start_with(Some((broker, broker.url()))).await
    }

    /// Starts a relay connected to `broker` that tells boxes to connect to `box_url`
    /// instead (`[broker] url`, with the relay's own `relay_url` the broker's): a
    /// [`crate::proxy::LinkProxy`] there can cut the boxes' link alone.
    pub async fn with_broker_for_boxes(broker: &TestBroker, box_url: String) -> Relay {
        Relay::start_with(Some((broker, box_url))).await
    }

    /// Starts a relay with `[broker]` as [`Relay::with_broker`] and `options`.
    pub async fn with_broker_and(broker: &TestBroker, options: RelayOptions) -> Relay {
        Relay::start_with_options(Some((broker, broker.url())), options).await
    }

    /// Starts one more instance beside a relay already running on the same database (which
    /// `options` names, e.g. `DIPPER_RELAY__DATABASE__URL`, with its own
    /// `DIPPER_RELAY__BROKER__CLIENT_ID`), with `[broker]` on `broker`: no platform
    /// administrator is made, the first instance made it. Its own folder, port and log.
    pub async fn another_instance(broker: &TestBroker, options: RelayOptions) -> Relay {
        Relay::start_instance(Some((broker, broker.url())), options, false).await
    }

    async fn start_with(broker: Option<(&TestBroker, String)>) -> Relay {
        Relay::start_with_options(broker, RelayOptions::default()).await
    }

    async fn start_with_options(
        broker: Option<(&TestBroker, String)>,
        options: RelayOptions,
    ) -> Relay {
        Relay::start_instance(broker, options, true).await
    }

    async fn start_instance(
        broker: Option<(&TestBroker, String)>,
        options: RelayOptions,
        make_admin: bool,
    ) -> Relay {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::free_port();
        let text = config(dir.path(), port, broker) + &options.toml;
        std::fs::write(dir.path().join("relay.toml"), text).expect("relay.toml");
        let mut relay = Relay {
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            dir,
            env: options.env,
        };
        if make_admin {
            relay.make_admin();
        }
        relay.start_again().await;
        relay
    }

    /// `dipper-relay admin create` of the platform administrator [`ROOT`].
    fn make_admin(&self) {
        let mut create = command(self.dir.path(), &self.env)
            .args(["admin", "create", "--email", ROOT, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dipper-relay admin create");
        writeln!(create.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
        let created = create.wait_with_output().expect("wait");
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
    }

    /// Starts `dipper-relay run` (again, after [`Relay::stop`]: same database, port and
    /// broker session) and waits until it is ready.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the relay is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("relay.log"))
            .expect("relay.log");
        let child = command(self.dir.path(), &self.env)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dipper-relay run");
        self.child = Some(child);
        crate::eventually("the relay is ready", Duration::from_secs(30), || {
            self.ready()
        })
        .await;
    }

    /// Stops the relay as its service would be (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            crate::terminate(child, Duration::from_secs(15));
        }
    }

    /// Kills the relay at once (SIGKILL, as `kill -9`): nothing drained, flushed or
    /// disconnected; [`Relay::start_again`] starts it again on the same folder and port.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn ready(&self) -> bool {
        let response = self.http.get(format!("{}/readyz", self.base)).send().await;
        response.is_ok_and(|r| r.status().is_success())
    }

    /// What the relay logged (JSON lines).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("relay.log")).unwrap_or_default()
    }

    /// The relay's SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("relay.sqlite3")
    }

    /// `GET path` with a bearer token: the status and the JSON body.
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let request = self.http.get(format!("{}{path}", self.base));
        crate::json_answer(request.bearer_auth(token).send().await.expect("request")).await
    }

    /// `POST path` with a JSON body (and an idempotency key, which tenant creation needs):
    /// the status and the JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("idempotency-key", format!("key-{path}"))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        crate::json_answer(request.send().await.expect("request")).await
    }

    /// [`Relay::post`] that must succeed; the body.
    pub async fn post_ok(&self, path: &str, token: Option<&str>, body: &Value) -> Value {
        let (status, answer) = self.post(path, token, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }

    /// The Prometheus text of `/metrics`, every metric in it from the relay's table
    /// (`metrics::assert_described`).
    pub async fn metrics(&self) -> String {
        let response = self.http.get(format!("{}/metrics", self.base)).send().await;
        let text = response.expect("metrics").text().await.expect("text");
        crate::metrics::assert_described(&text);
        text
    }

    /// Signs in; the access token.
    pub async fn login(&self, tenant: Option<&str>, email: &str) -> String {
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let Some(tenant) = tenant {
            body["tenant_id"] = json!(tenant);
        }
        let answer = self.post_ok("/api/v1/auth/login", None, &body).await;
        answer["access_token"].as_str().expect("token").to_owned()
    }

    /// A tenant with its administrator (signed in) and an area, as an installer makes them.
    pub async fn tenant(&self) -> Tenant {
        let root = self.login(None, ROOT).await;
        let tenant = json!({ "name": "Community" });
        let tenant = self.post_ok("/api/v1/tenants", Some(&root), &tenant).await;
        let id = tenant["id"].as_str().expect("tenant id").to_owned();
        let base = format!("/api/v1/tenants/{id}");
        let admin = json!({ "email": TENANT_ADMIN, "password": PASSWORD });
        let admin = self
            .post_ok(&format!("{base}/users"), Some(&root), &admin)
            .await;
        let grants = format!("{base}/users/{}/grants", admin["id"].as_str().expect("id"));
        let grant = json!({ "role": "tenant_admin" });
        self.post_ok(&grants, Some(&root), &grant).await;
        let admin_token = self.login(Some(&id), TENANT_ADMIN).await;
        let area = json!({ "name": "Gate" });
        let area = self
            .post_ok(&format!("{base}/areas"), Some(&admin_token), &area)
            .await;
        let area = area["id"].as_str().expect("area id").to_owned();
        Tenant {
            id,
            admin_token,
            area,
        }
    }

    /// Registers a box named `name` in `tenant`'s area.
    pub async fn register_box(&self, tenant: &Tenant, name: &str) -> RegisteredBox {
        let device = json!({ "name": name, "area_id": tenant.area });
        let path = format!("/api/v1/tenants/{}/devices", tenant.id);
        let device = self
            .post_ok(&path, Some(&tenant.admin_token), &device)
            .await;
        RegisteredBox {
            device_id: device["device"]["id"].as_str().expect("id").to_owned(),
            key: device["provisioning_key"].as_str().expect("key").to_owned(),
            activation: device["activation"]
                .as_str()
                .expect("activation")
                .to_owned(),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `dipper-relay`, built beside the test by a workspace build.
fn command(dir: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(crate::binary("dipper-relay"));
    command
        .current_dir(dir)
        .arg("--config")
        .arg(dir.join("relay.toml"))
        .env("RUST_LOG", "info")
        .env_remove("DIPPER_RELAY_CONFIG")
        .envs(env.iter().map(|(k, v)| (k, v)));
    command
}

/// `relay.toml`: SQLite in `dir`, the API on `port`, cheap Argon2 and limits no test meets.
fn config(dir: &Path, port: u16, broker: Option<(&TestBroker, String)>) -> String {
    let mut config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
[database]
url = "sqlite://{database}"
[auth.argon2]
memory_kib = 64
iterations = 1
parallelism = 1
[limits]
per_user_per_second = 100000
per_user_burst = 100000
per_tenant_per_second = 100000
per_tenant_burst = 100000
"#,
        database = dir.join("relay.sqlite3").display()
    );
    if let Some((broker, box_url)) = broker {
        config += &format!(
            r#"
[broker]
url = "{box_url}"
relay_url = "{url}"
admin_username = "{ADMIN_USER}"
admin_password = "{ADMIN_PASSWORD}"
username = "{BROKER_USER}"
password = "{BROKER_PASSWORD}"
client_id = "dipper-relay-test"
session_expiry_seconds = 600
"#,
            url = broker.url()
        );
    }
    config
}
