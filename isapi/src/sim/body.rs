//! The bytes of a recording, made on the fly from one clip, 64 KiB at a time.
//!
//! A program stream recording of R minutes is the clip repeated `ceil(R*60 / clip length)`
//! times. Each repetition is the clip with one padding packet (`00 00 01 BE`, 256 bytes in
//! all) inserted after its first pack header and system header; the packet's text names the
//! recording and the repetition (`dipper-sim device=<serial> track=101
//! start=20261124T100000 rep=7`, then `0xFF` fill), so every recording's bytes differ. Every
//! SCR, PTS and DTS of repetition `n` is moved `n` clip lengths later (33-bit wrap), so the
//! recording plays as one continuous stream of about R minutes. The body therefore starts
//! with `00 00 01 BA` and is `reps * (clip bytes + 256)` long (plus 4 when the clip ends with
//! a program end code, which then ends the recording once).
//!
//! An MP4 recording is the clip as it is, one clip long whatever R is, followed by a
//! 256-byte top-level `free` box carrying the same text (players skip it).
//!
//! Nothing is generated ahead: a body keeps a position, and [`RecordingBody::next_chunk`]
//! copies the clip bytes of the next chunk and rewrites the clock fields inside it; a chunk
//! needing no rewrite is a zero-copy slice of the shared clip.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use serde::Serialize;

use super::{
    checksum,
    clip::{Clip, ClipFormat},
    mpeg_ps::CLOCK_HZ,
};

/// Length of the padding packet (PS) or `free` box (MP4) that marks each repetition.
pub(crate) const MARK_LEN: usize = 256;

/// The size and CRC-32 (`crc32fast`, IEEE) of the exact body an undamaged download returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecordingChecksum {
    pub bytes: u64,
    pub crc32: u32,
}

/// Where a body position falls.
enum Part {
    /// Clip bytes from `offset`, in repetition `rep`.
    Clip {
        rep: u64,
        offset: usize,
        avail: usize,
    },
    /// The repetition's mark (padding packet or free box) from `offset`.
    Mark {
        rep: u64,
        offset: usize,
        avail: usize,
    },
    /// The program end code from `offset`.
    Trailer { offset: usize, avail: usize },
}

/// One recording's body, read front to back.
#[derive(Debug)]
pub(crate) struct RecordingBody {
    clip: Arc<Clip>,
    tag: String,
    reps: u64,
    len: u64,
    pos: u64,
    mark: Option<(u64, Vec<u8>)>,
}

impl RecordingBody {
    /// The body of a recording lasting `play_seconds`, marked with `tag`
    /// (`dipper-sim device=... track=... start=...`).
    pub(crate) fn new(clip: Arc<Clip>, tag: String, play_seconds: u64) -> Self {
        let reps = Self::repetitions(&clip, play_seconds);
        let len = Self::len_of(&clip, reps);
        RecordingBody {
            clip,
            tag,
            reps,
            len,
            pos: 0,
            mark: None,
        }
    }

    /// The body's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// How many times the clip is repeated to last `play_seconds` (at least once).
    fn repetitions(clip: &Clip, play_seconds: u64) -> u64 {
        match &clip.format {
            ClipFormat::Ps(layout) => (play_seconds * CLOCK_HZ).div_ceil(layout.duration).max(1),
            ClipFormat::Mp4 => 1,
        }
    }

    fn len_of(clip: &Clip, reps: u64) -> u64 {
        match &clip.format {
            ClipFormat::Ps(layout) => {
                reps * (layout.content_len + MARK_LEN) as u64
                    + if layout.has_end_code { 4 } else { 0 }
            }
            ClipFormat::Mp4 => (clip.data.len() + MARK_LEN) as u64,
        }
    }

