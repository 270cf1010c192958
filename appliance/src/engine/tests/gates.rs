//! The motion gates in the engine, on the scene clips (a still street, people walking
//! through): a gated task finds the person on nearly every recording while most keyframes
//! are skipped, counts each stage, and what the camera's gates learnt outlives the engine.

use isapi::sim::{DeviceConfig, RecordingClip};
use pipeline::motion::GateConfig;

use super::{PASSWORD, USER, add_camera, cached, engine_with, search_for};
use crate::{config::SearchConfig, engine::Engine};

/// Recordings of the scene clip at the end of the camera's day.
const RECORDINGS: u64 = 6;

/// A camera whose last recordings are the day street clip (obama2 at 8.6-14.8 s, biden at
/// 37.3-42.5 s of each minute).
fn street_camera() -> DeviceConfig {
    let mut camera = DeviceConfig::camera(USER, PASSWORD);
    camera.days = 1;
    camera.recording_minutes = 1;
    camera.end = Some(jiff::Timestamp::now());
    camera.recording_clips = (1440 - RECORDINGS..1440)
        .map(|index| RecordingClip {
            track: 101,
            index,
            path: cached("clips/scenes").join("street_day_h264.ps"),
        })
        .collect();
    camera
}

/// Decoding at the box's default 1280x720, where the clips' small faces are found.
fn gated_engine(dir: &std::path::Path) -> Engine {
    let config = SearchConfig {
        workers: 2,
        ..SearchConfig::default()
    };
    engine_with(dir, config, Some(GateConfig::default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gated_search_finds_the_person_while_most_keyframes_are_skipped() {
    let (sim, dir) = super::simulated(vec![street_camera()]).await;
    let engine = gated_engine(dir.path());
    let camera = add_camera(&engine, &sim).await;
    let (start, _) = sim
        .recording_span(0, 101, 1440 - RECORDINGS as usize)
        .expect("first");
    let (_, stop) = sim.recording_span(0, 101, 1439).expect("last");
    let (id, done) = search_for(&engine, camera, "obama.jpg", (start, stop)).await;
    let counts = done.task.counts;
    assert_eq!(counts.recordings_done, RECORDINGS, "{done:?}");
    assert_eq!(
        counts.keyframes,
        30 * RECORDINGS,
        "every keyframe counted: {counts:?}"
    );
    assert!(
        counts.keyframes_detected <= counts.keyframes_decoded
            && counts.keyframes_decoded <= counts.keyframes,
        "{counts:?}"
    );
    // The street is empty four fifths of the time.
    assert!(
        counts.keyframes_detected * 2 < counts.keyframes,
        "most keyframes skipped: {counts:?}"
    );
    // obama2 walks through every recording; the first one teaches the gates the street.
    let matches = engine.matches(&id, 0, 1000).await.expect("matches");
    let recordings: std::collections::HashSet<i64> =
        matches.iter().map(|m| m.recording_id).collect();
    assert!(
        recordings.len() as u64 >= RECORDINGS - 1,
        "found on {} of {RECORDINGS} recordings: {counts:?}",
        recordings.len()
    );
    for m in &matches {
        let second = (m.time_ms - start.as_millisecond()).rem_euclid(60_000) as f64 / 1000.0;
        assert!(
            (8.0..=16.0).contains(&second),
            "a match where obama2 is not: {second} s into its minute"
        );
    }

    let view = engine
        .gate_view(camera)
        .await
        .expect("view")
        .expect("gated");
    assert_eq!(view.keyframes_total, counts.keyframes, "{view:?}");
    assert_eq!(
        view.keyframes_detected, counts.keyframes_detected,
        "{view:?}"
    );
    // This clip's P-frame sizes barely show the walkers (a fixed bitrate spent on sensor
    // noise): the pixel gate's audits find them and the GOP gate falls back, saying so.
    assert!(
        view.state == "gating" || view.fallback == Some("fallback_uninformative"),
        "{view:?}"
    );
    engine.shutdown(std::time::Duration::from_secs(10)).await;
    drop(engine);

    // A new engine on the same data goes on from what the camera's gates learnt.
    let engine = gated_engine(dir.path());
    let again = engine
        .gate_view(camera)
        .await
        .expect("view")
        .expect("gated");
    assert_eq!(
        (
            again.state,
            again.fallback,
            again.keyframes_total,
            again.keyframes_detected
        ),
        (
            view.state,
            view.fallback,
            view.keyframes_total,
            view.keyframes_detected
        )
    );
    engine.shutdown(std::time::Duration::from_secs(5)).await;
}
