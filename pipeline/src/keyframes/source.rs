//! Where the extractor's bytes come from: [`ByteSource`] (a file, bytes in memory, or the
//! downloader's events through `downloader::EventSource`) and the [`Reader`] the FFmpeg
//! callbacks call, which counts bytes and turns source failures into [`KeyframeError`]s.
//! A source that starts over from byte 0 says so with [`SourceRestarted`].

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

use super::KeyframeError;

/// A blocking source of a recording's bytes, read from the extractor's thread.
///
/// Only `read` is required. A source that can also seek (a file) says so with
/// [`ByteSource::is_seekable`]: FFmpeg then may jump, which MP4 files with the index
/// (`moov`) at the end need.
pub trait ByteSource: Send {
    /// Reads up to `buf.len()` bytes; `Ok(0)` is the end of the recording.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Whether [`ByteSource::seek`] works. Default: no.
    fn is_seekable(&self) -> bool {
        false
    }

    /// Moves the read position. Default: unsupported.
    fn seek(&mut self, _position: SeekFrom) -> io::Result<u64> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// The total size in bytes, when known. Default: unknown.
    fn size(&mut self) -> Option<u64> {
        None
    }
}

impl ByteSource for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(self, buf)
    }

    fn is_seekable(&self) -> bool {
        true
    }

    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        Seek::seek(self, position)
    }

    fn size(&mut self) -> Option<u64> {
        self.metadata().ok().map(|m| m.len())
    }
}

/// Bytes in memory (tests, small recordings); seekable.
impl<T: AsRef<[u8]> + Send> ByteSource for Cursor<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(self, buf)
    }

    fn is_seekable(&self) -> bool {
        true
    }

    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        Seek::seek(self, position)
    }

    fn size(&mut self) -> Option<u64> {
        Some(self.get_ref().as_ref().len() as u64)
    }
}

/// The error a [`ByteSource`] returns when its recording starts again from byte 0 (a
/// download retried or preempted): [`super::extract`] then reopens FFmpeg on the bytes that
/// follow and skips the keyframes it already handed out. Return it as
/// `io::Error::other(SourceRestarted { .. })`.
#[derive(Debug, thiserror::Error)]
#[error("the source restarted: {reason}")]
pub struct SourceRestarted {
    pub reason: String,
}

/// Why the [`Reader`] stopped reading.
#[derive(Debug)]
enum Failure {
    Restarted,
    NeedsFile,
    Io(io::Error),
}

/// Wraps the [`ByteSource`] for FFmpeg's callbacks: counts bytes, watches a stream for an
/// MP4 whose index comes after its media, and keeps the first failure.
#[derive(Debug)]
pub(super) struct Reader {
    source: Box<dyn ByteSourceDebug>,
    seekable: bool,
    /// The position of the next byte read.
    offset: u64,
    /// Bytes read in all (more than `offset` when FFmpeg seeks back).
    bytes_read: u64,
    failure: Option<(Failure, u64)>,
    mp4: Mp4Layout,
}

/// `ByteSource` plus `Debug` for the boxed source (any source, printed opaquely).
trait ByteSourceDebug: ByteSource {}
impl<T: ByteSource> ByteSourceDebug for T {}
impl std::fmt::Debug for dyn ByteSourceDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ByteSource")
    }
}

impl Reader {
    pub(super) fn new(source: impl ByteSource + 'static) -> Reader {
        let seekable = source.is_seekable();
        Reader {
            source: Box::new(source),
            seekable,
            offset: 0,
            bytes_read: 0,
            failure: None,
            mp4: Mp4Layout::default(),
        }
    }

    pub(super) fn is_seekable(&self) -> bool {
        self.seekable
    }

    /// The position of the next byte.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    pub(super) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads into `buf`: `Ok(0)` at the end, `Err` after a failure (kept for
    /// [`Reader::failure`]).
    pub(super) fn read(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        if self.failure.is_some() {
            return Err(());
        }
        let n = loop {
            match self.source.read(buf) {
                Ok(n) => break n.min(buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let failure = if e
                        .get_ref()
                        .is_some_and(|inner| inner.is::<SourceRestarted>())
                    {
                        Failure::Restarted
                    } else {
                        Failure::Io(e)
                    };
                    self.failure = Some((failure, self.offset));
                    return Err(());
                }
            }
        };
        if !self.seekable
            && let Some(media_at) = self.mp4.feed(self.offset, &buf[..n])
        {
            self.failure = Some((Failure::NeedsFile, media_at));
            return Err(());
        }
        self.offset += n as u64;
        self.bytes_read += n as u64;
        Ok(n)
    }

