//! End to end: simulated cameras serve recordings in which real face photos appear at known
//! times (composited into H.264 and H.265 video by `scripts/make-face-clips`); the daemon,
//! driven by the CLI and the API, finds a person from a *different* photo of them at those
//! times and cameras and nowhere else, survives a restart in the middle, and answers a
//! second search over the same footage from its index without downloading again.

mod common;

use std::time::Duration;

use common::{appearances, face_camera, photo, start_sim};
use serde_json::Value;

/// The cameras have 1,440 one-minute recordings; the search covers the last six.
const RECORDINGS: u64 = 1440;
const FIRST: usize = 1434;
/// Recordings the search covers on both cameras.
const COVERED: u64 = 12;

struct Scene {
    sim: isapi::sim::Simulator,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
}

/// Two cameras; camera 0 (H.264) shows obama2 and biden in recording 1435, camera 1
/// (H.265) shows obama3 and the astronaut in recording 1437. Every other recording is the
/// plain test pattern.
async fn scene() -> Scene {
    let end = jiff::Timestamp::now();
    let mut h264 = face_camera("CAM-H264", end, &[(1435, "cam1_h264.ps")]);
    h264.codec = isapi::sim::Codec::H264;
    let mut h265 = face_camera("CAM-H265", end, &[(1437, "cam2_h265.ps")]);
    h265.codec = isapi::sim::Codec::H265;
    let sim = start_sim(vec![h264, h265]).await;
    // A second in, so the recording before it (which ends where this one starts) is out.
    let (from, _) = sim.recording_span(0, 101, FIRST).expect("first recording");
    let from = from + jiff::SignedDuration::from_secs(1);
    let (_, to) = sim
        .recording_span(0, 101, (RECORDINGS - 1) as usize)
        .expect("last recording");
    Scene { sim, from, to }
}

/// A match's snapshots are real JPEGs, served by the box's API at the URLs the report gives.
async fn assert_snapshots_are_jpegs(api: &common::Api, found: &Value) {
    let face = found["face_snapshot"].as_str().expect("url");
    let (_, path) = face.split_once("/api/v1").expect("an API URL");
    let (status, jpeg) = api.bytes(path).await;
    assert_eq!(status, 200, "{face}");
    assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
    let id = found["id"].as_i64().expect("match id");
    let (status, frame) = api.bytes(&format!("/matches/{id}/frame.jpg")).await;
    assert_eq!(status, 200);
    assert!(frame.starts_with(&[0xFF, 0xD8, 0xFF]));
}

/// The scene's two cameras, added to the daemon as "gate" and "lobby".
async fn add_cameras(api: &common::Api, scene: &Scene) -> [i64; 2] {
    let gate = api
        .add_camera("gate", &scene.sim.device(0).base_url())
        .await;
    let lobby = api
        .add_camera("lobby", &scene.sim.device(1).base_url())
        .await;
    [gate, lobby]
}

/// When the target appears on each camera (by its index): cam1's recording 1435 and cam2's
/// 1437, as the scene's clips place other photos of him.
fn obama_windows(scene: &Scene) -> Vec<(usize, (i64, i64))> {
    let first = person_windows(scene, 0, 1435, "cam1_h264.ps", "obama2.jpg");
    let second = person_windows(scene, 1, 1437, "cam2_h265.ps", "obama3.jpg");
    (first.into_iter().map(|w| (0, w)))
        .chain(second.into_iter().map(|w| (1, w)))
        .collect()
}

/// The instants (Unix ms) at which `person` shows on a device's recording `index`.
fn person_windows(
    scene: &Scene,
    device: usize,
    index: usize,
    clip: &str,
    person: &str,
) -> Vec<(i64, i64)> {
    let (start, _) = scene.sim.recording_span(device, 101, index).expect("span");
    appearances(clip)
        .into_iter()
        .filter(|a| a.photo == person)
        .map(|a| {
            let start = start.as_millisecond();
            (
                start + (a.from_s * 1000.0) as i64,
                start + (a.to_s * 1000.0) as i64,
            )
        })
        .collect()
}

