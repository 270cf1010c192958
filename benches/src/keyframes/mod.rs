//! `dipper-bench keyframes`: the keyframe extractor beside the FFmpeg CLI on the same clips.
//!
//! For each clip (10 minutes of 1080p H.264 and H.265 in MPEG-PS, made by
//! `scripts/make-bench-clips`), the extractor runs in a child process (this binary again,
//! `keyframes-child`) fed through the downloader's chunk channel as a download would feed
//! it, and `ffmpeg -skip_frame nokey -i CLIP -vsync 0 -s WxH -pix_fmt rgb24 -f null -`
//! decodes the same keyframes to the same size and pixel format. Each side's keyframes per
//! second and peak resident memory are read from the OS; then `--parallel` copies of each
//! run at once (all cores), and one long stream (the clip repeated to `--stream-gb`) shows
//! memory stays flat in a recording's length.

mod child;
mod ffmpeg;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use serde::Serialize;

pub(crate) use child::{ChildArgs, run_child};

use crate::{
    BoxError,
    figures::{cores, round},
};

#[derive(Debug, clap::Args)]
pub(crate) struct KeyframesArgs {
    /// Folder of the benchmark clips (default: $DIPPER_BENCH_CLIPS_DIR or
    /// <repo>/.cache/bench-clips; `scripts/make-bench-clips` makes them).
    #[arg(long)]
    clips: Option<PathBuf>,
    /// Output width of every keyframe (RGB24), ours and the CLI's.
    #[arg(long, default_value_t = 1920)]
    width: u32,
    /// Output height of every keyframe.
    #[arg(long, default_value_t = 1080)]
    height: u32,
    /// Recordings decoded at once in the parallel run (each side; ours one decoder thread
    /// each, as the box runs when busy).
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// Decoder threads of ours in the one-clip runs (default: the cores, as the CLI uses).
    #[arg(long)]
    decoder_threads: Option<usize>,
    /// Size of the long stream, in GB (10^9 bytes); 0 skips it.
    #[arg(long, default_value_t = 2.0)]
    stream_gb: f64,
    /// One JSON line on stdout instead of a summary.
    #[arg(long)]
    json: bool,
}

const CLIPS: [(&str, &str); 2] = [
    ("h264-1080p-10min.ps", "h264"),
    ("h265-1080p-10min.ps", "h265"),
];

