//! The real video clips recordings are made of, loaded once and shared by every download.
//!
//! A program stream clip is scanned once ([`super::mpeg_ps::scan`]) so that a repetition of
//! it can be produced by copying its bytes and rewriting the clock fields found; an MP4
//! clip is served as it is. A clip that is missing names the file and says how to make it.

use std::{
    ops::Range,
    path::{Path, PathBuf},
    sync::Mutex,
};

use bytes::{Bytes, BytesMut};

use super::{
    Container, SimError,
    body::MARK_LEN,
    mpeg_ps::{self, CLOCK_FIELD_LEN, CLOCK_WRAP, PsLayout},
};

/// How far into a clip [`Clip::video_codec`] looks for a parameter set.
const SNIFF_BYTES: usize = 256 * 1024;

/// The codec of one channel's recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    /// As ISAPI writes it (`videoCodecType`, `codecType`).
    pub(crate) fn isapi_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H.264",
            VideoCodec::H265 => "H.265",
        }
    }
}

/// What kind of file a clip is.
#[derive(Debug, Clone)]
pub(crate) enum ClipFormat {
    Ps(PsLayout),
    Mp4,
}

/// One clip file, its bytes shared by every download that uses it.
pub(crate) struct Clip {
    pub(crate) path: PathBuf,
    pub(crate) data: Bytes,
    pub(crate) format: ClipFormat,
    /// CRC-32s of each repetition's bytes before and after its mark, as far as computed
    /// (see [`super::checksum`]).
    pub(crate) repetition_crcs: Mutex<Vec<(u32, u32)>>,
}

impl std::fmt::Debug for Clip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clip")
            .field("path", &self.path)
            .field("bytes", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl Clip {
    /// The clip file for a codec and container in `dir`.
    pub(crate) fn file_name(codec: VideoCodec, container: Container) -> Option<&'static str> {
        match (codec, container) {
            (VideoCodec::H264, Container::Ps) => Some("h264.ps"),
            (VideoCodec::H265, Container::Ps) => Some("h265.ps"),
            (VideoCodec::H264, Container::Mp4) => Some("h264.mp4"),
            (VideoCodec::H265, Container::Mp4) => None,
        }
    }

    /// Reads and checks a clip.
    pub(crate) fn load(
        dir: &Path,
        codec: VideoCodec,
        container: Container,
    ) -> Result<Clip, SimError> {
        let name = Self::file_name(codec, container).ok_or_else(|| SimError::ClipMissing {
            path: dir.join("h265.mp4"),
            source: std::io::Error::other("there is no H.265 MP4 clip; use the PS container"),
        })?;
        Self::read(dir.join(name), container)
    }

    /// Reads and checks a program stream clip of a recording of its own
    /// ([`super::RecordingClip`]).
    pub(crate) fn load_ps(path: &Path) -> Result<Clip, SimError> {
        Self::read(path.to_owned(), Container::Ps)
    }

    fn read(path: PathBuf, container: Container) -> Result<Clip, SimError> {
        let data = std::fs::read(&path).map_err(|source| SimError::ClipMissing {
            path: path.clone(),
            source,
        })?;
        let format = match container {
            Container::Ps => {
                let layout = mpeg_ps::scan(&data).map_err(|e| SimError::ClipFormat {
                    path: path.clone(),
                    offset: e.offset,
                    reason: e.reason,
                })?;
                if layout.duration == 0 {
                    return Err(SimError::ClipFormat {
                        path,
                        offset: 0,
                        reason: "the clip plays for no time".to_owned(),
                    });
                }
                ClipFormat::Ps(layout)
            }
            Container::Mp4 => {
                if data.get(4..8) != Some(b"ftyp".as_slice()) {
                    return Err(SimError::ClipFormat {
                        path,
                        offset: 4,
                        reason: "an MP4 file starts with an ftyp box".to_owned(),
                    });
                }
                ClipFormat::Mp4
            }
        };
        tracing::debug!(path = %path.display(), bytes = data.len(), "loaded clip");
        Ok(Clip {
            path,
            data: Bytes::from(data),
            format,
            repetition_crcs: Mutex::new(Vec::new()),
        })
    }

    /// The codec of the video, from the first parameter set after a start code: an H.264
    /// SPS (NAL type 7) or an H.265 VPS (NAL type 32). `None` when neither is found in the
    /// first [`SNIFF_BYTES`] bytes. No program stream start code (`00 00 01 B9`..`FF`)
    /// looks like either.
    pub(crate) fn video_codec(&self) -> Option<VideoCodec> {
        let head = &self.data[..self.data.len().min(SNIFF_BYTES)];
        head.windows(5).find_map(|w| match w {
            [0, 0, 1, nal, _] if nal & 0x9F == 0x07 => Some(VideoCodec::H264),
            [0, 0, 1, 0x40, 0x01] => Some(VideoCodec::H265),
            _ => None,
        })
    }

    /// How far repetition `rep`'s clocks move, in clock ticks (mod 2^33).
    pub(crate) fn clock_shift(&self, rep: u64) -> u64 {
        match &self.format {
            ClipFormat::Ps(layout) => {
                (u128::from(rep) * u128::from(layout.duration) % u128::from(CLOCK_WRAP)) as u64
            }
            ClipFormat::Mp4 => 0,
        }
    }

    /// Appends clip bytes `range` as repetition `rep` has them (clocks moved) to `out`.
    pub(crate) fn extend_repetition(&self, range: Range<usize>, rep: u64, out: &mut BytesMut) {
        let start = out.len();
        out.extend_from_slice(&self.data[range.clone()]);
        let shift = self.clock_shift(rep);
        let ClipFormat::Ps(layout) = &self.format else {
            return;
        };
        if shift == 0 {
            return;
        }
        let copied = &mut out[start..];
        let first = layout
            .clocks
            .partition_point(|c| c.offset + CLOCK_FIELD_LEN <= range.start);
        for clock in layout.clocks[first..]
            .iter()
            .take_while(|c| c.offset < range.end)
        {
            let mut field = [0; CLOCK_FIELD_LEN];
            field.copy_from_slice(&self.data[clock.offset..clock.offset + CLOCK_FIELD_LEN]);
            mpeg_ps::write_clock(&mut field, clock.layout, clock.value + shift);
            let lo = clock.offset.max(range.start);
            let hi = (clock.offset + CLOCK_FIELD_LEN).min(range.end);
            copied[lo - range.start..hi - range.start]
                .copy_from_slice(&field[lo - clock.offset..hi - clock.offset]);
        }
    }

    /// The mark carrying `text` that starts each repetition's packets: a padding packet
    /// (PS) or a `free` box (MP4) of [`MARK_LEN`] bytes.
    pub(crate) fn mark(&self, text: &str) -> Vec<u8> {
        match self.format {
            ClipFormat::Ps(_) => mpeg_ps::padding_packet(text, MARK_LEN),
            ClipFormat::Mp4 => free_box(text, MARK_LEN),
        }
    }
}

/// An MP4 `free` box of exactly `total_len` bytes carrying `text`, then zero fill.
fn free_box(text: &str, total_len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(total_len);
    bytes.extend_from_slice(&(total_len as u32).to_be_bytes());
    bytes.extend_from_slice(b"free");
    let room = total_len.saturating_sub(8);
    bytes.extend_from_slice(&text.as_bytes()[..text.len().min(room)]);
    bytes.resize(total_len, 0);
    bytes
}
