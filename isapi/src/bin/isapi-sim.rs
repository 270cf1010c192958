//! `isapi-sim`: simulated Hikvision cameras or an NVR on local ports, for tests and
//! benchmarks of ISAPI clients.
//!
//! Prints one line per device when it is ready (`device 0 camera DS-2CD2345-SIM0000
//! http://127.0.0.1:40001`) and runs until Ctrl-C: the first stops the devices gracefully
//! (open downloads end, at most 5 s), a second exits at once. Logs go to stderr, filtered by
//! `RUST_LOG` (default `info`).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, ValueEnum};
use isapi::sim::{
    Codec, Container, DeviceConfig, DeviceKind, Quirks, RecordingClip, SimConfig, Simulator,
};

/// Simulated Hikvision cameras or an NVR, speaking ISAPI with Digest auth.
///
/// Each device listens on its own port: device i on PORT+i (or a random port each when
/// PORT is 0). Recordings are made on the fly from the clips of scripts/make-clips.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of device 0; device i listens on the port after it.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Number of cameras (ignored with --nvr).
    #[arg(long, default_value_t = 1)]
    devices: u32,
    /// Channels per camera, or of the NVR.
    #[arg(long, default_value_t = 1)]
    channels: u32,
    /// Simulate one NVR with --channels channels instead of --devices cameras.
    #[arg(long)]
    nvr: bool,
    /// Days of recordings per channel, ending now.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Length of each recording, in minutes.
    #[arg(long, default_value_t = 60)]
    recording_minutes: u32,
    /// Codec of the recordings (mixed: odd channels H.264, even H.265).
    #[arg(long, value_enum, default_value_t = CodecArg::H264)]
    codec: CodecArg,
    /// Container of the downloads (mp4: H.264 only, one clip long).
    #[arg(long, value_enum, default_value_t = ContainerArg::Ps)]
    container: ContainerArg,
    /// Digest user.
    #[arg(long, env = "ISAPI_SIM_USER", default_value = "admin")]
    user: String,
    /// Digest password.
    #[arg(long, env = "ISAPI_SIM_PASSWORD", default_value = "sim12345")]
    password: String,
    /// Rate of each download stream in kilobits per second (default: unlimited).
    #[arg(long)]
    rate_kbps: Option<u64>,
    /// Downloads at once per device; more get 503 deviceBusy (default: unlimited).
    #[arg(long)]
    max_downloads: Option<u32>,
    /// Folder of the video clips.
    #[arg(long, env = "DIPPER_CLIPS_DIR")]
    clips: Option<PathBuf>,
    /// Hikvision-style time zone of the devices (CST-8:00:00 is UTC+8).
    #[arg(long, default_value = "CST-8:00:00")]
    time_zone: String,
    /// A recording made from a clip of its own: `DEVICE:TRACK:AGO:PATH`, AGO counting back
    /// from the latest recording (0), PATH a program stream of the track's codec (relative
    /// to the clips folder), e.g. `0:101:2:faces/cam1_h264.ps`. Repeatable.
    #[arg(long = "recording-clip", value_parser = parse_recording_clip)]
    recording_clips: Vec<(usize, RecordingClipArg)>,
    /// Speak ISAPI as some real firmware does: `NAME` for every device or `DEVICE:NAME` for
    /// one. Names: degenerate-time-spans, missing-time-spans, iso-uri-times, foreign-items,
    /// cm-search-profile, no-search-profile, unreadable-search-profile. Repeatable.
    #[arg(long = "quirk", value_parser = parse_quirk)]
    quirks: Vec<(Option<usize>, String)>,
}

/// `NAME` or `DEVICE:NAME`, the name checked against [`Quirks::NAMES`].
fn parse_quirk(text: &str) -> Result<(Option<usize>, String), String> {
    let (device, name) = match text.split_once(':') {
        Some((device, name)) => {
            let device = device
                .parse()
                .map_err(|e| format!("DEVICE {device:?}: {e}"))?;
            (Some(device), name)
        }
        None => (None, text),
    };
    Quirks::default().set(name)?;
    Ok((device, name.to_owned()))
}

/// A `--recording-clip` before its index is known.
#[derive(Debug, Clone)]
struct RecordingClipArg {
    track: u32,
    ago: u64,
    path: PathBuf,
}

