//! Keyframe extraction over the simulator's real clips (`scripts/make-clips`), compared with
//! `ffprobe`, plus damaged, foreign and streamed inputs.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::sync::mpsc;

use super::clock::Clock;
use super::*;
use crate::downloader::{Event, EventSource, pool::ChunkPool};

fn clip(name: &str) -> PathBuf {
    let path = isapi::sim::default_clips_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/make-clips",
        path.display()
    );
    path
}

/// The tests' `run` keeps every keyframe on the extractor's thread: enough frame buffers
/// for all of them.
fn config(recording: &str) -> ExtractConfig {
    ExtractConfig {
        recording: recording.to_owned(),
        frame_buffers: 10_000,
        ..ExtractConfig::default()
    }
}

/// The keyframes' `pts_time`s as ffprobe decodes them (NaN where it prints N/A: it shows
/// the packet's pts, we fall back to the decoder's best-effort timestamp).
fn ffprobe_keyframes(path: &Path) -> Vec<f64> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-skip_frame",
            "nokey",
        ])
        .args(["-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "ffprobe failed on {}",
        path.display()
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split(',').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| match line {
            "N/A" => f64::NAN,
            seconds => seconds.parse().expect("ffprobe prints seconds"),
        })
        .collect()
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

fn run(
    source: impl ByteSource + 'static,
    config: &ExtractConfig,
) -> (Vec<Keyframe>, Result<Summary, KeyframeError>) {
    let mut keyframes = Vec::new();
    let result = extract(source, config, |keyframe| {
        keyframes.push(keyframe);
        ControlFlow::Continue(())
    });
    (keyframes, result)
}

fn pts_seconds(keyframes: &[Keyframe]) -> Vec<f64> {
    keyframes
        .iter()
        .map(|k| k.pts_seconds().unwrap_or(f64::NAN))
        .collect()
}

fn assert_same_times(ours: &[f64], expected: &[f64]) {
    let close = ours.len() == expected.len()
        && ours
            .iter()
            .zip(expected)
            .all(|(a, b)| b.is_nan() || (a - b).abs() < 1e-5);
    assert!(
        close,
        "keyframe times differ\n  ours:    {ours:?}\n  ffprobe: {expected:?}"
    );
}

fn assert_images(keyframes: &[Keyframe], width: u32, height: u32) {
    for keyframe in keyframes {
        assert_eq!((keyframe.width, keyframe.height), (width, height));
        assert_eq!(keyframe.pixels.len(), (width * height * 3) as usize);
        let first = &keyframe.pixels[..3];
        assert!(
            keyframe.pixels.chunks(3).any(|pixel| pixel != first),
            "keyframe at {:?} is one colour",
            keyframe.time
        );
    }
}

/// The file's bytes sent as pooled chunks over a bounded channel from another thread, as
/// the downloader sends them. For each `n` of `restarts`, the first `n` chunks then a
/// `Restart` come first (a download retried from byte 0); then the whole file and `Done`.
fn event_source(path: &Path, restarts: &[usize]) -> EventSource {
    let bytes = std::fs::read(path).expect("clip readable");
    let restarts = restarts.to_vec();
    let (events, receiver) = mpsc::channel(4);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let pool = ChunkPool::new(16 * 1024, 256 * 1024).expect("pool");
            let started = Event::Started {
                attempt: 1,
                source: crate::downloader::metrics::Source::Device,
                container: isapi::Container::MpegPs,
                content_length: Some(bytes.len() as u64),
            };
            if events.send(started).await.is_err() {
                return;
            }
            let cuts = restarts.iter().map(|&n| Some(n)).chain([None]);
            for (attempt, cut) in (2..).zip(cuts) {
                let pieces = bytes.chunks(pool.chunk_size());
                for piece in pieces.take(cut.unwrap_or(usize::MAX)) {
                    let mut chunk = pool.acquire().await;
                    chunk.buffer_mut()[..piece.len()].copy_from_slice(piece);
                    chunk.set_len(piece.len());
                    if events.send(Event::Data(chunk)).await.is_err() {
                        return;
                    }
                }
                if cut.is_some() {
                    let restart = Event::Restart {
                        attempt,
                        reason: "test".to_owned(),
                    };
                    if events.send(restart).await.is_err() {
                        return;
                    }
                }
            }
            let done = Event::Done {
                bytes: bytes.len() as u64,
            };
            let _ = events.send(done).await;
        });
    });
    EventSource::new(receiver)
}

