//! The peer: the ffmpeg CLI decoding only keyframes to the same size and pixel format, its
//! frames counted from `-progress` and its peak memory polled from `/proc`.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    sync::watch,
};

use crate::{BoxError, proc};

#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) keyframes: u64,
    pub(super) seconds: f64,
    pub(super) peak_rss_mb: Option<f64>,
}

pub(super) async fn check_installed() -> Result<(), BoxError> {
    let status = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("cannot run ffmpeg (scripts/lib/setup.sh installs it): {e}"))?;
    if !status.success() {
        return Err("ffmpeg -version failed".into());
    }
    Ok(())
}

/// `ffmpeg -skip_frame nokey -i CLIP -vsync 0 -s WxH -pix_fmt rgb24 -f null -`.
pub(super) async fn decode(clip: &Path, width: u32, height: u32) -> Result<Decoded, BoxError> {
    let started = Instant::now();
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostats"])
        .args(["-skip_frame", "nokey", "-i"])
        .arg(clip)
        .args(["-vsync", "0", "-an", "-s", &format!("{width}x{height}")])
        .args([
            "-pix_fmt",
            "rgb24",
            "-progress",
            "pipe:1",
            "-f",
            "null",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start ffmpeg: {e}"))?;
    let (done, done_rx) = watch::channel(false);
    let poller = tokio::spawn(proc::poll_peaks(
        child.id().into_iter().collect(),
        Duration::from_millis(50),
        done_rx,
    ));
    let stdout = child.stdout.take().ok_or("ffmpeg's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut frames = 0;
    while let Some(line) = lines.next_line().await? {
        if let Some(n) = line.strip_prefix("frame=") {
            frames = n.trim().parse().unwrap_or(frames);
        }
    }
    let _ = done.send(true);
    // 0 when the process ended before a first reading: unknown, as without a pid.
    let peak = poller.await?.first().copied().filter(|mb| *mb > 0.0);
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        return Err(format!(
            "ffmpeg failed on {}: {}",
            clip.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(Decoded {
        keyframes: frames,
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_mb: peak,
    })
}
