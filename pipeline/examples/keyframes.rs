//! Extracts the keyframes of recordings on disk and says what came out: how many, their
//! times, how fast; with `--save DIR`, the first keyframe of each as a PPM image. The demo
//! runs it on the recordings it downloaded.
//!
//! ```text
//! cargo run -p pipeline --example keyframes -- [--save DIR] RECORDING...
//! ```
#![allow(clippy::print_stdout)]

use std::{ops::ControlFlow, path::PathBuf, process::ExitCode, time::Instant};

use pipeline::keyframes::{ExtractConfig, extract};

fn main() -> ExitCode {
    let mut save: Option<PathBuf> = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--save" => save = args.next().map(PathBuf::from),
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        eprintln!("usage: keyframes [--save DIR] RECORDING...");
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    for path in files {
        let name = PathBuf::from(&path)
            .file_name()
            .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
        let config = ExtractConfig {
            recording: name.clone(),
            ..ExtractConfig::default()
        };
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
                continue;
            }
        };
        let started = Instant::now();
        let mut times = Vec::new();
        let mut saved = None;
        let result = extract(file, &config, |keyframe| {
            times.push(keyframe.time.as_secs_f64());
            if saved.is_none()
                && let Some(dir) = &save
            {
                let out = dir.join(format!("{name}.ppm"));
                let mut image =
                    format!("P6\n{} {}\n255\n", keyframe.width, keyframe.height).into_bytes();
                image.extend_from_slice(&keyframe.pixels);
                saved = Some(std::fs::write(&out, image).map(|()| out));
            }
            ControlFlow::Continue(())
        });
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(summary) => {
                let span = match (times.first(), times.last()) {
                    (Some(first), Some(last)) => format!("{first:.1} s .. {last:.1} s"),
                    _ => "none".to_owned(),
                };
                println!(
                    "  {name}: {} keyframes ({span}), {} of {} packets skipped before the \
                     decoder, {:.0} keyframes/s",
                    summary.keyframes,
                    summary.packets_skipped,
                    summary.packets_read,
                    summary.keyframes as f64 / seconds.max(1e-9),
                );
            }
            Err(e) => {
                println!("  {name}: {} keyframes, then: {e}", times.len());
                failed = true;
            }
        }
        match saved {
            Some(Ok(out)) => println!("    first keyframe: {}", out.display()),
            Some(Err(e)) => eprintln!("    cannot save the first keyframe: {e}"),
            None => {}
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
