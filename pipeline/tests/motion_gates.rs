//! The motion gates inside the real extractor, on real H.264/H.265 streams: moving
//! `testsrc2` footage goes through, and each kind of stream the GOP gate cannot read (B-frames,
//! no keyframe for long, variable GOP, a bitrate padded to a constant) falls back to
//! decoding every keyframe with its reason. The scene footage (people in a still street)
//! is in `scene_clips.rs`. The small clips are made here with the ffmpeg CLI.

use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;

use pipeline::keyframes::{ExtractConfig, Summary, extract};
use pipeline::motion::{
    DecodeReason, DetectReason, FallbackReason, GateConfig, GateStatus, MotionGates, PixelVerdict,
};

/// Extracts `path` through `gates` at 320x180; returns why each keyframe was decoded,
/// the pixel verdicts and the summary.
fn gated(
    path: &Path,
    gates: &MotionGates,
    start_s: i64,
) -> (Vec<DecodeReason>, Vec<PixelVerdict>, Summary) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let config = ExtractConfig {
        width: 320,
        height: 180,
        recording: path.display().to_string(),
        start: Some(jiff::Timestamp::from_second(1_700_000_000 + start_s).expect("time")),
        gates: Some(gates.clone()),
        ..ExtractConfig::default()
    };
    let (mut reasons, mut verdicts) = (Vec::new(), Vec::new());
    let summary = extract(file, &config, |keyframe| {
        reasons.push(
            keyframe
                .decoded_for
                .expect("a gated keyframe has its reason"),
        );
        verdicts.push(gates.judge_keyframe(&keyframe));
        ControlFlow::Continue(())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (reasons, verdicts, summary)
}

#[test]
fn moving_test_footage_goes_through_both_gates() {
    for clip in ["h264.ps", "h265.ps"] {
        let path = isapi::sim::default_clips_dir().join(clip);
        let gates = MotionGates::new(GateConfig::default());
        // Three recordings of the camera in a row; the last is measured.
        for i in 0..2 {
            gated(&path, &gates, 10 * i);
        }
        let (reasons, verdicts, summary) = gated(&path, &gates, 20);
        let total = summary.gates.keyframes_total;
        assert!(total >= 4, "{clip}: {summary:?}");
        assert_eq!(summary.gates.keyframes_decoded, reasons.len() as u64);
        let detected = verdicts.iter().filter(|v| v.detects()).count() as u64;
        // Everything moves: at most one keyframe in five is held back, by either gate.
        assert!(
            detected * 5 >= total * 4,
            "{clip}: {detected} of {total} detected: {reasons:?} {verdicts:?}"
        );
    }
}

/// Makes a 320x180 H.264 clip of `seconds` with `ffmpeg` and the given encoder options
/// (a still, noisy grey scene unless `source` says otherwise) into `dir`.
fn make_clip(
    dir: &Path,
    name: &str,
    source: &str,
    seconds: u32,
    options: &[&str],
) -> std::path::PathBuf {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", source])
        .args([
            "-t",
            &seconds.to_string(),
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
        ])
        .args(["-preset", "ultrafast"])
        .args(options)
        .args(["-f", "mpegts"])
        .arg(&path)
        .status()
        .unwrap_or_else(|e| panic!("ffmpeg (Debian's ffmpeg package): {e}"));
    assert!(status.success(), "ffmpeg made no {name}");
    path
}

const STILL: &str = "color=gray:size=320x180:rate=25,noise=alls=12:allf=t";

#[test]
fn streams_the_gop_gate_cannot_read_fall_back_with_their_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let every_2s = ["-g", "50", "-keyint_min", "50", "-sc_threshold", "0"];
    let cases: Vec<(std::path::PathBuf, FallbackReason)> = vec![
        (
            make_clip(
                dir.path(),
                "b-frames.ts",
                STILL,
                30,
                &[&every_2s[..], &["-bf", "2"]].concat(),
            ),
            FallbackReason::BFrames,
        ),
        (
            make_clip(
                dir.path(),
                "long-gop.ts",
                STILL,
                60,
                &[
                    "-g",
                    "750",
                    "-keyint_min",
                    "750",
                    "-sc_threshold",
                    "0",
                    "-bf",
                    "0",
                ],
            ),
            FallbackReason::NoKeyframe,
        ),
        (
            make_clip(
                dir.path(),
                "variable-gop.ts",
                STILL,
                40,
                &[
                    "-g",
                    "1000",
                    "-sc_threshold",
                    "0",
                    "-bf",
                    "0",
                    "-force_key_frames",
                    "0,1,4,5,9,10,16,17,18,24,25,30,31,36,37",
                ],
            ),
            FallbackReason::VariableGop,
        ),
        (
            make_clip(
                dir.path(),
                "padded-cbr.ts",
                STILL,
                30,
                &[
                    &every_2s[..],
                    &[
                        "-bf",
                        "0",
                        "-x264-params",
                        "nal-hrd=cbr",
                        "-b:v",
                        "400k",
                        "-minrate",
                        "400k",
                        "-maxrate",
                        "400k",
                        "-bufsize",
                        "40k",
                    ],
                ]
                .concat(),
            ),
            FallbackReason::Uninformative,
        ),
    ];
    for (path, reason) in cases {
        let gates = MotionGates::new(GateConfig::default());
        let (reasons, _, summary) = gated(&path, &gates, 0);
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            gates.status(),
            GateStatus::Fallback(reason),
            "{name}: {reasons:?}"
        );
        assert!(
            gates
                .status()
                .describe()
                .contains("decoding every keyframe")
        );
        // Every keyframe decoded; from the first the cause showed, for that reason.
        assert_eq!(
            summary.gates.keyframes_decoded, summary.gates.keyframes_total,
            "{name}: {summary:?}"
        );
        let fallback = DecodeReason::Fallback(reason);
        let first = reasons.iter().position(|r| *r == fallback);
        let first = first.unwrap_or_else(|| panic!("{name}: never {fallback:?}: {reasons:?}"));
        assert!(
            reasons[first..].iter().all(|r| *r == fallback) && reasons.len() - first >= 2,
            "{name}: {reasons:?}"
        );
        assert_eq!(
            summary.gates.decodes(fallback),
            (reasons.len() - first) as u64
        );
    }
}

#[test]
fn a_still_scene_is_mostly_skipped_and_decoded_at_least_every_max_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = make_clip(
        dir.path(),
        "still.ts",
        STILL,
        120,
        &[
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-b:v",
            "300k",
        ],
    );
    let config = GateConfig {
        max_interval: std::time::Duration::from_secs(30),
        ..GateConfig::default()
    };
    let gates = MotionGates::new(config);
    let (reasons, verdicts, summary) = gated(&path, &gates, 0);
    let total = summary.gates.keyframes_total;
    assert_eq!(total, 60, "{summary:?}");
    assert!(
        summary.gates.keyframes_decoded * 2 <= total,
        "{summary:?}: {reasons:?} {verdicts:?}"
    );
    // The pixel gate sends the first keyframes whole while it learns the background, then
    // one at least every 30 s (the max interval), little else.
    let detected = verdicts.iter().filter(|v| v.detects()).count();
    assert!(detected * 4 <= total as usize, "{verdicts:?}");
    let whole = verdicts
        .iter()
        .filter(|v| **v == PixelVerdict::Whole(DetectReason::MaxInterval))
        .count();
    assert!(whole >= 3, "{verdicts:?}");
    assert_eq!(gates.status(), GateStatus::Gating);
}
