//! `kill -9` at many points of a search, each followed by a restart: the task resumes from
//! its checkpoints, finishes, loses no match and stores none twice.

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, appearances, face_camera, photo, start_sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_many_points_loses_no_match_and_stores_none_twice() {
    let end = jiff::Timestamp::now();
    let mut cam_a = face_camera("CRASH-H264", end, &[(1437, "cam1_h264.ps")]);
    cam_a.codec = isapi::sim::Codec::H264;
    let mut cam_b = face_camera("CRASH-H265", end, &[(1438, "cam2_h265.ps")]);
    cam_b.codec = isapi::sim::Codec::H265;
    let sim = start_sim(vec![cam_a, cam_b]).await;
    // Twelve recordings a camera: enough work that the kills land mid-task even with the
    // face stages on ONNX Runtime.
    let (from, _) = sim.recording_span(0, 101, 1428).expect("span");
    let from = from + jiff::SignedDuration::from_secs(1);
    let (_, to) = sim.recording_span(0, 101, 1439).expect("span");
    let covered = 24u64;

    let (_dir, mut daemon) = common::start_box("search.recordings_per_task = 2\n");
    let api = daemon.api();
    let a = api.add_camera("a", &sim.device(0).base_url()).await;
    let b = api.add_camera("b", &sim.device(1).base_url()).await;
    let task = api
        .create_task(&photo("obama.jpg"), from, to, &[a, b])
        .await;

    let (kills_mid_task, done_at_kill) = kill_at_points(&mut daemon, &task).await;
    assert!(
        kills_mid_task >= 6,
        "only {kills_mid_task} kills hit the running task: {done_at_kill:?}"
    );
    assert!(
        done_at_kill.contains(&0) && done_at_kill.iter().any(|&d| d > 0),
        "kills should land both before and after recordings finished: {done_at_kill:?}"
    );

    let api = daemon.api();
    let status = api.wait_finished(&task, Duration::from_secs(300)).await;
    assert_eq!(status["state"], "done", "{status}\n{}", daemon.log_text());
    assert_eq!(status["recordings_total"], covered, "{status}");
    assert_eq!(status["recordings_done"], covered, "{status}");
    assert_eq!(status["recordings_failed"], 0, "{status}");
    let matches = api.matches(&task).await;
    assert_eq!(
        status["matches"],
        matches.len() as u64,
        "the counter agrees with the rows"
    );

    assert_every_appearance_once(&sim, &matches, a, b);
}

/// Kills the daemon (SIGKILL) at points through the task and starts it again each time;
/// returns how many kills hit the running task and the recordings done at each.
async fn kill_at_points(daemon: &mut Daemon, task: &str) -> (u32, Vec<u64>) {
    // Kill points: at once (embedding the photo, first search pages), soon after a start
    // (resuming), then each time another recording completes, after a growing delay that
    // lands anywhere from "just stored" to "in the middle of the next recordings".
    let mut kills_mid_task = 0;
    let mut done_at_kill = Vec::new();
    let schedule: [(bool, u64); 10] = [
        (false, 0),
        (false, 200),
        (true, 0),
        (true, 150),
        (true, 400),
        (true, 700),
        (true, 1_000),
        (true, 1_400),
        (true, 1_900),
        (true, 2_500),
    ];
    let mut last_done = 0;
    for (after_progress, delay) in schedule {
        if after_progress {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let status = daemon.api().status(task).await;
                let done = status["recordings_done"].as_u64().unwrap_or(0);
                if done > last_done || status["state"] == "done" {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no progress: {status}\n{}",
                    daemon.log_text()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let status = daemon.api().status(task).await;
        if status["state"] == "done" {
            break;
        }
        last_done = status["recordings_done"].as_u64().unwrap_or(0);
        daemon.restart(); // SIGKILL, then start again on the same data directory
        kills_mid_task += 1;
        done_at_kill.push(last_done);
    }
    (kills_mid_task, done_at_kill)
}

/// Every appearance of the person is found, nothing else, and nothing twice.
fn assert_every_appearance_once(
    sim: &isapi::sim::Simulator,
    matches: &[serde_json::Value],
    a: i64,
    b: i64,
) {
    let mut windows = Vec::new();
    for (device, camera, index, clip, person) in [
        (0, a, 1437, "cam1_h264.ps", "obama2.jpg"),
        (1, b, 1438, "cam2_h265.ps", "obama3.jpg"),
    ] {
        let (start, _) = sim.recording_span(device, 101, index).expect("span");
        for appearance in appearances(clip).into_iter().filter(|x| x.photo == person) {
            let from = start.as_millisecond() + (appearance.from_s * 1000.0) as i64;
            let to = start.as_millisecond() + (appearance.to_s * 1000.0) as i64;
            windows.push((camera, from, to));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for m in matches {
        let camera = m["camera_id"].as_i64().expect("camera");
        let time = m["time_ms"].as_i64().expect("time");
        assert!(
            windows
                .iter()
                .any(|&(c, from, to)| c == camera && time >= from - 2_000 && time <= to + 2_000),
            "a match outside the person's appearances: {m}"
        );
        assert!(seen.insert((camera, time)), "a match stored twice: {m}");
    }
    for (camera, from, to) in &windows {
        let found = matches.iter().filter(|m| {
            let time = m["time_ms"].as_i64().unwrap_or(0);
            m["camera_id"].as_i64() == Some(*camera) && time >= from - 2_000 && time <= to + 2_000
        });
        // The face shows for several keyframes: every one of them is matched.
        let expected = ((to - from) / 2_000) as usize;
        assert!(
            found.count() >= expected.max(1),
            "camera {camera} {from}..{to}: missing matches in {matches:?}"
        );
    }
}
