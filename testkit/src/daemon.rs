//! The box daemon for a test: `dipper run` on a data directory (started, stopped, killed,
//! restarted), its API over HTTP and its CLI. Keyframes are decoded at 640x360 (the face
//! clips' faces are large enough there) and background indexing is off unless a test's
//! `box.toml` lines turn it on.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::faces::{PASSWORD, USER};

/// Keyframes at 640x360: the composited faces are large enough (their eyes are 40 px apart
/// or more at that size), and one detector pass per keyframe keeps the tests quick.
const FRAME: &str =
    "search.frame_width = 640\nsearch.frame_height = 360\nindex.background = false\n";

/// A `dipper run` process on a data directory; killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    pub data_dir: PathBuf,
    /// Extra environment and arguments of `dipper run`.
    env: Vec<(String, String)>,
    args: Vec<String>,
    pub config: PathBuf,
    child: Option<Child>,
    pub base: String,
    pub log: PathBuf,
}

impl Daemon {
    /// Writes `box.toml` (with `extra` TOML appended: dotted keys, as `search.x = 1`, since
    /// the `search` table is already begun) and starts the daemon.
    pub fn start(data_dir: &Path, extra: &str) -> Daemon {
        Daemon::start_with(data_dir, extra, &[], &[])
    }

    /// [`Daemon::start`] with more environment variables and arguments for `dipper run`.
    pub fn start_with(data_dir: &Path, extra: &str, env: &[(&str, &str)], args: &[&str]) -> Daemon {
        Daemon::start_logging_to(data_dir, extra, env, args, &data_dir.join("daemon.log"))
    }

    /// [`Daemon::start_with`], the daemon's stderr appended to `log` (`/dev/full`: a log
    /// every write to which fails).
    pub fn start_logging_to(
        data_dir: &Path,
        extra: &str,
        env: &[(&str, &str)],
        args: &[&str],
        log: &Path,
    ) -> Daemon {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let config = data_dir.join("box.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n{FRAME}{extra}\n",
                data_dir.display().to_string()
            ),
        )
        .expect("config");
        let mut daemon = Daemon {
            data_dir: data_dir.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            config,
            child: None,
            base: String::new(),
            log: log.to_owned(),
        };
        daemon.spawn();
        daemon
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.data_dir.join("api.addr"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(crate::binary("dipper"))
            .args(["run", "--config"])
            .arg(&self.config)
            .args(&self.args)
            .env("RUST_LOG", "info,dipper=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dipper runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(addr) = std::fs::read_to_string(self.data_dir.join("api.addr")) {
                self.base = format!("http://{}", addr.trim());
                break;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("dipper exited at start ({status}): {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "dipper did not start: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's log so far (its first 64 MiB: `/dev/full` reads as endless zeros).
    pub fn log_text(&self) -> String {
        use std::io::Read as _;
        let mut bytes = Vec::new();
        if let Ok(file) = std::fs::File::open(&self.log) {
            let _ = file.take(64 << 20).read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL, as a power cut or the OOM killer would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal (`TERM`, `INT`, ...) to the daemon.
    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{name}"), &child.id().to_string()])
                .status();
        }
    }

    /// Waits up to `timeout` for the daemon to exit; its exit status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and waits for the exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let Some(child) = self.child.take() else {
            return true;
        };
        crate::terminate(child, Duration::from_secs(30))
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Starts the daemon again after [`Daemon::terminate`] or [`Daemon::kill9`], on the same
    /// data directory and configuration, and waits for its API.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the daemon is still running");
        self.spawn();
    }

    /// The API as the CLI reaches it: with the local token.
    pub fn api(&self) -> Api {
        let token = std::fs::read_to_string(self.token_file()).expect("the local token");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token.trim())
                .parse()
                .expect("a header"),
        );
        Api {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .expect("client"),
        }
    }

    /// The API as a browser reaches it: no token, no cookie.
    pub fn anonymous_api(&self) -> Api {
        Api {
            base: self.base.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// The daemon's local token file.
    pub fn token_file(&self) -> PathBuf {
        self.data_dir.join("local-token")
    }

    /// Runs the CLI against this daemon (with its local token, as root on the box).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(crate::binary("dipper"))
            .args(args)
            .env("DIPPER_API", &self.base)
            .env("DIPPER_TOKEN_FILE", self.token_file())
            .env_remove("DIPPER_TOKEN")
            .output()
            .expect("dipper runs")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The API over HTTP: status code and JSON body.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

impl Api {
    /// The Prometheus text of the daemon's `/metrics`, every metric in it from the daemon's
    /// table (`metrics::assert_described`).
    pub async fn metrics(&self) -> String {
        let response = self.http.get(format!("{}/metrics", self.base)).send().await;
        let text = response.expect("metrics").text().await.expect("text");
        crate::metrics::assert_described(&text);
        text
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        crate::json_answer(self.send_get(path).await).await
    }

    async fn send_get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}/api/v1{path}", self.base);
        self.http.get(url).send().await.expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, serde_json::to_vec(body).expect("json"))
            .await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        crate::json_answer(response).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send_json(reqwest::Method::PATCH, path, body).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let url = format!("{}/api/v1{path}", self.base);
        crate::json_answer(self.http.delete(url).send().await.expect("request")).await
    }

    async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).expect("json"))
            .send()
            .await
            .expect("request");
        crate::json_answer(response).await
    }

    pub async fn bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let response = self.send_get(path).await;
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    }

    /// Adds a simulated camera; returns its id.
    pub async fn add_camera(&self, name: &str, url: &str) -> i64 {
        let (status, body) = self
            .post(
                "/cameras",
                &json!({ "name": name, "url": url, "username": USER, "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, 201, "adding {name}: {body}");
        body["id"].as_i64().expect("camera id")
    }

    /// Creates a task searching for the person in `photo`; returns its id.
    pub async fn create_task(
        &self,
        photo: &Path,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
        cameras: &[i64],
    ) -> String {
        use base64::Engine as _;
        let bytes = std::fs::read(photo).expect("photo");
        let (status, body) = self
            .post(
                "/tasks",
                &json!({
                    "from": from.to_string(),
                    "to": to.to_string(),
                    "cameras": cameras,
                    "priority": 0,
                    "photo": base64::engine::general_purpose::STANDARD.encode(bytes),
                }),
            )
            .await;
        assert_eq!(status, 201, "creating a task: {body}");
        body["id"].as_str().expect("task id").to_owned()
    }

    pub async fn status(&self, task: &str) -> Value {
        let (status, body) = self.get(&format!("/tasks/{task}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until the task is done, failed or cancelled.
    pub async fn wait_finished(&self, task: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status(task).await;
            if matches!(
                status["state"].as_str(),
                Some("done" | "failed" | "cancelled")
            ) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "task still {status} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every match of the task.
    pub async fn matches(&self, task: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/tasks/{task}/results?limit=1000")).await;
        assert_eq!(status, 200, "{body}");
        body["matches"].as_array().expect("matches").clone()
    }
}
