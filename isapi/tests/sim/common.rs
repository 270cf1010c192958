//! Helpers of the simulator tests: starting devices, running curl and ffprobe, and a small
//! Digest client for requests curl cannot shape (replayed nonce counts, held-open bodies).

use std::{path::PathBuf, process::Output, sync::Mutex};

use isapi::{
    sim::{DeviceConfig, SimConfig, SimDevice, Simulator},
    xml::{self, CmSearchDescription, CmSearchResult, TimeSpan, TimeSpanList, TrackIdList},
};
use reqwest::{Method, StatusCode};

pub(crate) const USER: &str = "admin";
pub(crate) const PASSWORD: &str = "Sim-pass1";

/// A camera with a day of one-minute recordings ending 2026-11-24 12:00 device time (UTC+8).
pub(crate) fn camera() -> DeviceConfig {
    let mut config = DeviceConfig::camera(USER, PASSWORD);
    config.days = 1;
    config.recording_minutes = 1;
    config.end = Some(end());
    config
}

/// 2026-11-24T04:00:00Z, 12:00 at UTC+8.
pub(crate) fn end() -> jiff::Timestamp {
    "2026-11-24T04:00:00Z"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) async fn start(devices: Vec<DeviceConfig>) -> Simulator {
    Simulator::start(SimConfig::new(devices))
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"))
}

/// A file under the temp folder, removed when dropped.
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    pub(crate) fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("isapi-sim-test-{}-{name}", std::process::id()));
        TempFile(path)
    }

    pub(crate) fn str(&self) -> &str {
        self.0
            .to_str()
            .unwrap_or_else(|| panic!("non-UTF-8 temp path"))
    }

    pub(crate) fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap_or_else(|e| panic!("{}: {e}", self.0.display()))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs a program to completion off the async threads (the simulator runs on them).
pub(crate) async fn run(program: &str, args: Vec<String>) -> Output {
    let program = program.to_owned();
    let shown = format!("{program} {}", args.join(" "));
    tokio::task::spawn_blocking(move || std::process::Command::new(&program).args(&args).output())
        .await
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
}

/// `curl -sS --digest -u USER:PASSWORD -w %{http_code}` plus `args`; the HTTP status and
/// the whole output.
pub(crate) async fn curl(user: &str, password: &str, args: &[&str]) -> (u16, Output) {
    let mut all = vec![
        "-sS".to_owned(),
        "--digest".to_owned(),
        "-u".to_owned(),
        format!("{user}:{password}"),
        "-w".to_owned(),
        "\n%{http_code}".to_owned(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let output = run("curl", all).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let code = stdout
        .rsplit('\n')
        .next()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    (code, output)
}

/// The body curl printed (stdout without the status line `curl` adds).
pub(crate) fn curl_body(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .rsplit_once('\n')
        .map_or(String::new(), |(body, _)| body.to_owned())
}

/// A search request for `tracks` over `[start, end)` (device wall clock).
pub(crate) fn search_request(
    tracks: &[u32],
    start: &str,
    end: &str,
    max: u32,
    position: u32,
) -> String {
    let request = CmSearchDescription {
        search_id: "C0A8F2D4-1B3E-4F5A-9C7D-2E6B8A1F3C5D".to_owned(),
        track_list: Some(TrackIdList {
            track_ids: tracks.to_vec(),
        }),
        time_span_list: TimeSpanList {
            time_spans: vec![TimeSpan {
                start_time: start.to_owned(),
                end_time: end.to_owned(),
            }],
        },
        max_results: max,
        search_result_position: Some(position),
        ..CmSearchDescription::default()
    };
    xml::to_string("CMSearchDescription", &request)
}

pub(crate) fn download_request(playback_uri: &str) -> String {
    let request = xml::DownloadRequest {
        playback_uri: playback_uri.to_owned(),
        ..Default::default()
    };
    xml::to_string("downloadRequest", &request)
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(root: &'static str, body: &str) -> T {
    xml::parse(root, body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

pub(crate) fn status_of(body: &str) -> (u32, String) {
    let status: xml::ResponseStatus = parse("ResponseStatus", body);
    (status.status_code, status.sub_status().to_owned())
}

/// A Digest client that keeps one nonce and counts its uses.
pub(crate) struct Isapi {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
    /// realm, nonce, last nonce count
    nonce: Mutex<Option<(String, String, u32)>>,
}

impl Isapi {
    pub(crate) fn new(device: &SimDevice) -> Self {
        Self::with(device, USER, PASSWORD)
    }

    pub(crate) fn with(device: &SimDevice, user: &str, password: &str) -> Self {
        Isapi {
            http: reqwest::Client::new(),
            base: device.base_url(),
            user: user.to_owned(),
            password: password.to_owned(),
            nonce: Mutex::new(None),
        }
    }

    /// Takes the nonce of a 401's challenge.
    pub(crate) fn take_challenge(&self, response: &reqwest::Response) {
        let header = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("401 without a challenge"));
        let field = |name: &str| {
            let key = format!("{name}=\"");
            let start = header
                .find(&key)
                .unwrap_or_else(|| panic!("no {name} in {header}"))
                + key.len();
            header[start..]
                .split('"')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        *self.nonce.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((field("realm"), field("nonce"), 0));
    }

    /// The `Authorization` header for the next use of the nonce (or count `nc` when given).
    pub(crate) fn authorization(
        &self,
        method: &Method,
        path: &str,
        nc: Option<u32>,
    ) -> Option<String> {
        let mut guard = self.nonce.lock().unwrap_or_else(|e| e.into_inner());
        let (realm, nonce, count) = guard.as_mut()?;
        let nc = nc.unwrap_or_else(|| {
            *count += 1;
            *count
        });
        let nc = format!("{nc:08x}");
        let cnonce = "0a4f113b";
        let md5 = |s: String| format!("{:x}", <md5::Md5 as md5::Digest>::digest(s.as_bytes()));
        let ha1 = md5(format!("{}:{realm}:{}", self.user, self.password));
        let ha2 = md5(format!("{method}:{path}"));
        let response = md5(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        Some(format!(
            r#"Digest username="{}", realm="{realm}", nonce="{nonce}", uri="{path}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}""#,
            self.user
        ))
    }

    /// One request with the current nonce (none yet: without credentials).
    pub(crate) async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        nc: Option<u32>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(auth) = self.authorization(&method, path, nc) {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request, answering a challenge (first use, stale nonce) once.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> reqwest::Response {
        let had_nonce = self
            .nonce
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        let response = self.send_once(method.clone(), path, body, None).await;
        let stale = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|h| h.contains("stale=TRUE"));
        if response.status() != StatusCode::UNAUTHORIZED || (had_nonce && !stale) {
            return response;
        }
        self.take_challenge(&response);
        self.send_once(method, path, body, None).await
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, String) {
        text(self.send(Method::GET, path, None).await).await
    }

    pub(crate) async fn post(&self, path: &str, body: &str) -> (StatusCode, String) {
        text(self.send(Method::POST, path, Some(body)).await).await
    }

    pub(crate) async fn search(&self, body: &str) -> CmSearchResult {
        let (status, body) = self.post("/ISAPI/ContentMgmt/search", body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        parse("CMSearchResult", &body)
    }
}

/// A response's `Content-Type`, if readable.
pub(crate) fn content_type(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
}

pub(crate) async fn text(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    (status, body)
}

/// Polls `done` every 10 ms for up to 5 s: for counters the simulator updates when a
/// connection it cannot announce has gone.
pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
