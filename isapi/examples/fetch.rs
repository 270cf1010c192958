//! A small ISAPI client on the command line: discovers a device, searches every recording
//! track over the last hours, downloads a few recordings and (against the simulator)
//! checks each byte. `scripts/demo` runs it against `isapi-sim`.
//!
//! ```text
//! cargo run -p isapi --example fetch -- --url http://127.0.0.1:40001 --user admin --password ...
//! ```
#![allow(clippy::print_stdout)]

use std::{path::PathBuf, time::Instant};

use clap::Parser;
use futures::TryStreamExt;
use isapi::{Client, ClientConfig, SearchQuery};

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
    let kind = found.info.device_type.as_deref().unwrap_or("device");
    println!(
        "{}: {kind} {} serial {} firmware {}",
        args.url,
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
    std::fs::create_dir_all(&args.out)?;
    let mut buf = vec![0u8; 256 * 1024];
    latest.sort_by_key(|r| std::cmp::Reverse(r.start));
    for recording in latest.iter().take(args.download) {
        let started = Instant::now();
        let mut download = device.download(&recording.playback_uri).await?;
        let name = format!(
            "{}-track{}-{}.{}",
            found.info.serial_number,
            recording.track,
            recording.local_start.strftime("%Y%m%dT%H%M%S"),
            match download.container() {
                isapi::Container::Mp4 => "mp4",
                isapi::Container::MpegTs => "ts",
                _ => "ps",
            }
        );
        let path = args.out.join(name);
        let mut file = std::fs::File::create(&path)?;
        let mut crc = crc32fast::Hasher::new();
        loop {
            let n = download.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            std::io::Write::write_all(&mut file, &buf[..n])?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let crc = crc.finalize();
        print!(
            "  downloaded {} ({:?}, {} bytes, {:.1} MB/s, crc32 {crc:08x})",
            path.display(),
            download.container(),
            download.bytes_read(),
            download.bytes_read() as f64 / 1e6 / seconds
        );
        if args.verify {
            let url = format!(
                "{}/sim/checksum?playbackURI={}",
                args.url.trim_end_matches('/'),
                percent_encoding::utf8_percent_encode(
                    &recording.playback_uri,
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            let want: serde_json::Value =
                serde_json::from_str(&reqwest::get(&url).await?.text().await?)?;
            let ok = want["crc32"].as_u64() == Some(u64::from(crc))
                && want["bytes"].as_u64() == Some(download.bytes_read());
            print!(", {}", if ok { "exact" } else { "MISMATCH" });
            if !ok {
                println!();
                return Err(format!("download differs from the device's recording: {want}").into());
            }
        }
        println!();
    }
    Ok(())
}
