//! What the daemon's tests share: the `dipper` binary run as a daemon on a data directory
//! (started, stopped, killed, restarted), its API over HTTP, and simulated cameras serving
//! recordings with real faces composited in (`scripts/make-face-clips`).

#![allow(dead_code, unreachable_pub)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use isapi::sim::{DeviceConfig, RecordingClip, SimConfig, Simulator};
use serde_json::{Value, json};

/// Keyframes at 640x360: the composited faces are large enough (their eyes are 40 px apart
/// or more at that size), and one detector pass per keyframe keeps the tests quick.
const FRAME: &str =
    "search.frame_width = 640\nsearch.frame_height = 360\nindex.background = false\n";

pub const USER: &str = "admin";
pub const PASSWORD: &str = "Cam3ra-pass";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn photo(name: &str) -> PathBuf {
    let path = repo().join(".cache/faces").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-models",
        path.display()
    );
    path
}

/// `.cache/clips/faces/`, made by `scripts/make-face-clips`.
pub fn face_clips_dir() -> PathBuf {
    let dir = isapi::sim::default_clips_dir().join("faces");
    assert!(
        dir.join("faces.json").is_file(),
        "{} is missing: run scripts/make-clips",
        dir.display()
    );
    dir
}

/// The manifest of the face clips.
pub fn manifest() -> Value {
    let text = std::fs::read_to_string(face_clips_dir().join("faces.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

/// One appearance of a photo in a clip: seconds from the clip's start.
#[derive(Debug, Clone)]
pub struct Appearance {
    pub photo: String,
    pub from_s: f64,
    pub to_s: f64,
}

/// The appearances of a clip file named in the manifest.
pub fn appearances(clip: &str) -> Vec<Appearance> {
    let manifest = manifest();
    let clips = manifest["clips"].as_array().expect("clips array");
    let entry = clips
        .iter()
        .find(|c| c["file"].as_str() == Some(clip))
        .unwrap_or_else(|| panic!("{clip} is not in the manifest"));
    entry["appearances"]
        .as_array()
        .expect("appearances")
        .iter()
        .map(|a| Appearance {
            photo: a["photo"].as_str().expect("photo").to_owned(),
            from_s: a["from_s"].as_f64().expect("from_s"),
            to_s: a["to_s"].as_f64().expect("to_s"),
        })
        .collect()
}

/// A camera whose recordings are one minute long, ending at `end`, with face clips at some
/// of its recording indexes.
pub fn face_camera(serial: &str, end: jiff::Timestamp, clips: &[(u64, &str)]) -> DeviceConfig {
    let dir = face_clips_dir();
    let mut camera = DeviceConfig::camera(USER, PASSWORD);
    camera.serial = serial.to_owned();
    camera.name = serial.to_owned();
    camera.days = 1;
    camera.recording_minutes = 1;
    camera.end = Some(end);
    camera.recording_clips = clips
        .iter()
        .map(|&(index, file)| RecordingClip {
            track: 101,
            index,
            path: dir.join(file),
        })
        .collect();
    camera
}

pub async fn start_sim(devices: Vec<DeviceConfig>) -> Simulator {
    Simulator::start(SimConfig::new(devices))
        .await
        .expect("simulator starts")
}

/// A `dipper run` process on a data directory.
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
            log: data_dir.join("daemon.log"),
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
        let child = Command::new(env!("CARGO_BIN_EXE_dipper"))
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

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn api(&self) -> Api {
        Api {
            base: self.base.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// Runs the CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_dipper"))
            .args(args)
            .env("DIPPER_API", &self.base)
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
    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::answer(self.send_get(path).await).await
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
        Self::answer(response).await
    }

    pub async fn bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let response = self.send_get(path).await;
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    }

    async fn answer(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        (status, value)
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