fn check_clip_file(name: &str) {
    let path = clip(name);
    let expected = ffprobe_keyframes(&path);
    assert!(expected.len() >= 2, "{name}: ffprobe found {expected:?}");
    let file = std::fs::File::open(&path).expect("clip opens");
    let (keyframes, result) = run(file, &config(name));
    let summary = result.expect("a clean clip decodes");
    assert_same_times(&pts_seconds(&keyframes), &expected);
    assert_images(&keyframes, 640, 360);
    assert_eq!(summary.keyframes, keyframes.len() as u64);
    assert!(summary.packets_skipped > summary.keyframes, "{summary:?}");
    // A file is seekable: FFmpeg may read its end for the duration, then come back.
    assert!(summary.bytes_read >= std::fs::metadata(&path).expect("size").len());
    assert_eq!(&*keyframes[0].recording, name);
    assert_eq!(keyframes[0].time, Duration::ZERO);
    assert!(keyframes.windows(2).all(|w| w[0].time < w[1].time));
}

#[test]
fn h264_ps_file_matches_ffprobe() {
    check_clip_file("h264.ps");
}

#[test]
fn h265_ps_file_matches_ffprobe() {
    check_clip_file("h265.ps");
}

#[test]
fn h264_mp4_file_matches_ffprobe() {
    check_clip_file("h264.mp4");
}

#[test]
fn chunk_stream_matches_ffprobe() {
    for name in ["h264.ps", "h265.ps"] {
        let path = clip(name);
        let (keyframes, result) = run(event_source(&path, &[]), &config(name));
        let summary = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_times(&pts_seconds(&keyframes), &ffprobe_keyframes(&path));
        assert_images(&keyframes, 640, 360);
        assert_eq!(
            summary.bytes_read,
            std::fs::metadata(&path).expect("size").len()
        );
    }
}

#[test]
fn requested_size_and_wall_clock() {
    let start: jiff::Timestamp = "2025-01-02T03:04:05Z".parse().expect("timestamp");
    let config = ExtractConfig {
        width: 320,
        height: 180,
        recording: "small".to_owned(),
        start: Some(start),
        ..config("small")
    };
    let file = std::fs::File::open(clip("h264.ps")).expect("clip opens");
    let (keyframes, result) = run(file, &config);
    result.expect("decodes");
    assert_images(&keyframes, 320, 180);
    for keyframe in &keyframes {
        let expected = start.checked_add(keyframe.time).expect("in range");
        assert_eq!(keyframe.wall_clock, Some(expected));
    }
    // GOP of 50 frames at 25 fps: keyframes 2 s apart.
    assert_eq!(keyframes[1].time, Duration::from_secs(2));
}

#[test]
fn faststart_mp4_streams_and_moov_at_end_needs_the_file() {
    let faststart = clip("h264.mp4");
    let (keyframes, result) = run(event_source(&faststart, &[]), &config("fast"));
    result.expect("moov first: a stream is enough");
    assert_same_times(&pts_seconds(&keyframes), &ffprobe_keyframes(&faststart));

    let dir = tempfile::tempdir().expect("temp dir");
    let at_end = dir.path().join("moov-at-end.mp4");
    let input = faststart.to_str().expect("utf-8 path");
    ffmpeg(&[
        "-i",
        input,
        "-c",
        "copy",
        "-f",
        "mp4",
        at_end.to_str().expect("utf-8"),
    ]);
    let (keyframes, result) = run(event_source(&at_end, &[]), &config("late"));
    match result {
        Err(KeyframeError::NeedsFile { recording, offset }) => {
            assert_eq!(&*recording, "late");
            assert!(offset > 0);
        }
        other => panic!("expected NeedsFile, got {other:?}"),
    }
    assert!(keyframes.is_empty());

    let file = std::fs::File::open(&at_end).expect("opens");
    let (keyframes, result) = run(file, &config("late"));
    result.expect("a file can seek to the index");
    assert_same_times(&pts_seconds(&keyframes), &ffprobe_keyframes(&at_end));
}

#[test]
fn empty_input() {
    let (keyframes, result) = run(Cursor::new(Vec::new()), &config("empty"));
    assert!(keyframes.is_empty());
    assert!(
        matches!(&result, Err(KeyframeError::Empty { recording }) if &**recording == "empty"),
        "{result:?}"
    );
}