/// Asserts that every match lies in one of the windows (with a keyframe interval of slack),
/// each window has at least one match, and returns the number of matches.
fn assert_matches_in(matches: &[Value], windows: &[(usize, (i64, i64))], cameras: &[i64]) {
    assert!(!matches.is_empty(), "no match at all");
    for m in matches {
        let time = m["time_ms"].as_i64().expect("time");
        let camera = m["camera_id"].as_i64().expect("camera");
        let inside = windows.iter().any(|(device, (from, to))| {
            cameras[*device] == camera && time >= from - 2_000 && time <= to + 2_000
        });
        assert!(inside, "match {m} is outside every window {windows:?}");
        assert!(m["distance"].as_f64().expect("distance") < 0.37);
    }
    for (device, (from, to)) in windows {
        assert!(
            matches.iter().any(|m| {
                let time = m["time_ms"].as_i64().unwrap_or(0);
                m["camera_id"].as_i64() == Some(cameras[*device])
                    && time >= *from - 2_000
                    && time <= *to + 2_000
            }),
            "no match in window {from}..{to} of camera {}: {matches:?}",
            cameras[*device]
        );
    }
    let mut seen = std::collections::HashSet::new();
    for m in matches {
        let key = (
            m["camera_id"].as_i64(),
            m["time_ms"].as_i64(),
            m["face_box"].to_string(),
        );
        assert!(seen.insert(key), "match stored twice: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_finds_a_person_from_another_photo_at_the_right_times_and_cameras() {
    let scene = scene().await;
    let (_dir, daemon) = common::start_box("");
    let api = daemon.api();
    let [cam_a, cam_b] = add_cameras(&api, &scene).await;
    let cameras = [cam_a, cam_b];

    let query = photo("obama.jpg");
    let output = daemon.cli(&[
        "search",
        "--photo",
        query.to_str().expect("path"),
        "--from",
        &scene.from.to_string(),
        "--to",
        &scene.to.to_string(),
        "--json",
    ]);
    assert!(
        output.status.success(),
        "dipper search failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        daemon.log_text()
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    let task = &report["task"];
    assert_eq!(task["state"], "done", "{task}");
    assert_eq!(
        task["recordings_total"], COVERED,
        "six recordings on each camera: {task}"
    );
    assert_eq!(task["recordings_failed"], 0, "{task}");
    let windows = obama_windows(&scene);
    let matches = report["matches"].as_array().expect("matches");
    assert_matches_in(matches, &windows, &cameras);
    assert_snapshots_are_jpegs(&api, &matches[0]).await;

    // The plain-text report lists the same matches, one line each.
    let output = daemon.cli(&["tasks", "show", task["id"].as_str().expect("id")]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("gate") || l.contains("lobby"))
            .count(),
        matches.len(),
        "{text}"
    );

    // A second search over the same footage, for someone else, downloads nothing.
    let downloads = |sim: &isapi::sim::Simulator| {
        sim.stats(0).downloads_started + sim.stats(1).downloads_started
    };
    let before = downloads(&scene.sim);
    let biden = api
        .create_task(&photo("biden.jpg"), scene.from, scene.to, &[])
        .await;
    let status = api.wait_finished(&biden, Duration::from_secs(300)).await;
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(
        downloads(&scene.sim),
        before,
        "the second search downloaded again"
    );
    let windows: Vec<(usize, (i64, i64))> =
        person_windows(&scene, 0, 1435, "cam1_h264.ps", "biden.jpg")
            .into_iter()
            .map(|w| (0, w))
            .collect();
    assert_matches_in(&api.matches(&biden).await, &windows, &cameras);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_survives_a_restart_in_the_middle() {
    let scene = scene().await;
    let (_dir, mut daemon) = common::start_box("search.recordings_per_task = 1\n");
    let api = daemon.api();
    let [cam_a, cam_b] = add_cameras(&api, &scene).await;
    let task = api
        .create_task(&photo("obama.jpg"), scene.from, scene.to, &[cam_a, cam_b])
        .await;
    // Stop it once some recordings are done and some are not.
    loop {
        let status = api.status(&task).await;
        let done = status["recordings_done"].as_u64().unwrap_or(0);
        if done >= 3 {
            assert!(done < COVERED, "finished before the restart: {status}");
            break;
        }
        assert_ne!(status["state"], "failed", "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        daemon.terminate(),
        "a clean stop on SIGTERM: {}",
        daemon.log_text()
    );
    daemon.restart();
    let api = daemon.api();
    let status = api.wait_finished(&task, Duration::from_secs(300)).await;
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(status["recordings_total"], COVERED, "{status}");
    assert_eq!(status["recordings_done"], COVERED, "{status}");
    let windows = obama_windows(&scene);
    assert_matches_in(&api.matches(&task).await, &windows, &[cam_a, cam_b]);
}
