//! One extraction in a process of its own (so its peak memory is its own): the clip is read
//! into the downloader's pooled chunks and sent over a bounded channel, exactly as a
//! download feeds the extractor, `repeat` times in a row as one stream.

use std::{path::Path, process::Stdio, time::Instant};

use pipeline::{
    downloader::{Event, EventSource, pool::ChunkPool},
    keyframes::{ExtractConfig, extract},
};
use serde::{Deserialize, Serialize};
use tokio::{io::AsyncReadExt, process::Command, sync::mpsc};

use super::KeyframesArgs;
use crate::{BoxError, proc};

#[derive(Debug, clap::Args)]
pub(crate) struct ChildArgs {
    #[arg(long)]
    clip: std::path::PathBuf,
    #[arg(long)]
    width: u32,
    #[arg(long)]
    height: u32,
    /// Times the clip is sent, back to back, as one stream.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Decoder threads.
    #[arg(long, default_value_t = 1)]
    decoder_threads: usize,
}

/// What a child reports on its stdout (one JSON line).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Outcome {
    pub(super) keyframes: u64,
    pub(super) bytes: u64,
    pub(super) seconds: f64,
    pub(super) peak_rss_mb: Option<f64>,
}

/// Runs one extraction in a child process and reads its outcome.
pub(super) async fn spawn(
    clip: &Path,
    args: &KeyframesArgs,
    repeat: u32,
    decoder_threads: usize,
) -> Result<Outcome, BoxError> {
    let output = Command::new(std::env::current_exe()?)
        .arg("keyframes-child")
        .arg("--clip")
        .arg(clip)
        .args(["--width", &args.width.to_string()])
        .args(["--height", &args.height.to_string()])
        .args(["--repeat", &repeat.to_string()])
        .args(["--decoder-threads", &decoder_threads.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await?;
    if !output.status.success() {
        return Err(format!("the extraction of {} failed", clip.display()).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The child: feed, extract, report.
pub(crate) async fn run_child(args: ChildArgs) -> Result<(), BoxError> {
    const CHUNK: usize = 32 * 1024;
    // What the downloader would give one recording: a bounded channel of pooled chunks.
    let pool = ChunkPool::new(CHUNK, 64 * CHUNK)?;
    let (sender, events) = mpsc::channel(4);
    let started = Instant::now();
    let feeder = {
        let (clip, repeat) = (args.clip.clone(), args.repeat);
        tokio::spawn(async move {
            let mut bytes = 0u64;
            for _ in 0..repeat {
                let mut file = tokio::fs::File::open(&clip).await?;
                loop {
                    let mut chunk = pool.acquire().await;
                    let n = file.read(chunk.buffer_mut()).await?;
                    if n == 0 {
                        break;
                    }
                    chunk.set_len(n);
                    bytes += n as u64;
                    if sender.send(Event::Data(chunk)).await.is_err() {
                        return Ok::<u64, BoxError>(bytes);
                    }
                }
            }
            let _ = sender.send(Event::Done { bytes }).await;
            Ok(bytes)
        })
    };
    let config = ExtractConfig {
        width: args.width,
        height: args.height,
        recording: args.clip.display().to_string(),
        decoder_threads: args.decoder_threads,
        ..ExtractConfig::default()
    };
    let keyframes = tokio::task::spawn_blocking(move || {
        let mut keyframes = 0u64;
        let result = extract(EventSource::new(events), &config, |_keyframe| {
            keyframes += 1;
            std::ops::ControlFlow::Continue(())
        });
        result.map(|_| keyframes)
    })
    .await??;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = feeder.await??;
    let outcome = Outcome {
        keyframes,
        bytes,
        seconds,
        peak_rss_mb: proc::peak_rss_mb(None),
    };
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}
