//! `dipper-bench gates`: the keyframe extractor with the motion gates on and off over the
//! same scene clips (`scripts/make-scene-clips`: a still street, people in about 10 % of
//! the time): keyframes in the footage, decoded, sent to the detector, and the footage
//! seconds extracted per wall-clock second each way, on one thread.
//!
//! Each clip is one camera: its gates first see the clip once as the camera's previous
//! recording (the baseline a running box has), then the measured run follows. The gated
//! time includes the pixel gate on every decoded keyframe; neither side runs a detector.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use pipeline::keyframes::{ExtractConfig, extract};
use pipeline::motion::{GateConfig, GateCounters, MotionGates};
use serde::Serialize;

use crate::BoxError;

#[derive(Debug, clap::Args)]
pub(crate) struct GatesArgs {
    /// Folder of scene clips (default: $DIPPER_CLIPS_DIR/scenes, else
    /// <repo>/.cache/clips/scenes; `--long` clips are in `scenes-long`).
    #[arg(long)]
    clips: Option<PathBuf>,
    /// Width of the RGB keyframes (the box's analysis size).
    #[arg(long, default_value_t = 1280)]
    width: u32,
    /// Height of the RGB keyframes.
    #[arg(long, default_value_t = 720)]
    height: u32,
    /// One JSON line on stdout instead of a summary.
    #[arg(long)]
    json: bool,
}

/// The report: names fixed, to compare from run to run.
#[derive(Debug, Serialize)]
struct Report {
    clips: usize,
    footage_seconds: f64,
    keyframes_total: u64,
    keyframes_decoded: u64,
    keyframes_detected: u64,
    regions_detected: u64,
    /// Footage seconds extracted per wall-clock second, gates off and on.
    footage_per_second_ungated: f64,
    footage_per_second_gated: f64,
    /// gated / ungated.
    speed_ratio: f64,
    /// Every count of the measured runs by stage and reason.
    by_reason: Vec<(String, String, u64)>,
}

pub(crate) async fn run(args: GatesArgs) -> Result<(), BoxError> {
    tokio::task::spawn_blocking(move || measure(&args)).await?
}

fn measure(args: &GatesArgs) -> Result<(), BoxError> {
    let dir = args.clips.clone().unwrap_or_else(default_dir);
    let mut clips: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}; run scripts/make-scene-clips", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "ps"))
        .collect();
    clips.sort();
    if clips.is_empty() {
        return Err(format!(
            "{}: no .ps clips; run scripts/make-scene-clips",
            dir.display()
        )
        .into());
    }
    let (mut ungated_s, mut gated_s, mut footage) = (0.0, 0.0, 0.0);
    let mut counters = GateCounters::default();
    for clip in &clips {
        let started = Instant::now();
        let (seconds, _) = extract_clip(clip, args, None)?;
        ungated_s += started.elapsed().as_secs_f64();
        footage += seconds;
        let gates = MotionGates::new(GateConfig::default());
        extract_clip(clip, args, Some((&gates, 0)))?;
        let before = gates.counters();
        let started = Instant::now();
        extract_clip(clip, args, Some((&gates, seconds as i64)))?;
        gated_s += started.elapsed().as_secs_f64();
        counters += gates.counters().since(&before);
        tracing::info!(clip = %clip.display(), status = gates.status().describe(), "gated");
    }
    let report = Report {
        clips: clips.len(),
        footage_seconds: footage,
        keyframes_total: counters.keyframes_total,
        keyframes_decoded: counters.keyframes_decoded,
        keyframes_detected: counters.keyframes_detected,
        regions_detected: counters.regions_detected,
        footage_per_second_ungated: footage / ungated_s,
        footage_per_second_gated: footage / gated_s,
        speed_ratio: ungated_s / gated_s,
        by_reason: counters
            .by_reason()
            .into_iter()
            .map(|(stage, reason, n)| (stage.to_owned(), reason.to_owned(), n))
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} clips, {:.0} s of footage: {} keyframes, {} decoded, {} to the detector; \
             {:.1} footage-s/s gated, {:.1} ungated ({:.2}x)",
            report.clips,
            report.footage_seconds,
            report.keyframes_total,
            report.keyframes_decoded,
            report.keyframes_detected,
            report.footage_per_second_gated,
            report.footage_per_second_ungated,
            report.speed_ratio
        );
    }
    Ok(())
}

/// Extracts one clip (through `gates`, as a recording starting `start_s` into the day,
/// judging every decoded keyframe's pixels); returns the footage's seconds and the
/// keyframes decoded.
fn extract_clip(
    clip: &Path,
    args: &GatesArgs,
    gates: Option<(&MotionGates, i64)>,
) -> Result<(f64, u64), BoxError> {
    let file = std::fs::File::open(clip).map_err(|e| format!("{}: {e}", clip.display()))?;
    let config = ExtractConfig {
        width: args.width,
        height: args.height,
        recording: clip.display().to_string(),
        start: gates
            .map(|(_, start_s)| jiff::Timestamp::from_second(1_700_000_000 + start_s))
            .transpose()?,
        gates: gates.map(|(gates, _)| gates.clone()),
        ..ExtractConfig::default()
    };
    let mut last = 0.0f64;
    let summary = extract(file, &config, |keyframe| {
        last = last.max(keyframe.time.as_secs_f64());
        if let Some((gates, _)) = gates {
            gates.judge_keyframe(&keyframe);
        }
        ControlFlow::Continue(())
    })?;
    // The footage runs a keyframe interval past the last keyframe (2 s in the scene clips).
    Ok((last + 2.0, summary.keyframes))
}

fn default_dir() -> PathBuf {
    match std::env::var_os("DIPPER_CLIPS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("scenes"),
        _ => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../.cache/clips/scenes"
        )),
    }
}