fn parse_recording_clip(text: &str) -> Result<(usize, RecordingClipArg), String> {
    let mut parts = text.splitn(4, ':');
    let mut number = |what: &str| -> Result<u64, String> {
        parts
            .next()
            .ok_or_else(|| format!("missing {what}"))?
            .parse()
            .map_err(|e| format!("{what}: {e}"))
    };
    let device = number("DEVICE")?;
    let track = number("TRACK")?;
    let ago = number("AGO")?;
    let path = parts
        .next()
        .filter(|p| !p.is_empty())
        .ok_or("missing PATH")?;
    Ok((
        usize::try_from(device).map_err(|e| e.to_string())?,
        RecordingClipArg {
            track: u32::try_from(track).map_err(|e| e.to_string())?,
            ago,
            path: PathBuf::from(path),
        },
    ))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CodecArg {
    H264,
    H265,
    Mixed,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ContainerArg {
    Ps,
    Mp4,
}

impl Args {
    fn config(&self) -> Result<SimConfig, String> {
        let codec = match self.codec {
            CodecArg::H264 => Codec::H264,
            CodecArg::H265 => Codec::H265,
            CodecArg::Mixed => Codec::Mixed,
        };
        let container = match self.container {
            ContainerArg::Ps => Container::Ps,
            ContainerArg::Mp4 => Container::Mp4,
        };
        let customise = |mut device: DeviceConfig| {
            device.days = self.days;
            device.recording_minutes = self.recording_minutes;
            device.codec = codec;
            device.container = container;
            device.time_zone = self.time_zone.clone();
            device.limits.bytes_per_second = self.rate_kbps.map(|kbps| kbps * 1000 / 8);
            device.limits.max_concurrent_downloads = self.max_downloads;
            device
        };
        let devices = if self.nvr {
            vec![customise(DeviceConfig::nvr(
                &self.user,
                &self.password,
                self.channels,
            ))]
        } else {
            (0..self.devices)
                .map(|i| {
                    let mut camera = DeviceConfig::camera(&self.user, &self.password);
                    camera.channels = self.channels;
                    camera.name = format!("Camera {:02}", i + 1);
                    camera.serial = format!("DS-2CD2345-SIM{i:04}");
                    customise(camera)
                })
                .collect()
        };
        let mut devices = devices;
        let recordings = u64::from(self.days) * 1440 / u64::from(self.recording_minutes.max(1));
        for (device, clip) in &self.recording_clips {
            let count = devices.len();
            let config = devices.get_mut(*device).ok_or_else(|| {
                format!("--recording-clip: there is no device {device} ({count} devices)")
            })?;
            config.recording_clips.push(RecordingClip {
                track: clip.track,
                index: recordings.saturating_sub(1 + clip.ago),
                path: clip.path.clone(),
            });
        }
        for (device, name) in &self.quirks {
            let count = devices.len();
            let chosen: Vec<&mut DeviceConfig> =
                match device {
                    None => devices.iter_mut().collect(),
                    Some(i) => vec![devices.get_mut(*i).ok_or_else(|| {
                        format!("--quirk: there is no device {i} ({count} devices)")
                    })?],
                };
            for config in chosen {
                config.quirks.set(name)?;
            }
        }
        let mut config = SimConfig::new(devices);
        if let Some(dir) = &self.clips {
            config.clips_dir = dir.clone();
        }
        Ok(config)
    }
}

#[tokio::main]
#[expect(
    clippy::print_stdout,
    reason = "the ready lines on stdout are the binary's interface"
)]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::start_on(config, args.listen).await {
        Ok(sim) => sim,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the simulator");
            return ExitCode::FAILURE;
        }
    };
    for device in sim.devices() {
        let kind = match device.config.kind {
            DeviceKind::Camera => "camera",
            DeviceKind::Nvr => "nvr",
        };
        println!(
            "device {} {kind} {} {}",
            device.index,
            device.config.serial,
            device.base_url()
        );
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot wait for Ctrl-C");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopping; Ctrl-C again to exit at once");
    tokio::select! {
        () = sim.shutdown() => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        _ = tokio::signal::ctrl_c() => ExitCode::from(130),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_clip_arguments_parse_or_name_the_bad_part() {
        let (device, clip) = parse_recording_clip("1:201:3:faces/cam2_h265.ps").expect("parses");
        assert_eq!((device, clip.track, clip.ago), (1, 201, 3));
        assert_eq!(clip.path, PathBuf::from("faces/cam2_h265.ps"));
        for (bad, names) in [
            ("x:101:0:a.ps", "DEVICE"),
            ("0:track:0:a.ps", "TRACK"),
            ("0:101:-1:a.ps", "AGO"),
            ("0:101:0", "PATH"),
            ("0:101:0:", "PATH"),
        ] {
            let err = parse_recording_clip(bad).expect_err(bad);
            assert!(err.contains(names), "{bad}: {err}");
        }
    }

    #[test]
    fn a_recording_clip_lands_on_the_recording_it_counts_back_to() {
        let args = Args::parse_from([
            "isapi-sim",
            "--devices",
            "2",
            "--days",
            "1",
            "--recording-minutes",
            "1",
            "--recording-clip",
            "1:101:2:faces/cam1_h264.ps",
        ]);
        let config = args.config().expect("config");
        assert!(config.devices[0].recording_clips.is_empty());
        assert_eq!(config.devices[1].recording_clips[0].index, 1440 - 3);
        let args = Args::parse_from(["isapi-sim", "--recording-clip", "5:101:0:a.ps"]);
        let err = args.config().expect_err("no device 5");
        assert!(err.contains("no device 5"), "{err}");
    }

    #[test]
    fn quirks_apply_to_every_device_or_to_the_one_named() {
        let args = Args::parse_from([
            "isapi-sim",
            "--devices",
            "3",
            "--quirk",
            "iso-uri-times",
            "--quirk",
            "1:degenerate-time-spans",
            "--quirk",
            "2:cm-search-profile",
        ]);
        let config = args.config().expect("config");
        assert!(config.devices.iter().all(|d| d.quirks.iso_uri_times));
        let spans: Vec<_> = config.devices.iter().map(|d| d.quirks.time_spans).collect();
        assert_eq!(
            spans,
            [
                isapi::sim::TimeSpanStyle::Exact,
                isapi::sim::TimeSpanStyle::Degenerate,
                isapi::sim::TimeSpanStyle::Exact
            ]
        );
        assert_eq!(
            config.devices[2].quirks.search_profile,
            isapi::sim::ProfileStyle::CmSearchProfile
        );
        for (bad, names) in [
            ("zero-length", "unknown quirk"),
            ("x:iso-uri-times", "DEVICE"),
        ] {
            let err = parse_quirk(bad).expect_err(bad);
            assert!(err.contains(names), "{bad}: {err}");
        }
        let args = Args::parse_from(["isapi-sim", "--quirk", "4:foreign-items"]);
        let err = args.config().expect_err("no device 4");
        assert!(err.contains("no device 4"), "{err}");
    }
}
