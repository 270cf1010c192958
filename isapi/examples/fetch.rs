//! A small ISAPI client on the command line: discovers a device, searches every recording
//! track over the last hours, downloads a few recordings and (against the simulator)
//! checks each byte. `scripts/demo` runs it against `isapi-sim`.
//!
//! ```text
//! cargo run -p isapi --example fetch -- --url http://127.0.0.1:40001 --user admin --password ...
//! ```
#![allow(clippy::print_stdout)]

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use clap::Parser;
use futures::TryStreamExt;
use isapi::{Client, ClientConfig, Device, Discovery, Recording, SearchQuery};

#[derive(Parser)]
#[command(about = "Discover an ISAPI device, search its recordings and download some")]
struct Args {
    /// Device base URL, e.g. http://127.0.0.1:40001
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "admin")]
    user: String,
    #[arg(long, env = "ISAPI_PASSWORD")]
    password: String,
    /// Search this many hours back from the device's clock.
    #[arg(long, default_value_t = 24)]
    hours: i64,
    /// Download this many recordings per device (the most recent, over all tracks).
    #[arg(long, default_value_t = 2)]
    download: usize,
    /// Where downloads are written.
    #[arg(long, default_value = "downloads")]
    out: PathBuf,
    /// Check each download against the simulator's `/sim/checksum`.
    #[arg(long)]
    verify: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new(ClientConfig::default())?;
    let device = client.device(&args.url, &args.user, &args.password)?;
    let found = device.discover().await?;
    print_discovery(&args.url, &found);
    let mut latest = search_tracks(&device, &found, &args).await?;
    std::fs::create_dir_all(&args.out)?;
    let mut buf = vec![0u8; 256 * 1024];
    latest.sort_by_key(|r| std::cmp::Reverse(r.start));
    for recording in latest.iter().take(args.download) {
        let saved = save(
            &device,
            recording,
            &found.info.serial_number,
            &args.out,
            &mut buf,
        )
        .await?;
        print!(
            "  downloaded {} ({:?}, {} bytes, {:.1} MB/s, crc32 {:08x})",
            saved.path.display(),
            saved.container,
            saved.bytes,
            saved.bytes as f64 / 1e6 / saved.seconds,
            saved.crc
        );
        if args.verify {
            verify(&args.url, recording, &saved).await?;
        }
        println!();
    }
    Ok(())
}

/// Prints what discovery found: the device, its clock, tracks and search profile.
fn print_discovery(url: &str, found: &Discovery) {
    let kind = found.info.device_type.as_deref().unwrap_or("device");
    println!(
        "{}: {kind} {} serial {} firmware {}",
        url,
        found.info.model,
        found.info.serial_number,
        found.info.firmware_version.as_deref().unwrap_or("?")
    );
    println!(
        "  clock UTC{}; {} tracks; search profile: {} results/page, {} search(es) at a time; {} proxied cameras",
        found.zone.time_zone().to_offset(jiff::Timestamp::now()),
        found.tracks.len(),
        found.search_profile.max_results.unwrap_or(0),
        found.search_profile.max_concurrent_searches.unwrap_or(1),
        found.proxy_channels.len()
    );
}

/// Searches every track over the last `--hours`, printing a line per track; returns the
/// `--download` most recent recordings of each track.
async fn search_tracks(
    device: &Device,
    found: &Discovery,
    args: &Args,
) -> Result<Vec<Recording>, isapi::Error> {
    let end = jiff::Timestamp::now();
    let start = end - jiff::SignedDuration::from_hours(args.hours);
    let mut latest = Vec::new();
    for track in &found.tracks {
        let query = SearchQuery {
            track: track.id,
            start,
            end,
        };
        let recordings: Vec<_> = device.search(query).try_collect().await?;
        let bytes: u64 = recordings.iter().filter_map(|r| r.size).sum();
        if let (Some(first), Some(last)) = (recordings.first(), recordings.last()) {
            println!(
                "  track {}: {} recordings, {:.1} MB, {} .. {} (device clock {} .. {}), codec {}",
                track.id,
                recordings.len(),
                bytes as f64 / 1e6,
                first.start,
                last.end,
                first.local_start,
                last.local_end,
                last.codec.as_deref().unwrap_or("?")
            );
            latest.extend(recordings.iter().rev().take(args.download).cloned());
        } else {
            println!(
                "  track {}: no recordings in the last {} h",
                track.id, args.hours
            );
        }
    }
    Ok(latest)
}

/// A recording downloaded to a file.
struct Saved {
    path: PathBuf,
    container: isapi::Container,
    bytes: u64,
    crc: u32,
    seconds: f64,
}

/// Downloads a recording into `out`, in a file named after the device's serial number, the
/// track and the recording's start on the device clock.
async fn save(
    device: &Device,
    recording: &Recording,
    serial: &str,
    out: &Path,
    buf: &mut [u8],
) -> Result<Saved, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut download = device.download(&recording.playback_uri).await?;
    let name = format!(
        "{serial}-track{}-{}.{}",
        recording.track,
        recording.local_start.strftime("%Y%m%dT%H%M%S"),
        match download.container() {
            isapi::Container::Mp4 => "mp4",
            isapi::Container::MpegTs => "ts",
            _ => "ps",
        }
    );
    let path = out.join(name);
    let mut file = std::fs::File::create(&path)?;
    let mut crc = crc32fast::Hasher::new();
    loop {
        let n = download.read(buf).await?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        std::io::Write::write_all(&mut file, &buf[..n])?;
    }
    Ok(Saved {
        path,
        container: download.container(),
        bytes: download.bytes_read(),
        crc: crc.finalize(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Compares a download with the simulator's `/sim/checksum` of the recording; prints
/// `exact` or `MISMATCH` (then an error).
async fn verify(
    base_url: &str,
    recording: &Recording,
    saved: &Saved,
) -> Result<(), Box<dyn std::error::Error>> {
    let url = format!(
        "{}/sim/checksum?playbackURI={}",
        base_url.trim_end_matches('/'),
        percent_encoding::utf8_percent_encode(
            &recording.playback_uri,
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let want: serde_json::Value = serde_json::from_str(&reqwest::get(&url).await?.text().await?)?;
    let ok = want["crc32"].as_u64() == Some(u64::from(saved.crc))
        && want["bytes"].as_u64() == Some(saved.bytes);
    print!(", {}", if ok { "exact" } else { "MISMATCH" });
    if !ok {
        println!();
        return Err(format!("download differs from the device's recording: {want}").into());
    }
    Ok(())
}