#[test]
fn garbage_input() {
    let mut rng = StdRng::seed_from_u64(4);
    for len in [1, 100, 4096, 300_000] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let (keyframes, result) = run(Cursor::new(bytes), &config("garbage"));
        assert!(
            keyframes.is_empty(),
            "{len} bytes of garbage gave keyframes"
        );
        let error = result.expect_err("garbage is not a recording");
        assert!(
            matches!(
                error,
                KeyframeError::Unrecognised { .. }
                    | KeyframeError::NoVideo { .. }
                    | KeyframeError::UnsupportedCodec { .. }
                    | KeyframeError::Corrupt { .. }
            ),
            "{len} bytes: {error:?}"
        );
        assert_eq!(error.recording(), "garbage");
    }
}

#[test]
fn audio_only_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let audio = dir.path().join("sine.ts");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=duration=1",
        "-c:a",
        "mp2",
        "-f",
        "mpegts",
        audio.to_str().expect("utf-8"),
    ]);
    let file = std::fs::File::open(&audio).expect("opens");
    let (keyframes, result) = run(file, &config("audio"));
    assert!(keyframes.is_empty());
    assert!(
        matches!(result, Err(KeyframeError::NoVideo { .. })),
        "{result:?}"
    );
}

#[test]
fn truncated_clip_keeps_the_keyframes_before_the_cut() {
    for name in ["h264.ps", "h265.ps"] {
        let path = clip(name);
        let expected = ffprobe_keyframes(&path);
        let mut bytes = std::fs::read(&path).expect("readable");
        bytes.truncate(bytes.len() / 2);
        let (keyframes, result) = run(Cursor::new(bytes), &config(name));
        let times = pts_seconds(&keyframes);
        assert!(times.len() >= 2, "{name}: only {times:?} before the cut");
        assert!(
            times.len() < expected.len(),
            "{name}: {times:?} from half a clip"
        );
        assert_same_times(&times, &expected[..times.len()]);
        if let Err(error) = result {
            assert!(
                matches!(error, KeyframeError::Corrupt { .. }),
                "{name}: {error:?}"
            );
        }
    }
}

#[test]
fn a_restart_starts_over_without_repeating_keyframes() {
    for name in ["h264.ps", "h265.ps"] {
        let path = clip(name);
        let expected = ffprobe_keyframes(&path);
        let len = std::fs::metadata(&path).expect("size").len();
        let chunks = len.div_ceil(16 * 1024) as usize;
        let (keyframes, result) = run(event_source(&path, &[chunks / 2]), &config(name));
        let summary = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_times(&pts_seconds(&keyframes), &expected);
        assert_images(&keyframes, 640, 360);
        assert!(keyframes.windows(2).all(|w| w[0].time < w[1].time));
        assert_eq!(summary.restarts, 1, "{name}: {summary:?}");
        assert_eq!(summary.keyframes, expected.len() as u64);
        assert_eq!(summary.bytes_read, (chunks / 2 * 16 * 1024) as u64 + len);
    }
}

#[test]
fn restarts_while_probing_and_twice_in_a_row() {
    let path = clip("h264.ps");
    let (keyframes, result) = run(event_source(&path, &[0, 2, 30, 10]), &config("again"));
    let summary = result.expect("follows every restart");
    assert_same_times(&pts_seconds(&keyframes), &ffprobe_keyframes(&path));
    assert_eq!(summary.restarts, 4);
}

#[test]
fn too_many_restarts_is_an_error() {
    let restarts = [2; MAX_RESTARTS as usize + 1];
    let (keyframes, result) = run(
        event_source(&clip("h264.ps"), &restarts),
        &config("restarted"),
    );
    assert!(keyframes.is_empty());
    match result {
        Err(KeyframeError::Restarted { recording, offset }) => {
            assert_eq!(&*recording, "restarted");
            assert_eq!(offset, 2 * 16 * 1024);
        }
        other => panic!("expected Restarted, got {other:?}"),
    }
}

