//! Activation against a real `dipper-relay` (its binary, on SQLite, without a broker): a
//! wrong key, an unreachable relay and a relay without a broker each refused with their
//! own code and a sentence to act on, through the API and the CLI, and nothing stored.
//! (Connecting with an identity is covered by `uplink.rs`, with one given in box.toml.)

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Daemon;
use serde_json::{Value, json};

const PASSWORD: &str = "correct-horse-battery";

/// `dipper-relay`, built beside `dipper` by a workspace build.
fn relay_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_dipper")).with_file_name("dipper-relay");
    assert!(
        path.exists(),
        "{} is missing: build the workspace (cargo nextest run --workspace)",
        path.display()
    );
    path
}

fn relay_command(dir: &Path) -> Command {
    let mut command = Command::new(relay_binary());
    command
        .current_dir(dir)
        .env("DIPPER_RELAY__AUTH__ARGON2__MEMORY_KIB", "64")
        .env("DIPPER_RELAY__AUTH__ARGON2__ITERATIONS", "1")
        .env_remove("DIPPER_RELAY_CONFIG");
    command
}

/// A `dipper-relay run` on SQLite in a temporary folder, with a platform administrator.
struct Relay {
    child: Child,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Relay {
    async fn start() -> Relay {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut create = relay_command(dir.path())
            .args([
                "admin",
                "create",
                "--email",
                "root@dipper.test",
                "--password-stdin",
            ])
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
        let port = testkit::free_port();
        let child = relay_command(dir.path())
            .arg("run")
            .env("DIPPER_RELAY__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dipper-relay run");
        let relay = Relay {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !relay.ready().await {
            assert!(Instant::now() < deadline, "the relay never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        relay
    }

    async fn ready(&self) -> bool {
        let response = self.http.get(format!("{}/readyz", self.base)).send().await;
        response.is_ok_and(|r| r.status().is_success())
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("idempotency-key", format!("key-{path}"))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn login(&self, tenant: Option<&str>, email: &str) -> String {
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let Some(tenant) = tenant {
            body["tenant_id"] = json!(tenant);
        }
        let answer = self.post("/api/v1/auth/login", None, body).await;
        answer["access_token"].as_str().expect("token").to_owned()
    }

    /// Registers a box as an installer would: a tenant, its administrator, an area, the
    /// device. Its id and one-time provisioning key.
    async fn register_box(&self) -> (String, String) {
        let root = self.login(None, "root@dipper.test").await;
        let tenant = self
            .post(
                "/api/v1/tenants",
                Some(&root),
                json!({ "name": "Community" }),
            )
            .await;
        let t = tenant["id"].as_str().expect("tenant id").to_owned();
        let base = format!("/api/v1/tenants/{t}");
        let admin = json!({ "email": "admin@dipper.test", "password": PASSWORD });
        let admin = self
            .post(&format!("{base}/users"), Some(&root), admin)
            .await;
        let grants = format!("{base}/users/{}/grants", admin["id"].as_str().expect("id"));
        self.post(&grants, Some(&root), json!({ "role": "tenant_admin" }))
            .await;
        let token = self.login(Some(&t), "admin@dipper.test").await;
        let area = self
            .post(
                &format!("{base}/areas"),
                Some(&token),
                json!({ "name": "Gate" }),
            )
            .await;
        let device = json!({ "name": "Box 1", "area_id": area["id"] });
        let device = self
            .post(&format!("{base}/devices"), Some(&token), device)
            .await;
        (
            device["device"]["id"]
                .as_str()
                .expect("device id")
                .to_owned(),
            device["provisioning_key"].as_str().expect("key").to_owned(),
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_errors_name_what_to_do_and_store_nothing() {
    let relay = Relay::start().await;
    let (device, key) = relay.register_box().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), "");
    let api = daemon.api();
    let activate =
        |relay_url: &str, key: &str| json!({ "relay": relay_url, "device_id": device, "key": key });

    let (status, wrong) = api
        .post("/uplink/activate", &activate(&relay.base, "not-the-key"))
        .await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (422, Some("wrong_key")),
        "{wrong}"
    );
    assert_eq!(wrong["field"], "key");

    let nowhere = format!("http://127.0.0.1:{}", testkit::free_port());
    let (status, down) = api
        .post("/uplink/activate", &activate(&nowhere, &key))
        .await;
    assert_eq!(
        (status, down["error"].as_str()),
        (502, Some("relay_unreachable")),
        "{down}"
    );
    assert!(
        down["message"]
            .as_str()
            .is_some_and(|m| m.contains(&nowhere)),
        "{down}"
    );

    let (status, bad) = api
        .post("/uplink/activate", &activate("ftp://relay", &key))
        .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (400, Some("relay")),
        "{bad}"
    );

    // The right key on a relay that has no broker to give.
    let cli = daemon.cli(&[
        "uplink",
        "activate",
        "--relay",
        &relay.base,
        "--device-id",
        &device,
        "--key",
        &key,
    ]);
    assert!(!cli.status.success());
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(stderr.contains("no MQTT broker"), "{stderr}");
    assert!(!stderr.contains(&key), "the key is echoed: {stderr}");

    let (_, status) = api.get("/uplink/status").await;
    assert_eq!(status["state"], "not_activated", "{status}");
}
