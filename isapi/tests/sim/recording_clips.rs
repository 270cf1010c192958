//! Recordings made from clips of their own (`DeviceConfig::recording_clips`, the face clips
//! of `scripts/make-face-clips`): downloaded with the crate's client they are that clip with
//! the repetition's mark, searched they announce that size, their checksums agree, their
//! real span is what search says, and a clip the simulator cannot use stops the start.

use futures::TryStreamExt;
use isapi::{
    Client, ClientConfig, Device, Recording, SearchQuery,
    sim::{Codec, Container, DeviceConfig, RecordingClip, SimConfig, Simulator, default_clips_dir},
};
use jiff::SignedDuration;
use reqwest::StatusCode;

use crate::common::{PASSWORD, USER, camera, end, start};

/// One-minute recordings of an NVR with an H.264 channel (101) and an H.265 one (201).
fn nvr() -> DeviceConfig {
    let mut config = DeviceConfig::nvr(USER, PASSWORD, 2);
    config.codec = Codec::Mixed;
    config.days = 1;
    config.recording_minutes = 1;
    config.end = Some(end());
    config
}

fn own_clip(track: u32, index: u64, path: &str) -> RecordingClip {
    RecordingClip {
        track,
        index,
        path: path.into(),
    }
}

fn clip_bytes(path: &str) -> Vec<u8> {
    let path = default_clips_dir().join(path);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/fetch-models, then scripts/make-clips",
            path.display()
        )
    })
}

fn client_device(sim: &Simulator) -> Device {
    Client::new(ClientConfig::default())
        .unwrap_or_else(|e| panic!("client: {e}"))
        .device(&sim.devices()[0].base_url(), USER, PASSWORD)
        .unwrap_or_else(|e| panic!("device: {e}"))
}

/// Track `track`'s recordings, oldest first, found with the crate's client.
async fn recordings(device: &Device, track: u32) -> Vec<Recording> {
    device
        .search(SearchQuery {
            track,
            start: end() - SignedDuration::from_hours(24),
            end: end(),
        })
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("search of track {track}: {e}"))
}

async fn download(device: &Device, uri: &str) -> Vec<u8> {
    let mut download = device
        .download(uri)
        .await
        .unwrap_or_else(|e| panic!("download of {uri}: {e}"));
    let mut body = Vec::new();
    download
        .read_to_end(&mut body)
        .await
        .unwrap_or_else(|e| panic!("download of {uri}: {e}"));
    body
}

/// The body without its repetition's mark (the padding packet naming the recording).
fn without_mark(body: &[u8]) -> Vec<u8> {
    let text = body
        .windows(18)
        .position(|w| w == b"dipper-sim device=")
        .unwrap_or_else(|| panic!("no mark in the body"));
    // `00 00 01 BE`, two length bytes, then the text; 256 bytes in all.
    let mark = text - 6;
    assert_eq!(&body[mark..mark + 4], [0, 0, 1, 0xBE], "padding packet");
    [&body[..mark], &body[mark + 256..]].concat()
}