/// A consumer holding every frame buffer stops the extraction until it drops one, and the
/// same buffers serve every keyframe.
#[test]
fn held_frame_buffers_hold_back_the_extraction() {
    let config = ExtractConfig {
        frame_buffers: 2,
        ..config("held")
    };
    let handed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (sender, keyframes) = std::sync::mpsc::channel();
    let extractor = {
        let handed = handed.clone();
        let file = std::fs::File::open(clip("h264.ps")).expect("opens");
        std::thread::spawn(move || {
            extract(file, &config, |keyframe| {
                handed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match sender.send(keyframe) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                }
            })
        })
    };
    let first = keyframes.recv().expect("first keyframe");
    let second = keyframes.recv().expect("second keyframe");
    let pool = first.pixels.pool().clone();
    // The extractor decodes the third keyframe and waits for a buffer.
    while pool.waiting() == 0 {
        assert!(
            !extractor.is_finished(),
            "the extractor ended while both were held"
        );
        std::thread::yield_now();
    }
    assert_eq!(handed.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(keyframes.try_recv().is_err(), "a third keyframe came");
    assert_eq!(pool.allocated(), 2);

    drop(first);
    let third = keyframes
        .recv()
        .expect("third keyframe after one was dropped");
    assert!(third.time > second.time);
    drop((second, third));
    // The rest, each dropped at once.
    let mut rest = 0;
    for keyframe in keyframes.iter() {
        assert_eq!(keyframe.pixels.len(), 640 * 360 * 3);
        rest += 1;
    }
    let summary = extractor.join().expect("no panic").expect("decodes");
    assert!(summary.keyframes >= 5, "{summary:?}");
    assert_eq!(summary.keyframes, 3 + rest);
    assert_eq!(pool.allocated(), 2, "buffers are reused");
}

#[test]
fn no_frame_buffers_is_refused() {
    let config = ExtractConfig {
        frame_buffers: 0,
        ..config("none")
    };
    let (_, result) = run(Cursor::new(vec![0u8; 10]), &config);
    assert!(
        matches!(result, Err(KeyframeError::InvalidConfig { .. })),
        "{result:?}"
    );
}

#[test]
fn channel_closed_before_done_is_an_io_error() {
    let (events, receiver) = mpsc::channel(1);
    drop(events);
    let (_, result) = run(EventSource::new(receiver), &config("gone"));
    assert!(
        matches!(result, Err(KeyframeError::Io { .. })),
        "{result:?}"
    );
}

#[test]
fn break_stops_the_extraction() {
    let file = std::fs::File::open(clip("h264.ps")).expect("opens");
    let mut seen = 0;
    let summary = extract(file, &config("one"), |_| {
        seen += 1;
        ControlFlow::Break(())
    })
    .expect("decodes");
    assert_eq!((seen, summary.keyframes), (1, 1));
}

#[test]
fn invalid_size_is_refused() {
    let config = ExtractConfig {
        width: 0,
        ..config("bad")
    };
    let (_, result) = run(Cursor::new(vec![0u8; 10]), &config);
    assert!(
        matches!(result, Err(KeyframeError::InvalidConfig { .. })),
        "{result:?}"
    );
}

/// Flips bytes of real clips at random offsets: every case ends with keyframes of the right
/// size and `Ok` or a typed error, never a panic or hang. `DIPPER_MUTATIONS` sets the
/// number of cases (default 300).
#[test]
fn mutated_clips_never_panic() {
    let cases: usize = std::env::var("DIPPER_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let clips = [
        std::fs::read(clip("h264.ps")).expect("readable"),
        std::fs::read(clip("h265.ps")).expect("readable"),
        std::fs::read(clip("h264.mp4")).expect("readable"),
    ];
    let config = ExtractConfig {
        width: 64,
        height: 36,
        ..config("mutated")
    };
    let mut rng = StdRng::seed_from_u64(0xd199e4);
    let mut decoded = 0;
    for case in 0..cases {
        let mut bytes = clips[case % clips.len()].clone();
        let flips = rng.random_range(1..=16);
        for _ in 0..flips {
            let at = rng.random_range(0..bytes.len());
            bytes[at] ^= rng.random_range(1..=255u8);
        }
        let (keyframes, result) = run(Cursor::new(bytes), &config);
        assert_images_sized(&keyframes, 64, 36);
        decoded += keyframes.len();
        if let Err(error) = result {
            assert_eq!(error.recording(), "mutated", "case {case}");
        }
    }
    // A few flipped bytes leave most keyframes decodable.
    assert!(
        cases == 0 || decoded >= cases,
        "{decoded} keyframes from {cases} damaged clips"
    );
}

