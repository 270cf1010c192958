//! The box daemon (`dipper run`, the `dipper` beside this binary) in its own process on a
//! temporary data directory, and the small helpers the daemon benchmarks share (HTTP, the
//! cameras they add, the query photo of their tasks).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use base64::Engine as _;
use isapi::sim::Simulator;
use serde_json::Value;

use crate::BoxError;

/// The size the daemon decodes keyframes to for detection, as both daemon benches take it.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyframeSize {
    /// Size keyframes are decoded to for detection (the daemon's `search.frame_width`).
    #[arg(long, default_value_t = 1280)]
    pub(crate) frame_width: u32,
    #[arg(long, default_value_t = 720)]
    pub(crate) frame_height: u32,
}

impl KeyframeSize {
    /// The start of `box.toml`'s `[search]` section with this size; more keys may follow.
    pub(crate) fn search_section(&self) -> String {
        format!(
            "[search]\nframe_width = {}\nframe_height = {}\n",
            self.frame_width, self.frame_height
        )
    }

    /// `WIDTHxHEIGHT`, for the report.
    pub(crate) fn label(&self) -> String {
        format!("{}x{}", self.frame_width, self.frame_height)
    }
}

/// The nearest-rank percentile `p` (0..=100) of sorted values; NaN when there are none.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `name` (`dipper`, `dipper-relay`) beside this executable.
pub(crate) fn sibling_binary(name: &str) -> Result<PathBuf, BoxError> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name(name);
    if !path.is_file() {
        return Err(format!(
            "{} is missing: build it (the scripts/bench-* wrappers build both)",
            path.display()
        )
        .into());
    }
    Ok(path)
}

/// A running daemon; killed when dropped.
pub(crate) struct Daemon {
    pub(crate) child: tokio::process::Child,
    /// `http://address/api/v1`.
    pub(crate) base: String,
    dir: tempfile::TempDir,
    /// A client that sends the daemon's local token (as the CLI does).
    http: reqwest::Client,
}

impl Daemon {
    /// Starts `dipper run` with `box.toml` holding the data dir, a free port and `config`
    /// (TOML tables), and waits for its API address.
    pub(crate) async fn start(config: &str) -> Result<Daemon, BoxError> {
        Daemon::start_in(tempfile::tempdir()?, config).await
    }

    /// [`Daemon::start`] on the data directory `dir` (one a stopped daemon left).
    pub(crate) async fn start_in(dir: tempfile::TempDir, config: &str) -> Result<Daemon, BoxError> {
        // A stopped daemon's address is stale: wait for the new one.
        match std::fs::remove_file(dir.path().join("api.addr")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let path = dir.path().join("box.toml");
        std::fs::write(
            &path,
            format!(
                "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n{config}",
                dir.path().display().to_string()
            ),
        )?;
        let child = tokio::process::Command::new(sibling_binary("dipper")?)
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let address = loop {
            if let Ok(address) = std::fs::read_to_string(dir.path().join("api.addr")) {
                break address.trim().to_owned();
            }
            if Instant::now() > deadline {
                return Err("the daemon did not start within 2 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let token = std::fs::read_to_string(dir.path().join("local-token"))?;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token.trim()).parse()?,
        );
        Ok(Daemon {
            child,
            base: format!("http://{address}/api/v1"),
            dir,
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()?,
        })
    }

    pub(crate) fn pid(&self) -> Result<u32, BoxError> {
        Ok(self.child.id().ok_or("the daemon exited")?)
    }

    /// Stops the daemon as its supervisor would (SIGTERM) and waits for it to exit; its
    /// data directory.
    pub(crate) async fn stop(mut self) -> Result<tempfile::TempDir, BoxError> {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.pid()?)?)
            .ok_or("the daemon has no pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .map_err(|_| "the daemon did not stop within a minute of SIGTERM")??;
        if !status.success() {
            return Err(format!("the daemon exited with {status}").into());
        }
        Ok(self.dir)
    }

    /// Kills the daemon with SIGKILL (a power cut, as the process sees it) and waits for it;
    /// its data directory.
    pub(crate) async fn kill(mut self) -> Result<tempfile::TempDir, BoxError> {
        self.child.kill().await?;
        Ok(self.dir)
    }

    /// Adds the camera at `url`, which `user` and `password` open, named `name`: the
    /// daemon's answer (the camera, with its `id`).
    pub(crate) async fn add_camera(
        &self,
        name: &str,
        url: &str,
        (user, password): (&str, &str),
    ) -> Result<Value, BoxError> {
        let body = serde_json::json!({
            "name": name, "url": url, "username": user, "password": password,
        });
        post(&self.http, &format!("{}/cameras", self.base), &body).await
    }

    /// Adds every device of `sim` as a camera named `camera N`, each opened by `admin` and
    /// `bench-pass` (as the daemon benchmarks make their simulated cameras); their ids, in
    /// order.
    pub(crate) async fn add_cameras(&self, sim: &Simulator) -> Result<Vec<i64>, BoxError> {
        let mut ids = Vec::new();
        for n in 0..sim.devices().len() {
            let name = format!("camera {n}");
            let url = sim.device(n).base_url();
            let camera = self
                .add_camera(&name, &url, ("admin", "bench-pass"))
                .await?;
            ids.push(camera["id"].as_i64().ok_or("no camera id")?);
        }
        Ok(ids)
    }

    /// A client of the daemon's API, with its local token.
    pub(crate) fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// The face photo at `path` (scripts/fetch-models fetches them) in base64, as a task's
/// query photo.
pub(crate) fn photo_base64(path: &Path) -> Result<String, BoxError> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("{}: {e} (run scripts/fetch-models)", path.display()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// POSTs JSON; the answer's JSON, or an error with the status and body.
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<Value, BoxError> {
    let response = http.post(url).json(body).send().await?;
    let status = response.status();
    let value: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("POST {url}: {status} {value}").into());
    }
    Ok(value)
}

/// GETs JSON.
pub(crate) async fn get(http: &reqwest::Client, url: &str) -> Result<Value, BoxError> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let value: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {value}").into());
    }
    Ok(value)
}
