//! [`KeyframeError`]: why an extraction stopped, with the recording and the byte offset.

use std::sync::Arc;

/// Why an extraction failed. Every variant names the recording and, where it applies, the
/// byte offset in the input where the problem was found. Keyframes decoded before the
/// problem have already been handed to the callback.
#[derive(Debug, thiserror::Error)]
pub enum KeyframeError {
    #[error("{recording}: the input is empty")]
    Empty { recording: Arc<str> },
    #[error("{recording}: unrecognised container (read {offset} bytes): {detail}")]
    Unrecognised {
        recording: Arc<str>,
        offset: u64,
        detail: String,
    },
    #[error("{recording}: no video stream in the {container} container (at byte {offset})")]
    NoVideo {
        recording: Arc<str>,
        container: String,
        offset: u64,
    },
    #[error("{recording}: unsupported video codec {codec} (at byte {offset}); H.264 and H.265 are")]
    UnsupportedCodec {
        recording: Arc<str>,
        codec: String,
        offset: u64,
    },
    #[error("{recording}: corrupt or truncated input at byte {offset}: {detail}")]
    Corrupt {
        recording: Arc<str>,
        offset: u64,
        detail: String,
    },
    /// The downloader restarted the recording (a retry); the bytes so far are void.
    #[error(
        "{recording}: the download restarted after {offset} bytes; extract again from the start"
    )]
    Restarted { recording: Arc<str>, offset: u64 },
    /// An MP4 whose index (`moov`) follows its media (`mdat`, at `offset`) came as a stream.
    #[error(
        "{recording}: MP4 with its index after the media (mdat at byte {offset}) cannot be read \
         from a stream; read it from the file in the disk cache"
    )]
    NeedsFile { recording: Arc<str>, offset: u64 },
    #[error("{recording}: reading the input failed at byte {offset}: {source}")]
    Io {
        recording: Arc<str>,
        offset: u64,
        source: std::io::Error,
    },
    #[error("{recording}: invalid extraction settings: {detail}")]
    InvalidConfig { recording: Arc<str>, detail: String },
    /// FFmpeg failed for a reason that is not the input's (out of memory, a conversion
    /// swscale refuses).
    #[error("{recording}: FFmpeg failed at byte {offset}: {detail}")]
    Ffmpeg {
        recording: Arc<str>,
        offset: u64,
        detail: String,
    },
}

impl KeyframeError {
    /// The recording the error is about.
    pub fn recording(&self) -> &str {
        match self {
            KeyframeError::Empty { recording }
            | KeyframeError::Unrecognised { recording, .. }
            | KeyframeError::NoVideo { recording, .. }
            | KeyframeError::UnsupportedCodec { recording, .. }
            | KeyframeError::Corrupt { recording, .. }
            | KeyframeError::Restarted { recording, .. }
            | KeyframeError::NeedsFile { recording, .. }
            | KeyframeError::Io { recording, .. }
            | KeyframeError::InvalidConfig { recording, .. }
            | KeyframeError::Ffmpeg { recording, .. } => recording,
        }
    }

    /// The byte offset in the input the error refers to, when there is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            KeyframeError::Empty { .. } => Some(0),
            KeyframeError::InvalidConfig { .. } => None,
            KeyframeError::Unrecognised { offset, .. }
            | KeyframeError::NoVideo { offset, .. }
            | KeyframeError::UnsupportedCodec { offset, .. }
            | KeyframeError::Corrupt { offset, .. }
            | KeyframeError::Restarted { offset, .. }
            | KeyframeError::NeedsFile { offset, .. }
            | KeyframeError::Io { offset, .. }
            | KeyframeError::Ffmpeg { offset, .. } => Some(*offset),
        }
    }
}