fn assert_images_sized(keyframes: &[Keyframe], width: u32, height: u32) {
    for keyframe in keyframes {
        assert_eq!((keyframe.width, keyframe.height), (width, height));
        assert_eq!(keyframe.pixels.len(), (width * height * 3) as usize);
    }
}

#[test]
fn clock_counts_through_discontinuities() {
    // 90 kHz, 25 fps: one frame is 40 ms.
    let mut clock = Clock::new((1, 90_000), (25, 1));
    let times: Vec<Duration> = [
        Some(90_000),
        Some(270_000),               // +2 s
        Some(90_000),                // backwards: one interval (2 s) on, a new anchor
        Some(270_000),               // +2 s from the new anchor
        Some(270_000 + 90_000 * 60), // +60 s: one interval on
        None,                        // missing: one interval on
        Some(0),                     // before the anchor: one interval on, a new anchor
        Some(45_000),                // +0.5 s: the interval is now 0.5 s
        None,                        // missing: +0.5 s
        Some(135_000),               // +1 s from the anchor (not from the missing one)
    ]
    .into_iter()
    .map(|pts| clock.next(pts))
    .collect();
    let ms = |ms| Duration::from_millis(ms);
    assert_eq!(
        times,
        [
            ms(0),
            ms(2000),
            ms(4000),
            ms(6000),
            ms(8000),
            ms(10000),
            ms(12000),
            ms(12500),
            ms(13000),
            ms(13500)
        ]
    );
}

#[test]
fn mpeg_ts_streams_match_ffprobe() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["h264.ps", "h265.ps"] {
        let ts = dir.path().join(format!("{name}.ts"));
        let input = clip(name);
        ffmpeg(&[
            "-i",
            input.to_str().expect("utf-8"),
            "-c",
            "copy",
            "-f",
            "mpegts",
            ts.to_str().expect("utf-8"),
        ]);
        let (keyframes, result) = run(event_source(&ts, &[]), &config(name));
        result.unwrap_or_else(|e| panic!("{name} in TS: {e}"));
        assert_same_times(&pts_seconds(&keyframes), &ffprobe_keyframes(&ts));
        assert_images(&keyframes, 640, 360);
    }
}

/// The 40-byte `IMKH` header Hikvision devices put before the program stream of a download
/// (magic, then version, system format and codec fields; hand-written, not a capture).
const IMKH_HEADER: [u8; 40] = [
    0x49, 0x4D, 0x4B, 0x48, 0x01, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x10, 0x71, 0x01, 0x10,
    0x40, 0x1F, 0x00, 0x00, 0x00, 0xFA, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn a_hikvision_imkh_header_before_the_program_stream_is_read_past() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["h264.ps", "h265.ps"] {
        let path = clip(name);
        let mut bytes = IMKH_HEADER.to_vec();
        bytes.extend(std::fs::read(&path).expect("clip readable"));
        let with_header = dir.path().join(name);
        std::fs::write(&with_header, bytes).expect("write the temp clip");
        // As a download streams it (not seekable).
        let (keyframes, result) = run(event_source(&with_header, &[]), &config(name));
        result.unwrap_or_else(|e| panic!("{name} after IMKH: {e}"));
        assert_same_times(&pts_seconds(&keyframes), &ffprobe_keyframes(&path));
    }
}

#[test]
fn keyframe_times_stay_on_the_gop_grid_when_some_timestamps_are_missing() {
    // h265.ps has a keyframe without a timestamp in every 10 s; six of them back to back
    // (timestamps continued, as the simulator and cameras send a long recording).
    let dir = tempfile::tempdir().expect("temp dir");
    let long = dir.path().join("h265-60s.ps");
    let input = clip("h265.ps");
    ffmpeg(&[
        "-stream_loop",
        "5",
        "-i",
        input.to_str().expect("utf-8"),
        "-c",
        "copy",
        "-f",
        "svcd",
        long.to_str().expect("utf-8"),
    ]);
    let (keyframes, result) = run(event_source(&long, &[]), &config("h265-60s"));
    result.expect("decodes");
    assert_eq!(keyframes.len(), 30, "a keyframe every 2 s for 60 s");
    for pair in keyframes.windows(2) {
        let step = pair[1].time - pair[0].time;
        assert!(
            step.abs_diff(Duration::from_secs(2)) < Duration::from_millis(50),
            "keyframes {:?} and {:?} are not one GOP apart",
            pair[0].time,
            pair[1].time
        );
    }
}