#[derive(Debug, Serialize)]
struct ClipReport {
    clip: String,
    codec: &'static str,
    bytes: u64,
    keyframes: u64,
    ffmpeg_keyframes: u64,
    ours_seconds: f64,
    ffmpeg_seconds: f64,
    ours_kfps: f64,
    ffmpeg_kfps: f64,
    ratio: f64,
    peak_rss_mb: Option<f64>,
    ffmpeg_peak_rss_mb: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ParallelReport {
    recordings: usize,
    ours_kfps: f64,
    ffmpeg_kfps: f64,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct StreamReport {
    bytes: u64,
    keyframes: u64,
    seconds: f64,
    kfps: f64,
    peak_rss_mb: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    width: u32,
    height: u32,
    /// Ours, in the one-clip runs (the parallel and stream runs use one per recording).
    decoder_threads: usize,
    clips: Vec<ClipReport>,
    parallel: ParallelReport,
    stream: Option<StreamReport>,
}

pub(crate) async fn run(args: KeyframesArgs) -> Result<(), BoxError> {
    let clips = find_clips(&args.clips.clone().unwrap_or_else(default_dir))?;
    ffmpeg::check_installed().await?;

    let threads = args.decoder_threads.unwrap_or_else(cores);
    let mut reports = Vec::new();
    for (path, codec) in &clips {
        reports.push(measure_clip(path, codec, &args, threads).await?);
    }
    let parallel = measure_parallel(&clips, &args).await?;
    let stream = if args.stream_gb > 0.0 {
        // The H.264 clip.
        Some(measure_stream(&clips[0].0, &args).await?)
    } else {
        None
    };

    let report = Report {
        width: args.width,
        height: args.height,
        decoder_threads: threads,
        clips: reports,
        parallel,
        stream,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(())
}

/// The paths of [`CLIPS`] in `dir`, with their codecs; an error naming the first missing.
fn find_clips(dir: &Path) -> Result<Vec<(PathBuf, &'static str)>, BoxError> {
    let mut clips = Vec::new();
    for (name, codec) in CLIPS {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(format!(
                "{} is missing: run scripts/make-bench-clips (or pass --clips)",
                path.display()
            )
            .into());
        }
        clips.push((path, codec));
    }
    Ok(clips)
}

/// One clip, ours with `threads` decoder threads, then the ffmpeg CLI.
async fn measure_clip(
    path: &Path,
    codec: &'static str,
    args: &KeyframesArgs,
    threads: usize,
) -> Result<ClipReport, BoxError> {
    tracing::info!(clip = %path.display(), threads, "ours");
    let ours = child::spawn(path, args, 1, threads).await?;
    tracing::info!(clip = %path.display(), "ffmpeg CLI");
    let theirs = ffmpeg::decode(path, args.width, args.height).await?;
    if ours.keyframes != theirs.keyframes {
        tracing::warn!(
            ours = ours.keyframes,
            ffmpeg = theirs.keyframes,
            "keyframe counts differ"
        );
    }
    let ours_kfps = ours.keyframes as f64 / ours.seconds;
    let ffmpeg_kfps = theirs.keyframes as f64 / theirs.seconds;
    Ok(ClipReport {
        clip: file_name(path),
        codec,
        bytes: ours.bytes,
        keyframes: ours.keyframes,
        ffmpeg_keyframes: theirs.keyframes,
        ours_seconds: round(ours.seconds, 3),
        ffmpeg_seconds: round(theirs.seconds, 3),
        ours_kfps: round(ours_kfps, 1),
        ffmpeg_kfps: round(ffmpeg_kfps, 1),
        ratio: round(ours_kfps / ffmpeg_kfps, 3),
        peak_rss_mb: ours.peak_rss_mb.map(|mb| round(mb, 1)),
        ffmpeg_peak_rss_mb: theirs.peak_rss_mb.map(|mb| round(mb, 1)),
    })
}

/// All cores: `--parallel` recordings at once, alternating the clips, ours then the CLI.
async fn measure_parallel(
    clips: &[(PathBuf, &'static str)],
    args: &KeyframesArgs,
) -> Result<ParallelReport, BoxError> {
    let n = args.parallel.max(1);
    tracing::info!(recordings = n, "parallel");
    let picks: Vec<&PathBuf> = (0..n).map(|i| &clips[i % clips.len()].0).collect();
    let started = Instant::now();
    let ours =
        futures::future::try_join_all(picks.iter().map(|p| child::spawn(p, args, 1, 1))).await?;
    let ours_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let theirs = futures::future::try_join_all(
        picks
            .iter()
            .map(|p| ffmpeg::decode(p, args.width, args.height)),
    )
    .await?;
    let theirs_seconds = started.elapsed().as_secs_f64();
    let ours_kfps = ours.iter().map(|o| o.keyframes).sum::<u64>() as f64 / ours_seconds;
    let ffmpeg_kfps = theirs.iter().map(|t| t.keyframes).sum::<u64>() as f64 / theirs_seconds;
    Ok(ParallelReport {
        recordings: n,
        ours_kfps: round(ours_kfps, 1),
        ffmpeg_kfps: round(ffmpeg_kfps, 1),
        ratio: round(ours_kfps / ffmpeg_kfps, 3),
    })
}

/// One long stream: `clip` again and again to `--stream-gb`, as one download.
async fn measure_stream(clip: &Path, args: &KeyframesArgs) -> Result<StreamReport, BoxError> {
    let size = std::fs::metadata(clip)?.len().max(1);
    let repeat = ((args.stream_gb * 1e9) / size as f64).ceil().max(1.0) as u32;
    tracing::info!(repeat, "long stream");
    let outcome = child::spawn(clip, args, repeat, 1).await?;
    Ok(StreamReport {
        bytes: outcome.bytes,
        keyframes: outcome.keyframes,
        seconds: round(outcome.seconds, 3),
        kfps: round(outcome.keyframes as f64 / outcome.seconds, 1),
        peak_rss_mb: outcome.peak_rss_mb.map(|mb| round(mb, 1)),
    })
}

fn print_summary(report: &Report) {
    println!(
        "keyframes to {}x{} RGB, ours (chunk stream, {} decoder thread(s)) vs the ffmpeg CLI (-skip_frame nokey)",
        report.width, report.height, report.decoder_threads
    );
    for c in &report.clips {
        println!(
            "  {}: {} keyframes; ours {:.0}/s, ffmpeg {:.0}/s, ratio {:.2}; peak RSS {} vs {} MB",
            c.clip,
            c.keyframes,
            c.ours_kfps,
            c.ffmpeg_kfps,
            c.ratio,
            mb(c.peak_rss_mb),
            mb(c.ffmpeg_peak_rss_mb),
        );
    }
    let p = &report.parallel;
    println!(
        "  {} at once: ours {:.0}/s, ffmpeg {:.0}/s, ratio {:.2}",
        p.recordings, p.ours_kfps, p.ffmpeg_kfps, p.ratio
    );
    if let Some(s) = &report.stream {
        println!(
            "  one {:.2} GB stream: {} keyframes at {:.0}/s, peak RSS {} MB",
            s.bytes as f64 / 1e9,
            s.keyframes,
            s.kfps,
            mb(s.peak_rss_mb)
        );
    }
}

fn mb(value: Option<f64>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"))
}

fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DIPPER_BENCH_CLIPS_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/bench-clips")
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