    /// Seeks (`whence`: SEEK_SET 0, SEEK_CUR 1, SEEK_END 2); the new position, or `None`.
    pub(super) fn seek(&mut self, offset: i64, whence: i32) -> Option<u64> {
        let position = match whence {
            0 => SeekFrom::Start(u64::try_from(offset).ok()?),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return None,
        };
        let position = self.source.seek(position).ok()?;
        self.offset = position;
        Some(position)
    }

    pub(super) fn size(&mut self) -> Option<u64> {
        self.source.size()
    }

    /// Records that the source panicked (caught before it reached FFmpeg).
    pub(super) fn note_panic(&mut self) {
        if self.failure.is_none() {
            let error = io::Error::other("the byte source panicked");
            self.failure = Some((Failure::Io(error), self.offset));
        }
    }

    /// The error to report if reading stopped because of the source, taking it.
    pub(super) fn take_failure(&mut self, recording: &Arc<str>) -> Option<KeyframeError> {
        let (failure, offset) = self.failure.take()?;
        let recording = recording.clone();
        Some(match failure {
            Failure::Restarted => KeyframeError::Restarted { recording, offset },
            Failure::NeedsFile => KeyframeError::NeedsFile { recording, offset },
            Failure::Io(source) => KeyframeError::Io {
                recording,
                offset,
                source,
            },
        })
    }

    pub(super) fn has_failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Whether reading stopped because the source restarted (the bytes read so far are
    /// void; a packet demuxed since may be cut short).
    pub(super) fn is_restarting(&self) -> bool {
        matches!(self.failure, Some((Failure::Restarted, _)))
    }

    /// Starts reading the source's new bytes as a new input at offset 0, after a restart.
    /// `bytes_read` keeps counting.
    pub(super) fn restart(&mut self) {
        self.offset = 0;
        self.failure = None;
        self.mp4 = Mp4Layout::default();
    }
}

/// Follows an MP4's top-level boxes as bytes go by, to tell, before reading the media, that
/// the index (`moov`) comes after it (`mdat`): such a file cannot be read from a stream.
#[derive(Debug, Default)]
struct Mp4Layout {
    /// Stopped following: not MP4, `moov` seen, or a box to the end of the file.
    finished: bool,
    box_start: u64,
    header: [u8; 16],
    header_len: usize,
}

impl Mp4Layout {
    /// Feeds the bytes at `offset`; `Some(position of mdat)` when `mdat` precedes `moov`.
    fn feed(&mut self, offset: u64, data: &[u8]) -> Option<u64> {
        let mut i = 0;
        while i < data.len() && !self.finished {
            let at = offset + i as u64;
            if at < self.box_start {
                let skip = (self.box_start - at).min((data.len() - i) as u64);
                i += skip as usize;
                continue;
            }
            self.header[self.header_len] = data[i];
            self.header_len += 1;
            i += 1;
            if self.header_len < 8 {
                continue;
            }
            let size32 = u32::from_be_bytes([
                self.header[0],
                self.header[1],
                self.header[2],
                self.header[3],
            ]);
            let kind = [
                self.header[4],
                self.header[5],
                self.header[6],
                self.header[7],
            ];
            if self.box_start == 0 && &kind != b"ftyp" {
                self.finished = true;
                break;
            }
            if &kind == b"mdat" {
                self.finished = true;
                return Some(self.box_start);
            }
            if &kind == b"moov" || size32 == 0 {
                self.finished = true;
                break;
            }
            let size = if size32 == 1 {
                if self.header_len < 16 {
                    continue;
                }
                let mut large = [0; 8];
                large.copy_from_slice(&self.header[8..16]);
                u64::from_be_bytes(large)
            } else {
                u64::from(size32)
            };
            if size < self.header_len as u64 {
                self.finished = true;
                break;
            }
            self.box_start += size;
            self.header_len = 0;
        }
        None
    }
}
