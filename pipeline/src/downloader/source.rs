//! A download's events as the keyframe extractor's [`ByteSource`].

use std::io;

use tokio::sync::mpsc::Receiver;

use super::{Event, pool::Chunk};
use crate::keyframes::{ByteSource, SourceRestarted};

/// The downloader's events for one recording, read with `blocking_recv`: `Data` chunks are
/// copied out (and returned to the pool once consumed), `Done` is the end, `Started` is
/// ignored. A `Restart` (the downloader fetches the recording again from byte 0) fails the
/// read with a marker error; [`crate::keyframes::extract`] catches it, reopens FFmpeg on the bytes
/// that follow and skips the keyframes it already handed out. A channel closed before
/// `Done` fails with [`crate::keyframes::KeyframeError::Io`]. Not seekable.
///
/// `blocking_recv` panics inside an async context, so the extractor must run on a blocking
/// thread (`spawn_blocking`); were it not, the read fails with an error rather than a panic.
#[derive(Debug)]
pub struct EventSource {
    events: Receiver<Event>,
    /// The chunk being copied out and how much of it was.
    current: Option<(Chunk, usize)>,
    done: bool,
}

impl EventSource {
    pub fn new(events: Receiver<Event>) -> EventSource {
        EventSource {
            events,
            current: None,
            done: false,
        }
    }
}

impl From<Receiver<Event>> for EventSource {
    fn from(events: Receiver<Event>) -> EventSource {
        EventSource::new(events)
    }
}

impl ByteSource for EventSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((chunk, used)) = &mut self.current {
                let rest = &chunk[*used..];
                if !rest.is_empty() {
                    let n = rest.len().min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    *used += n;
                    return Ok(n);
                }
                self.current = None;
            }
            if self.done {
                return Ok(0);
            }
            match self.events.blocking_recv() {
                Some(Event::Data(chunk)) => self.current = Some((chunk, 0)),
                Some(Event::Started { .. }) => {}
                Some(Event::Done { .. }) => self.done = true,
                Some(Event::Restart { reason, .. }) => {
                    return Err(io::Error::other(SourceRestarted { reason }));
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the download ended before the whole recording was sent",
                    ));
                }
            }
        }
    }
}
