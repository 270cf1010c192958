//! End to end on a camera that writes its search results as much firmware does: every
//! `timeSpan` of zero length (the range only in the playback URI, spelled in ISO 8601), and
//! log entries mixed into the pages. The box must still find the known faces at the right
//! times, over exactly the recordings of the search's window.

mod common;

use std::time::Duration;

use common::{appearances, face_camera, photo, start_sim};

/// One-minute recordings; the search covers the last four, the face clip is the second.
const RECORDINGS: usize = 1440;
const FIRST: usize = 1436;
const FACES: usize = 1437;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faces_are_found_on_a_camera_with_zero_length_time_spans() {
    let end = jiff::Timestamp::now();
    let mut camera = face_camera("CAM-QUIRKY", end, &[(FACES as u64, "cam1_h264.ps")]);
    for quirk in ["degenerate-time-spans", "iso-uri-times", "foreign-items"] {
        camera.quirks.set(quirk).expect("a known quirk");
    }
    let sim = start_sim(vec![camera]).await;
    // A second into the first recording, so the one before it is out.
    let (from, _) = sim.recording_span(0, 101, FIRST).expect("first recording");
    let from = from + jiff::SignedDuration::from_secs(1);
    let (_, to) = sim.recording_span(0, 101, RECORDINGS - 1).expect("last");

    let (_dir, daemon) = common::start_box("");
    let api = daemon.api();
    let camera = api.add_camera("quirky", &sim.device(0).base_url()).await;
    let task = api
        .create_task(&photo("obama.jpg"), from, to, &[camera])
        .await;
    let status = api.wait_finished(&task, Duration::from_secs(300)).await;
    assert_eq!(status["state"], "done", "{status}");
    // With the time spans believed, every recording would be zero-length and the window
    // would hold another number of them.
    assert_eq!(status["recordings_total"], 4, "{status}");
    assert_eq!(status["recordings_failed"], 0, "{status}");

    let (start, _) = sim.recording_span(0, 101, FACES).expect("span");
    let windows: Vec<(i64, i64)> = appearances("cam1_h264.ps")
        .into_iter()
        .filter(|a| a.photo == "obama2.jpg")
        .map(|a| {
            let start = start.as_millisecond();
            (
                start + (a.from_s * 1000.0) as i64,
                start + (a.to_s * 1000.0) as i64,
            )
        })
        .collect();
    assert!(!windows.is_empty());
    let matches = api.matches(&task).await;
    assert!(!matches.is_empty(), "no match: {status}");
    for m in &matches {
        let time = m["time_ms"].as_i64().expect("time");
        assert!(
            windows
                .iter()
                .any(|(from, to)| time >= from - 2_000 && time <= to + 2_000),
            "match {m} is outside every window {windows:?}"
        );
        assert_eq!(m["camera_id"].as_i64(), Some(camera), "{m}");
    }
    for (from, to) in &windows {
        assert!(
            matches.iter().any(|m| {
                let time = m["time_ms"].as_i64().unwrap_or(0);
                time >= from - 2_000 && time <= to + 2_000
            }),
            "no match in {from}..{to}: {matches:?}"
        );
    }
}
