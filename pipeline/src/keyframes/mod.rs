//! Keyframe extraction: a recording's bytes in, its keyframes out as RGB24 images.
//!
//! [`extract`] reads a recording from a [`ByteSource`] (a [`std::fs::File`] from the disk
//! cache, or the downloader's events through `downloader::EventSource`) via a custom FFmpeg AVIO
//! context, demuxes it (MPEG-PS, MPEG-TS, MP4, whatever FFmpeg probes), and decodes only
//! keyframes of the best H.264 or H.265 stream: non-key packets are dropped before the
//! decoder and the decoder skips non-key frames. Each keyframe is converted once to RGB24 at
//! the configured size, into one of a few pooled [`FrameBuffer`]s
//! ([`ExtractConfig::frame_buffers`]: a consumer holding them all holds back the decoder),
//! and handed to the caller's callback, in order. It is synchronous and blocking: run it
//! on a blocking thread.
//!
//! When the downloader restarts a recording from byte 0 (`Restart`: a retry or a
//! preemption), the extraction starts over on the new bytes and skips the keyframes it
//! already handed out ([`Summary::restarts`], up to [`MAX_RESTARTS`]).
//!
//! Damaged input (truncated, corrupted, empty, garbage, audio-only, a container or codec it
//! does not read) gives every keyframe decodable before the damage, then a
//! [`KeyframeError`] naming the recording and byte offset: never a panic, hang or crash.
//! A damaged packet in the middle does not stop the extraction: later keyframes still come,
//! and the first such error is returned at the end. FFmpeg's own logging is silenced.
//!
//! An MP4 whose index (`moov`) follows its media cannot be read from a stream: from an
//! unseekable source (a download's events) it fails fast with [`KeyframeError::NeedsFile`] when the `mdat` box
//! header goes by; read the cached file instead (files are seekable).
//!
//! All FFmpeg calls, and all `unsafe`, are in `ffi/`.
//!
//! Leak check (a thousand opens and closes over a real clip; valgrind exits 1 on a
//! definite leak):
//!
//! ```text
//! cargo build -p pipeline --example keyframes_loop
//! valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
//!     target/debug/examples/keyframes_loop .cache/clips/h264.ps 1000
//! ```
//!
//! The mutation test's size is `DIPPER_MUTATIONS` (default 300 cases), e.g.
//! `DIPPER_MUTATIONS=5000 cargo nextest run -p pipeline keyframes::tests::mutated`.

mod clock;
mod error;
mod extract;
mod ffi;
mod frames;
mod gated;
mod source;
mod spawn;
#[cfg(all(test, feature = "downloader"))]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::motion::{DecodeReason, GateCounters, MotionGates};

pub use error::KeyframeError;
pub use extract::{MAX_RESTARTS, extract};
pub use frames::FrameBuffer;
pub use source::{ByteSource, SourceRestarted};
pub use spawn::{DecodeThread, KeyframeStream, spawn, spawn_on_thread};

/// How to extract keyframes from one recording.
#[derive(Debug, Clone)]
pub struct ExtractConfig {
    /// Width of the RGB images, in pixels (1..=8192). Default: 640.
    pub width: u32,
    /// Height of the RGB images, in pixels (1..=8192). Default: 360 (640x360 keeps a 16:9
    /// camera's aspect, is the size of the sub streams and of common face detector inputs).
    pub height: u32,
    /// The recording's name, copied into every keyframe and error. Default: empty.
    pub recording: String,
    /// When the recording starts on the wall clock; keyframes then carry
    /// [`Keyframe::wall_clock`]. Default: unknown.
    pub start: Option<jiff::Timestamp>,
    /// How many keyframe images (pooled [`FrameBuffer`]s of `width * height * 3` bytes) may
    /// exist at once, per extraction. When the consumer holds them all, the extraction
    /// waits until one is dropped: a slow consumer slows decoding, and memory stays
    /// bounded. At least 1. Default: 4 (with the 640x360 default, 2.8 MB).
    pub frame_buffers: usize,
    /// Threads decoding this recording (frame threading: consecutive keyframes at once).
    /// 1 when the box decodes as many recordings at once as it has cores, more to give one
    /// urgent recording every core. Default: 1.
    pub decoder_threads: usize,
    /// The camera's motion gates: with them, each keyframe's packet is held until its GOP
    /// has gone by and decoded only if the GOP gate says so ([`crate::motion`]); the
    /// keyframes that come out carry [`Keyframe::decoded_for`], and
    /// [`Summary::gates`] counts what the GOP gate did. Default: none (every keyframe).
    pub gates: Option<MotionGates>,
}

impl Default for ExtractConfig {
    fn default() -> ExtractConfig {
        ExtractConfig {
            width: 640,
            height: 360,
            recording: String::new(),
            start: None,
            frame_buffers: 4,
            decoder_threads: 1,
            gates: None,
        }
    }
}

/// One decoded keyframe. Its pixels are a pooled buffer: drop the keyframe when done with
/// the image (see [`ExtractConfig::frame_buffers`]).
pub struct Keyframe {
    pub recording: Arc<str>,
    /// The presentation timestamp, in [`Keyframe::time_base`] units; `None` when the stream
    /// has none for this frame.
    pub pts: Option<i64>,
    /// The stream's time base as (numerator, denominator) seconds, e.g. (1, 90000).
    pub time_base: (i32, i32),
    /// Time since the first keyframe: monotonic; a timestamp that is missing, goes
    /// backwards or jumps forward by more than 10 s counts as one frame after the previous
    /// keyframe.
    pub time: Duration,
    /// [`ExtractConfig::start`] + `time`.
    pub wall_clock: Option<jiff::Timestamp>,
    pub width: u32,
    pub height: u32,
    /// `width * height` pixels, row by row, 3 bytes each (R, G, B); derefs to `[u8]`.
    /// Dropping it returns the buffer to the extraction's pool.
    pub pixels: FrameBuffer,
    /// Why the GOP gate let this keyframe be decoded; `None` without gates. Hand the
    /// keyframe to [`MotionGates::judge_keyframe`] next.
    pub decoded_for: Option<DecodeReason>,
}

impl Keyframe {
    /// The timestamp in seconds, as `ffprobe` prints `pts_time`.
    pub fn pts_seconds(&self) -> Option<f64> {
        let (num, den) = self.time_base;
        let pts = self.pts?;
        (den != 0).then(|| pts as f64 * f64::from(num) / f64::from(den))
    }
}

impl std::fmt::Debug for Keyframe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyframe")
            .field("recording", &self.recording)
            .field("pts", &self.pts)
            .field("time_base", &self.time_base)
            .field("time", &self.time)
            .field("wall_clock", &self.wall_clock)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("pixels", &format_args!("{} bytes", self.pixels.len()))
            .field("decoded_for", &self.decoded_for)
            .finish()
    }
}

/// What an extraction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Keyframes handed to the callback.
    pub keyframes: u64,
    /// Packets demuxed, of every stream.
    pub packets_read: u64,
    /// Video packets dropped before the decoder for not being keyframes.
    pub packets_skipped: u64,
    /// Bytes read from the source, over all restarts.
    pub bytes_read: u64,
    /// Times the source restarted from byte 0 and the extraction followed it (at most
    /// [`MAX_RESTARTS`]).
    pub restarts: u32,
    /// What the GOP gate did (all zero without gates): `keyframes_total` keyframes seen,
    /// `keyframes_decoded` of them decoded, the rest skipped `static_gop`. After a restart
    /// the keyframes before it are judged (and counted) again.
    pub gates: GateCounters,
}
