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
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use futures::TryStreamExt;
use isapi::{Client, ClientConfig, SearchQuery};

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
    let urls: Vec<String> = std::fs::read_to_string(&args.devices)?
        .lines()
        .filter(|l| l.starts_with("device "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    if urls.is_empty() {
        return Err(format!("no `device ...` lines in {}", args.devices.display()).into());
    }
    let client = Client::new(ClientConfig::default())?;
    let mut jobs = Vec::new();
    for url in &urls {
        let device = client.device(url, &args.user, &args.password)?;
        let end = jiff::Timestamp::now();
        let query = SearchQuery {
            track: 101,
            start: end - jiff::SignedDuration::from_hours(24 * 7),
            end,
        };
        let recordings: Vec<_> = device.search(query).try_collect().await?;
        jobs.push((url.clone(), device, recordings));
    }
    let checksums: Arc<Mutex<HashMap<String, (u64, u32)>>> = Arc::default();
    let bytes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let corrupt = Arc::new(AtomicU64::new(0));
    let complete = Arc::new(AtomicU64::new(0));
    let sim_cpu_before = args.sim_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for stream in 0..args.streams {
        let (url, device, recordings) = jobs[stream % jobs.len()].clone();
        let (bytes, errors, corrupt, complete, checksums) = (
            bytes.clone(),
            errors.clone(),
            corrupt.clone(),
            complete.clone(),
            checksums.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut n_recording = stream;
            while Instant::now() < deadline && !recordings.is_empty() {
                let recording = &recordings[n_recording % recordings.len()];
                n_recording += 1;
                let mut download = match device.download(&recording.playback_uri).await {
                    Ok(d) => d,
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let mut crc = crc32fast::Hasher::new();
                let finished = loop {
                    if Instant::now() >= deadline {
                        break false;
                    }
                    match download.read(&mut buf).await {
                        Ok(0) => break true,
                        Ok(n) => {
                            crc.update(&buf[..n]);
                            bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            break false;
                        }
                    }
                };
                if !finished {
                    continue;
                }
                complete.fetch_add(1, Ordering::Relaxed);
                let known = checksums
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&recording.playback_uri).copied());
                let want = match known {
                    Some(want) => want,
                    None => match fetch_checksum(&url, &recording.playback_uri).await {
                        Some(want) => {
                            if let Ok(mut m) = checksums.lock() {
                                m.insert(recording.playback_uri.clone(), want);
                            }
                            want
                        }
                        None => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    },
                };
                if want != (download.bytes_read(), crc.finalize()) {
                    corrupt.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = bytes.load(Ordering::Relaxed);
    let sim_cpu = match (args.sim_pid.and_then(cpu_seconds), sim_cpu_before) {
        (Some(after), Some(before)) => format!("{:.1}", (after - before) / seconds * 100.0),
        _ => "null".to_owned(),
    };
    let sim_rss = args
        .sim_pid
        .and_then(peak_rss_mb)
        .map_or("null".to_owned(), |mb| format!("{mb:.1}"));
    println!(
        "{{\"devices\":{},\"streams\":{},\"seconds\":{seconds:.1},\"bytes\":{total},\"throughput_mbps\":{:.1},\"recordings_complete\":{},\"errors\":{},\"corrupt\":{},\"sim_cpu_percent\":{sim_cpu},\"sim_peak_rss_mb\":{sim_rss}}}",
        urls.len(),
        args.streams,
        total as f64 / 1e6 / seconds,
        complete.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        corrupt.load(Ordering::Relaxed),
    );
    Ok(())
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
