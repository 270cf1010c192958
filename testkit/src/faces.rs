//! Simulated cameras whose recordings show real faces (`scripts/make-face-clips` composites
//! the test photos into H.264 and H.265 clips at known places and times, listed in
//! `faces.json`), the photos themselves, and a photo's embedding as the box computes it.

use std::path::PathBuf;

pub use isapi::sim::Simulator;
use isapi::sim::{DeviceConfig, RecordingClip, SimConfig};
use serde_json::Value;

use crate::repo;

/// The simulated cameras' user and password.
pub const USER: &str = "admin";
pub const PASSWORD: &str = "Cam3ra-pass";

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

/// The embedding of the one face in `photo` (a file of `.cache/faces`), as `dipper face
/// embed --json` computes it: what a relay sends to a box as a search's target.
pub fn embedding_of(photo_name: &str) -> protocol::search::WireEmbedding {
    let output = std::process::Command::new(crate::binary("dipper"))
        .args(["face", "embed", "--json"])
        .arg(photo(photo_name))
        .output()
        .expect("dipper face embed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    let vector: Vec<f32> = serde_json::from_value(report["vector"].clone()).expect("vector");
    protocol::search::WireEmbedding::new(report["model"].as_str().expect("model"), &vector)
}