    /// The next at most `max` bytes, or `None` at the end.
    pub(crate) fn next_chunk(&mut self, max: usize) -> Option<Bytes> {
        let left = self.len.checked_sub(self.pos).filter(|&left| left > 0)?;
        let want = usize::try_from(left).map_or(max, |left| left.min(max));
        if want == 0 {
            return None;
        }
        let mut buf = BytesMut::new();
        while buf.len() < want {
            let room = want - buf.len();
            let n = match self.locate(self.pos) {
                Part::Clip { rep, offset, avail } => {
                    let n = room.min(avail);
                    if self.clip.clock_shift(rep) == 0 && buf.is_empty() && n == want {
                        self.pos += n as u64;
                        return Some(self.clip.data.slice(offset..offset + n));
                    }
                    buf.reserve(want - buf.len());
                    self.clip
                        .extend_repetition(offset..offset + n, rep, &mut buf);
                    n
                }
                Part::Mark { rep, offset, avail } => {
                    let n = room.min(avail);
                    buf.reserve(want - buf.len());
                    let mark = self.mark(rep);
                    buf.extend_from_slice(&mark[offset..offset + n]);
                    n
                }
                Part::Trailer { offset, avail } => {
                    let n = room.min(avail);
                    let end = [0, 0, 1, 0xB9];
                    buf.extend_from_slice(&end[offset..offset + n]);
                    n
                }
            };
            if n == 0 {
                // Cannot happen with a consistent layout; stop rather than loop.
                tracing::error!(
                    pos = self.pos,
                    len = self.len,
                    "recording body layout is inconsistent"
                );
                break;
            }
            self.pos += n as u64;
        }
        Some(buf.freeze())
    }

    /// The whole body's size and CRC-32, without reading it through: the CRCs of the
    /// clip's repetitions are computed once per clip ([`super::checksum`]) and combined
    /// with those of the marks.
    pub(crate) fn checksum(&self) -> RecordingChecksum {
        let crc32 = checksum::body_crc(&self.clip, self.reps, |rep| {
            self.clip.mark(&format!("{} rep={rep}", self.tag))
        });
        RecordingChecksum {
            bytes: self.len,
            crc32,
        }
    }

    /// The whole body's size and CRC-32, reading it through (what a client does).
    #[cfg(test)]
    pub(crate) fn checksum_by_reading(mut self) -> RecordingChecksum {
        let mut hasher = crc32fast::Hasher::new();
        let bytes = self.len;
        while let Some(chunk) = self.next_chunk(1 << 20) {
            hasher.update(&chunk);
        }
        RecordingChecksum {
            bytes,
            crc32: hasher.finalize(),
        }
    }

    fn locate(&self, pos: u64) -> Part {
        let avail = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        match &self.clip.format {
            ClipFormat::Ps(layout) => {
                let rep_len = (layout.content_len + MARK_LEN) as u64;
                let insert = layout.first_packet_at.min(layout.content_len) as u64;
                if pos >= self.reps * rep_len {
                    let offset = pos - self.reps * rep_len;
                    return Part::Trailer {
                        offset: avail(offset),
                        avail: 4 - avail(offset.min(4)),
                    };
                }
                let rep = pos / rep_len;
                let at = pos % rep_len;
                if at < insert {
                    Part::Clip {
                        rep,
                        offset: avail(at),
                        avail: avail(insert - at),
                    }
                } else if at < insert + MARK_LEN as u64 {
                    Part::Mark {
                        rep,
                        offset: avail(at - insert),
                        avail: avail(insert + MARK_LEN as u64 - at),
                    }
                } else {
                    Part::Clip {
                        rep,
                        offset: avail(at - MARK_LEN as u64),
                        avail: avail(rep_len - at),
                    }
                }
            }
            ClipFormat::Mp4 => {
                let clip_len = self.clip.data.len() as u64;
                if pos < clip_len {
                    Part::Clip {
                        rep: 0,
                        offset: avail(pos),
                        avail: avail(clip_len - pos),
                    }
                } else {
                    let offset = avail(pos - clip_len);
                    Part::Mark {
                        rep: 0,
                        offset,
                        avail: MARK_LEN.saturating_sub(offset),
                    }
                }
            }
        }
    }

    /// The mark of repetition `rep`, made when first needed.
    fn mark(&mut self, rep: u64) -> &[u8] {
        if self.mark.as_ref().is_none_or(|(r, _)| *r != rep) {
            let bytes = self.clip.mark(&format!("{} rep={rep}", self.tag));
            self.mark = Some((rep, bytes));
        }
        self.mark
            .as_ref()
            .map_or(&[], |(_, bytes)| bytes.as_slice())
    }
}
