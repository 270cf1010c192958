//! A recording's bytes as a camera's download delivers them, streamed (not seekable), through
//! the box's keyframe extraction with the motion gates on: FFmpeg's demuxer and decoder and
//! our own reading of each GOP's packets and the pixel gate on each keyframe. Damaged input must end in a `KeyframeError` after
//! the keyframes before the damage, never in a panic, a hang or unbounded memory.

use std::io::{self, Cursor, Read};
use std::ops::ControlFlow;

use pipeline::keyframes::{ByteSource, ExtractConfig, extract};
use pipeline::motion::{GateConfig, MotionGates};

/// The bytes, read once front to back as a download is.
struct Streamed(Cursor<Vec<u8>>);

impl ByteSource for Streamed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut self.0, buf)
    }
}

pub(crate) fn run(data: &[u8]) {
    let config = ExtractConfig {
        // Small images: the scaler's cost is not what is tested.
        width: 64,
        height: 36,
        recording: "fuzz".to_owned(),
        frame_buffers: 2,
        gates: Some(MotionGates::new(GateConfig::default())),
        ..ExtractConfig::default()
    };
    let gates = config.gates.clone();
    let mut keyframes = 0u64;
    let outcome = extract(Streamed(Cursor::new(data.to_vec())), &config, |keyframe| {
        assert_eq!(
            keyframe.pixels.len(),
            64 * 36 * 3,
            "a keyframe of the wrong size"
        );
        // The pixel gate, as the box asks it of every keyframe the GOP gate let through.
        if let Some(gates) = &gates {
            let _ = gates.judge_keyframe(&keyframe);
        }
        keyframes += 1;
        ControlFlow::Continue(())
    });
    if let Ok(summary) = outcome {
        assert!(
            summary.keyframes >= keyframes,
            "the summary counts fewer keyframes ({}) than were handed out ({keyframes})",
            summary.keyframes
        );
    }
}
