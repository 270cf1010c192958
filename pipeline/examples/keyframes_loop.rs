//! Opens and closes the keyframe extractor N times over a clip, for a leak check:
//!
//! ```text
//! valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
//!     target/debug/examples/keyframes_loop .cache/clips/h264.ps 1000
//! ```

use std::ops::ControlFlow;
use std::process::ExitCode;

use pipeline::keyframes::{ExtractConfig, extract};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(clip), count) = (args.next(), args.next()) else {
        eprintln!("usage: keyframes_loop CLIP [COUNT]");
        return ExitCode::FAILURE;
    };
    let count: u32 = count.and_then(|c| c.parse().ok()).unwrap_or(1000);
    let config = ExtractConfig {
        recording: clip.clone(),
        ..ExtractConfig::default()
    };
    let mut keyframes = 0;
    for _ in 0..count {
        let file = match std::fs::File::open(&clip) {
            Ok(file) => file,
            Err(e) => {
                eprintln!("{clip}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match extract(file, &config, |_| ControlFlow::Continue(())) {
            Ok(summary) => keyframes += summary.keyframes,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("{count} extractions, {keyframes} keyframes");
    ExitCode::SUCCESS
}
