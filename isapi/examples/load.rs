//! Load on a running simulator: N concurrent downloads for S seconds, every body checked
//! against the simulator's checksums; prints one JSON line with the aggregate rate and the
//! CPU and memory the simulator process used. Used to show the simulator is never the
//! bottleneck of the benchmarks (see README, "The simulator").
//!
//! ```text
//! isapi-sim --listen 127.0.0.1:0 --devices 50 ... > devices.txt &
//! cargo run --release -p isapi --example load -- --devices devices.txt --password ... \
//!     --streams 1000 --seconds 20 --sim-pid $!
//! ```
#![allow(clippy::print_stdout)]

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use futures::TryStreamExt;
use isapi::{Client, ClientConfig, Device, Recording, SearchQuery};

#[derive(Parser)]
#[command(about = "Concurrent downloads against isapi-sim, verified, with the simulator's CPU use")]
struct Args {
    /// isapi-sim's standard output (lines `device N kind serial URL`).
    #[arg(long)]
    devices: PathBuf,
    #[arg(long, default_value = "admin")]
    user: String,
    #[arg(long, env = "ISAPI_PASSWORD")]
    password: String,
    /// Concurrent download streams (spread over the devices).
    #[arg(long, default_value_t = 100)]
    streams: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The simulator's process id, to report its CPU time and peak memory.
    #[arg(long)]
    sim_pid: Option<u32>,
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Peak resident memory of a process in MB, from /proc.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let urls = device_urls(&args.devices)?;
    let client = Client::new(ClientConfig::default())?;
    let mut jobs = Vec::new();
    for url in &urls {
        let device = client.device(url, &args.user, &args.password)?;
        let recordings = last_week(&device).await?;
        jobs.push(Job {
            url: url.clone(),
            device,
            recordings,
        });
    }
    let tally = Arc::new(Tally::default());
    let sim_cpu_before = args.sim_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for stream in 0..args.streams {
        let job = jobs[stream % jobs.len()].clone();
        let tally = Arc::clone(&tally);
        tasks.push(tokio::spawn(async move {
            download_until(deadline, stream, &job, &tally).await;
        }));
    }
    for task in tasks {
        task.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let sim_cpu = match (args.sim_pid.and_then(cpu_seconds), sim_cpu_before) {
        (Some(after), Some(before)) => format!("{:.1}", (after - before) / seconds * 100.0),
        _ => "null".to_owned(),
    };
    let sim_rss = args
        .sim_pid
        .and_then(peak_rss_mb)
        .map_or("null".to_owned(), |mb| format!("{mb:.1}"));
    let total = tally.bytes.load(Ordering::Relaxed);
    println!(
        "{{\"devices\":{},\"streams\":{},\"seconds\":{seconds:.1},\"bytes\":{total},\"throughput_mbps\":{:.1},\"recordings_complete\":{},\"errors\":{},\"corrupt\":{},\"sim_cpu_percent\":{sim_cpu},\"sim_peak_rss_mb\":{sim_rss}}}",
        urls.len(),
        args.streams,
        total as f64 / 1e6 / seconds,
        tally.complete.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
        tally.corrupt.load(Ordering::Relaxed),
    );
    Ok(())
}

/// The device URLs of isapi-sim's standard output (the last word of each `device ...` line).
fn device_urls(path: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let urls: Vec<String> = std::fs::read_to_string(path)?
        .lines()
        .filter(|l| l.starts_with("device "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    if urls.is_empty() {
        return Err(format!("no `device ...` lines in {}", path.display()).into());
    }
    Ok(urls)
}

/// Track 101's recordings of the last seven days.
async fn last_week(device: &Device) -> Result<Vec<Recording>, isapi::Error> {
    let end = jiff::Timestamp::now();
    let query = SearchQuery {
        track: 101,
        start: end - jiff::SignedDuration::from_hours(24 * 7),
        end,
    };
    device.search(query).try_collect().await
}

/// One device and the recordings its streams download, in turn.
#[derive(Clone)]
struct Job {
    url: String,
    device: Device,
    recordings: Vec<Recording>,
}

/// What all streams have done so far.
#[derive(Default)]
struct Tally {
    bytes: AtomicU64,
    errors: AtomicU64,
    corrupt: AtomicU64,
    complete: AtomicU64,
    /// The simulator's size and CRC-32 of each recording, by playback URI, once asked.
    checksums: Mutex<HashMap<String, (u64, u32)>>,
}

/// Stream number `stream`: downloads the job's recordings in turn (starting at its own
/// number) until the deadline, checking each complete body against the simulator.
async fn download_until(deadline: Instant, stream: usize, job: &Job, tally: &Tally) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n_recording = stream;
    while Instant::now() < deadline && !job.recordings.is_empty() {
        let recording = &job.recordings[n_recording % job.recordings.len()];
        n_recording += 1;
        let Some(got) = download_whole(&job.device, recording, deadline, &mut buf, tally).await
        else {
            continue;
        };
        tally.complete.fetch_add(1, Ordering::Relaxed);
        let Some(want) = expected_checksum(&job.url, &recording.playback_uri, tally).await else {
            tally.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if want != got {
            tally.corrupt.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Downloads one recording to the end and returns its size and CRC-32; `None` when it
/// failed (counted as an error) or the deadline came first.
async fn download_whole(
    device: &Device,
    recording: &Recording,
    deadline: Instant,
    buf: &mut [u8],
    tally: &Tally,
) -> Option<(u64, u32)> {
    let Ok(mut download) = device.download(&recording.playback_uri).await else {
        tally.errors.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    let mut crc = crc32fast::Hasher::new();
    loop {
        if Instant::now() >= deadline {
            return None;
        }
        match download.read(buf).await {
            Ok(0) => return Some((download.bytes_read(), crc.finalize())),
            Ok(n) => {
                crc.update(&buf[..n]);
                tally.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
    }
}

/// The simulator's size and CRC-32 of a recording, asked once per playback URI.
async fn expected_checksum(base: &str, uri: &str, tally: &Tally) -> Option<(u64, u32)> {
    let known = tally
        .checksums
        .lock()
        .ok()
        .and_then(|m| m.get(uri).copied());
    if known.is_some() {
        return known;
    }
    let want = fetch_checksum(base, uri).await?;
    if let Ok(mut m) = tally.checksums.lock() {
        m.insert(uri.to_owned(), want);
    }
    Some(want)
}

async fn fetch_checksum(base: &str, uri: &str) -> Option<(u64, u32)> {
    let url = format!(
        "{base}/sim/checksum?playbackURI={}",
        percent_encoding::utf8_percent_encode(uri, percent_encoding::NON_ALPHANUMERIC)
    );
    let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((
        value["bytes"].as_u64()?,
        u32::try_from(value["crc32"].as_u64()?).ok()?,
    ))
}