#[tokio::test]
async fn recordings_with_their_own_clip_are_that_clip() {
    let mut config = nvr();
    config.recording_clips = vec![
        own_clip(101, 5, "faces/cam1_h264.ps"),
        own_clip(201, 7, "faces/cam2_h265.ps"),
        // The same file again: loaded once, another recording.
        own_clip(101, 9, "faces/cam1_h264.ps"),
    ];
    let sim = start(vec![config]).await;
    let device = client_device(&sim);

    for (track, index, path, ordinary) in [
        (101, 5, "faces/cam1_h264.ps", 4),
        (201, 7, "faces/cam2_h265.ps", 6),
        (101, 9, "faces/cam1_h264.ps", 10),
    ] {
        let found = recordings(&device, track).await;
        assert_eq!(found.len(), 24 * 60, "track {track}");
        let own = &found[index];
        let other = &found[ordinary];
        let clip = clip_bytes(path);

        // Search announces the clip's size: one repetition (60 s in a minute) and its mark.
        assert_eq!(
            own.size,
            Some(clip.len() as u64 + 256),
            "{}",
            own.playback_uri
        );
        assert_ne!(
            own.size, other.size,
            "an ordinary recording is another size"
        );
        assert_eq!(
            own.codec.as_deref(),
            Some(if track == 101 { "H.264" } else { "H.265" })
        );
        assert_eq!(
            Some(own.playback_uri.clone()),
            sim.playback_uri(0, track, index)
        );

        let body = download(&device, &own.playback_uri).await;
        let checksum = sim
            .checksum(0, &own.playback_uri)
            .unwrap_or_else(|| panic!("checksum of {}", own.playback_uri));
        assert_eq!(
            (body.len() as u64, crc32fast::hash(&body)),
            (checksum.bytes, checksum.crc32),
            "{}",
            own.playback_uri
        );
        assert!(without_mark(&body) == clip, "{path} with a mark inserted");
        let ordinary_body = download(&device, &other.playback_uri).await;
        assert_ne!(
            body[..512],
            ordinary_body[..512],
            "first bytes of {} and {}",
            own.playback_uri,
            other.playback_uri
        );

        // The endpoint for other processes says the same.
        let encoded = percent_encoding::utf8_percent_encode(
            &own.playback_uri,
            percent_encoding::NON_ALPHANUMERIC,
        );
        let base = sim.devices()[0].base_url();
        let response = reqwest::get(format!("{base}/sim/checksum?playbackURI={encoded}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.text().await.unwrap_or_default(),
            format!(
                r#"{{"bytes":{},"crc32":{}}}"#,
                checksum.bytes, checksum.crc32
            )
        );
    }
}

#[tokio::test]
async fn a_recording_span_is_the_searched_start_and_end() {
    let mut config = camera();
    config.recording_clips = vec![own_clip(101, 100, "faces/cam1_h264.ps")];
    let sim = start(vec![config]).await;
    let found = recordings(&client_device(&sim), 101).await;
    for index in [0, 99, 100, 101, found.len() - 1] {
        let recording = &found[index];
        assert_eq!(
            sim.recording_span(0, 101, index),
            Some((recording.start, recording.end)),
            "{}",
            recording.playback_uri
        );
    }
    // 2026-11-24 12:00 device time (UTC+8) ends the day; recording 100 starts 1 h 40 min in.
    let (start, _) = sim
        .recording_span(0, 101, 100)
        .unwrap_or_else(|| panic!("recording 100"));
    assert_eq!(start.to_string(), "2026-11-23T05:40:00Z");
    assert_eq!(
        sim.recording_span(0, 101, found.len()),
        None,
        "past the end"
    );
    assert_eq!(sim.recording_span(0, 201, 0), None, "no such track");
}

/// A simulator with one camera configured by `change` does not start, and says `expected`.
async fn check_refused(change: impl FnOnce(&mut DeviceConfig), expected: &[&str]) {
    let mut config = camera();
    change(&mut config);
    let error = match Simulator::start(SimConfig::new(vec![config])).await {
        Ok(_) => panic!("started, but should have said {expected:?}"),
        Err(e) => e.to_string(),
    };
    for part in expected {
        assert!(
            error.contains(part),
            "expected {part:?} in the error, got: {error}"
        );
    }
}

#[tokio::test]
async fn unusable_recording_clips_stop_the_start() {
    let missing = default_clips_dir().join("faces/no-such-clip.ps");
    let missing = missing.display().to_string();
    check_refused(
        |c| c.recording_clips = vec![own_clip(101, 3, "faces/no-such-clip.ps")],
        &[
            "device 0 (DS-2CD2345-SIM0000)",
            &missing,
            "cannot be read",
            "track 101 recording 3",
        ],
    )
    .await;
    check_refused(
        |c| c.recording_clips = vec![own_clip(101, 3, "h264.mp4")],
        &["device 0", "h264.mp4", "not usable", "pack header"],
    )
    .await;
    check_refused(
        |c| c.recording_clips = vec![own_clip(101, 3, "faces/cam2_h265.ps")],
        &[
            "device 0",
            "cam2_h265.ps is H.265 but track 101 records H.264",
        ],
    )
    .await;
    check_refused(
        |c| {
            c.container = Container::Mp4;
            c.recording_clips = vec![own_clip(101, 3, "faces/cam1_h264.ps")];
        },
        &["device 0", "need the PS container", "cam1_h264.ps"],
    )
    .await;
    check_refused(
        |c| c.recording_clips = vec![own_clip(201, 3, "faces/cam1_h264.ps")],
        &["device 0", "cam1_h264.ps", "there is no track 201"],
    )
    .await;
    check_refused(
        |c| c.recording_clips = vec![own_clip(101, 24 * 60, "faces/cam1_h264.ps")],
        &["device 0", "cam1_h264.ps", "recordings 0..1440, not 1440"],
    )
    .await;
    check_refused(
        |c| {
            c.recording_clips = vec![
                own_clip(101, 3, "faces/cam1_h264.ps"),
                own_clip(101, 3, "faces/empty_h264.ps"),
            ]
        },
        &[
            "device 0",
            "empty_h264.ps",
            "recording 3 already has a clip",
        ],
    )
    .await;
}
