//! [`extract`]: the demux, decode, convert loop.

use std::collections::VecDeque;
use std::ffi::c_int;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use super::clock::Clock;
use super::ffi::{self, Decoder, Frame, Input, Packet, Scaler};
use super::frames::FramePool;
use super::gated::{GopWatch, Judged};
use super::source::Reader;
use super::{ByteSource, ExtractConfig, Keyframe, KeyframeError, Summary};
use crate::motion::{DecodeReason, GopVerdict, MotionGates};

/// Bytes FFmpeg may read to recognise the container and its streams (FFmpeg's default is
/// 5 MB); enough for two GOPs of a 4 Mbit/s main stream.
const PROBE_BYTES: i64 = 2 * 1024 * 1024;
/// Media FFmpeg may analyse for stream parameters, in microseconds (FFmpeg's default).
const ANALYZE_MICROSECONDS: i64 = 5_000_000;
/// Largest image side accepted in [`ExtractConfig`].
const MAX_SIDE: u32 = 8192;

/// Restarts of the source (the downloader fetching the recording again from byte 0) that
/// one extraction follows; one more ends it with [`KeyframeError::Restarted`].
pub const MAX_RESTARTS: u32 = 8;

/// Extracts the keyframes of one recording from `source`, calling `on_keyframe` with each,
/// in order, until the end of the input or until it returns `Break`.
///
/// Blocking; run it on a blocking thread. On damaged input the keyframes before the damage
/// have been passed to `on_keyframe` when the error is returned.
///
/// Each keyframe's pixels are in one of [`ExtractConfig::frame_buffers`] pooled buffers:
/// when all are held (by keyframes not yet dropped), the extraction waits for one to be
/// dropped. `on_keyframe` must therefore not keep that many keyframes itself (it runs on
/// the extraction's thread, which would wait forever): hand them to another thread, or
/// copy the pixels out.
///
/// When the source restarts (a [`super::SourceRestarted`] error from the source), FFmpeg is
/// reopened on the new bytes and the keyframes already handed out are skipped: those with a
/// pts not after the last one handed out (or, without timestamps, as many as were handed
/// out); see [`MAX_RESTARTS`] and [`Summary::restarts`].
pub fn extract(
    source: impl ByteSource + 'static,
    config: &ExtractConfig,
    mut on_keyframe: impl FnMut(Keyframe) -> ControlFlow<()>,
) -> Result<Summary, KeyframeError> {
    ffi::quiet_logs();
    let recording: Arc<str> = Arc::from(config.recording.as_str());
    for (name, side) in [("width", config.width), ("height", config.height)] {
        if side == 0 || side > MAX_SIDE {
            return Err(KeyframeError::InvalidConfig {
                recording,
                detail: format!("{name} {side} is not in 1..={MAX_SIDE}"),
            });
        }
    }
    if config.frame_buffers == 0 {
        return Err(KeyframeError::InvalidConfig {
            recording,
            detail: "frame_buffers is 0; at least 1 is needed".to_owned(),
        });
    }
    let scaler = Scaler::new(config.width, config.height);
    let mut progress = Progress {
        recording: recording.clone(),
        start: config.start,
        width: config.width,
        height: config.height,
        pool: FramePool::new(config.frame_buffers, scaler.buffer_len()),
        scaler,
        clock: None,
        summary: Summary::default(),
        last_pts: None,
        resume: None,
        gates: config.gates.clone(),
    };
    let mut reader = Reader::new(source);
    loop {
        let mut input = Input::new(reader).map_err(|code| ffmpeg_error(&recording, 0, code))?;
        let result = Extraction::start(&mut input, &mut progress, config.decoder_threads).and_then(
            |mut extraction| {
                let result = extraction.run(&mut input, &mut progress, &mut on_keyframe);
                if let Some(watch) = &extraction.watch {
                    progress.summary.gates += watch.counters;
                }
                result
            },
        );
        // A failure found while the source restarts is the restart's doing.
        let restarted = input.reader().is_restarting()
            || matches!(result, Err(KeyframeError::Restarted { .. }));
        let result = match result {
            Err(_) if restarted && progress.summary.restarts < MAX_RESTARTS => {
                progress.restart();
                reader = input.into_reader();
                reader.restart();
                continue;
            }
            Err(KeyframeError::Restarted { offset, .. }) => Err(offset),
            Err(_) if restarted => Err(input.reader().offset()),
            result => Ok(result),
        };
        progress.summary.bytes_read = input.reader().bytes_read();
        return match result {
            Ok(result) => result.map(|()| progress.summary),
            Err(offset) => Err(KeyframeError::Restarted { recording, offset }),
        };
    }
}

/// What outlives one opening of the input: the settings, the frame pool, the clock, the
/// counts, and after a restart which keyframes to skip.
struct Progress {
    recording: Arc<str>,
    start: Option<jiff::Timestamp>,
    width: u32,
    height: u32,
    pool: FramePool,
    scaler: Scaler,
    /// Made from the first opening's stream; goes on across restarts.
    clock: Option<Clock>,
    summary: Summary,
    /// The pts of the last keyframe handed out.
    last_pts: Option<i64>,
    /// Set by a restart until the new bytes pass the last keyframe handed out.
    resume: Option<Resume>,
    /// The camera's motion gates, when the extraction is gated.
    gates: Option<MotionGates>,
}

/// Where the keyframes handed out before a restart end.
#[derive(Debug, Clone, Copy)]
struct Resume {
    /// The last keyframe's pts.
    last_pts: Option<i64>,
    /// Keyframes handed out in all.
    handed_out: u64,
    /// Keyframes decoded since the restart.
    seen: u64,
}

impl Progress {
    fn restart(&mut self) {
        self.summary.restarts += 1;
        let last_pts = match self.resume {
            // Restarted again before catching up: the same keyframes are handed out.
            Some(resume) => resume.last_pts,
            None => self.last_pts,
        };
        self.resume = Some(Resume {
            last_pts,
            handed_out: self.summary.keyframes,
            seen: 0,
        });
    }

    /// Whether a keyframe with `pts`, just decoded, was handed out before a restart.
    fn is_replay(&mut self, pts: Option<i64>) -> bool {
        let Some(resume) = &mut self.resume else {
            return false;
        };
        resume.seen += 1;
        let replay = match (resume.last_pts, pts) {
            (Some(last), Some(pts)) => pts <= last,
            _ => resume.seen <= resume.handed_out,
        };
        if !replay {
            self.resume = None;
        }
        replay
    }
}

struct Extraction {
    stream: ffi::StreamInfo,
    decoder: Decoder,
    packet: Packet,
    frame: Frame,
    /// The first damaged packet, reported at the end.
    first_damage: Option<KeyframeError>,
    /// The GOP gate, when the extraction is gated.
    watch: Option<GopWatch>,
    /// Keyframes sent to the decoder through the GOP gate, oldest first: pts, time and
    /// why, for the frames as they come out.
    pending: VecDeque<(Option<i64>, Duration, DecodeReason)>,
}

/// Which packet [`Extraction::send`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    /// The packet just read.
    Read,
    /// The keyframe the GOP gate held.
    Held,
    /// None: the end of the stream, to flush the decoder.
    End,
}

impl Extraction {
    /// Opens the input, finds the video stream and opens its decoder.
    fn start(
        input: &mut Input,
        progress: &mut Progress,
        decoder_threads: usize,
    ) -> Result<Extraction, KeyframeError> {
        let recording = progress.recording.clone();
        open_container(input, &recording)?;
        let stream = video_stream(input, &recording)?;
        let decoder = open_decoder(input, &recording, &stream, decoder_threads)?;
        let offset = input.position();
        let packet = Packet::new().map_err(|code| ffmpeg_error(&recording, offset, code))?;
        let frame = Frame::new().map_err(|code| ffmpeg_error(&recording, offset, code))?;
        progress
            .clock
            .get_or_insert_with(|| Clock::new(stream.time_base, stream.frame_rate));
        let watch = match &progress.gates {
            Some(gates) => {
                let blank = || Packet::new().map_err(|code| ffmpeg_error(&recording, offset, code));
                Some(GopWatch::new(
                    gates.clone(),
                    [blank()?, blank()?],
                    stream.time_base,
                    progress.start,
                ))
            }
            None => None,
        };
        Ok(Extraction {
            stream,
            decoder,
            packet,
            frame,
            first_damage: None,
            watch,
            pending: VecDeque::new(),
        })
    }

    fn run(
        &mut self,
        input: &mut Input,
        progress: &mut Progress,
        on_keyframe: &mut impl FnMut(Keyframe) -> ControlFlow<()>,
    ) -> Result<(), KeyframeError> {
        let recording = progress.recording.clone();
        loop {
            match input.read_packet(&mut self.packet) {
                Ok(()) => {}
                Err(ffi::END_OF_FILE) => break,
                Err(code) => {
                    if !input.reader().has_failed() {
                        self.note_damage(&recording, input.position(), code, "reading a packet");
                    }
                    break;
                }
            }
            if input.reader().is_restarting() {
                // The packet may be cut short by the restart; the new bytes bring it whole.
                break;
            }
            progress.summary.packets_read += 1;
            if self.packet.stream_index() != self.stream.index {
                continue;
            }
            let offset = self.packet.position().unwrap_or_else(|| input.position());
            if self.watch.is_some() {
                let judged = self.watch_packet(progress, offset);
                if self
                    .decode_judged(progress, judged, on_keyframe)?
                    .is_break()
                {
                    return Ok(());
                }
                continue;
            }
            if !self.packet.is_key() {
                progress.summary.packets_skipped += 1;
                continue;
            }
            if self.send(&recording, Send::Read, offset)?.is_break() {
                return Ok(());
            }
            if self.drain(progress, offset, on_keyframe)?.is_break() {
                return Ok(());
            }
        }
        self.packet.unref();
        if !input.reader().is_restarting() {
            // The end: the keyframe the GOP gate holds, then flush the decoder. (After a
            // restart the frames it holds come again.)
            let judged = match (&mut self.watch, &mut progress.clock) {
                (Some(watch), Some(clock)) => watch.end(clock),
                _ => None,
            };
            if self
                .decode_judged(progress, judged, on_keyframe)?
                .is_break()
            {
                return Ok(());
            }
            let offset = input.position();
            if self.send(&recording, Send::End, offset)?.is_continue() {
                let _ = self.drain(progress, offset, on_keyframe)?;
            }
        }
        if let Some(error) = source_failure(input, &recording) {
            return Err(error);
        }
        match self.first_damage.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Shows a video packet to the GOP gate: a keyframe is held, another packet counted
    /// (and skipped). Returns the keyframe judged by it, if any.
    fn watch_packet(&mut self, progress: &mut Progress, offset: u64) -> Option<Judged> {
        let (Some(watch), Some(clock)) = (&mut self.watch, &mut progress.clock) else {
            return None;
        };
        if self.packet.is_key() {
            watch.keyframe(&mut self.packet, offset, clock)
        } else {
            progress.summary.packets_skipped += 1;
            watch.frame(&self.packet, clock)
        }
    }

    /// Decodes the keyframe the GOP gate held if its verdict says so.
    fn decode_judged(
        &mut self,
        progress: &mut Progress,
        judged: Option<Judged>,
        on_keyframe: &mut impl FnMut(Keyframe) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, KeyframeError> {
        let Some(Judged {
            verdict: GopVerdict::Decode(reason),
            pts,
            time,
            offset,
        }) = judged
        else {
            return Ok(ControlFlow::Continue(()));
        };
        self.pending.push_back((pts, time, reason));
        let recording = progress.recording.clone();
        if self.send(&recording, Send::Held, offset)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        self.drain(progress, offset, on_keyframe)
    }

    /// Sends a packet (or the end of the stream), reading out the decoder first if it is
    /// full. `Break` only if the callback asked to stop.
    fn send(
        &mut self,
        recording: &Arc<str>,
        which: Send,
        offset: u64,
    ) -> Result<ControlFlow<()>, KeyframeError> {
        let packet = match (which, &self.watch) {
            (Send::Read, _) => Some(&self.packet),
            (Send::Held, Some(watch)) => Some(&watch.ready),
            (Send::Held, None) | (Send::End, _) => None,
        };
        match self.decoder.send(packet) {
            Ok(()) => Ok(ControlFlow::Continue(())),
            Err(ffi::TRY_AGAIN) => {
                // The decoder is full: this cannot happen after draining every packet, but
                // if it does the packet is dropped rather than looping.
                self.note_damage(
                    recording,
                    offset,
                    ffi::TRY_AGAIN,
                    "sending a packet to the decoder",
                );
                Ok(ControlFlow::Continue(()))
            }
            Err(ffi::END_OF_FILE) => Ok(ControlFlow::Continue(())),
            Err(code) => {
                self.note_damage(recording, offset, code, "decoding");
                Ok(ControlFlow::Continue(()))
            }
        }
    }

    /// Reads every frame the decoder has, converting and handing each out (but those handed
    /// out before a restart). Waits for a free frame buffer when all are held.
    fn drain(
        &mut self,
        progress: &mut Progress,
        offset: u64,
        on_keyframe: &mut impl FnMut(Keyframe) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, KeyframeError> {
        loop {
            match self.decoder.receive(&mut self.frame) {
                Ok(true) => {}
                Ok(false) => return Ok(ControlFlow::Continue(())),
                Err(code) => {
                    self.note_damage(&progress.recording, offset, code, "decoding");
                    return Ok(ControlFlow::Continue(()));
                }
            }
            let pts = self.frame.pts();
            if progress.is_replay(pts) {
                self.frame.unref();
                continue;
            }
            let image_len = progress.width as usize * progress.height as usize * 3;
            let mut pixels = progress.pool.acquire(image_len);
            let scaled =
                progress
                    .scaler
                    .scale(&self.frame, self.decoder.pixel_format(), pixels.whole_mut());
            self.frame.unref();
            if scaled.is_err() {
                self.note_damage(
                    &progress.recording,
                    offset,
                    ffi::INPUT_OUTPUT,
                    "converting a frame to RGB",
                );
                continue;
            }
            let (time, decoded_for) = match (&self.watch, &mut progress.clock) {
                (Some(_), _) => match self.pending_time(pts) {
                    Some((time, reason)) => (time, Some(reason)),
                    None => continue,
                },
                (None, Some(clock)) => (clock.next(pts), None),
                (None, None) => (Duration::ZERO, None),
            };
            let keyframe = Keyframe {
                recording: progress.recording.clone(),
                pts,
                time_base: self.stream.time_base,
                time,
                wall_clock: progress
                    .start
                    .and_then(|start| start.checked_add(time).ok()),
                width: progress.width,
                height: progress.height,
                pixels,
                decoded_for,
            };
            progress.summary.keyframes += 1;
            progress.last_pts = pts;
            if on_keyframe(keyframe).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }

    /// The time and reason of the gated keyframe the decoder just output (pts `pts`),
    /// dropping those it never output; `None` if it was not sent (cannot happen).
    fn pending_time(&mut self, pts: Option<i64>) -> Option<(Duration, DecodeReason)> {
        while let Some((sent_pts, time, reason)) = self.pending.pop_front() {
            if pts.is_none() || sent_pts.is_none() || sent_pts == pts {
                return Some((time, reason));
            }
        }
        None
    }

    fn note_damage(&mut self, recording: &Arc<str>, offset: u64, code: c_int, doing: &str) {
        if self.first_damage.is_none() {
            self.first_damage = Some(KeyframeError::Corrupt {
                recording: recording.clone(),
                offset,
                detail: format!("{doing}: {}", ffi::error_text(code)),
            });
        }
    }
}

/// The error of the byte source, if reading stopped because of it.
/// Opens the container and reads its stream parameters; an error says whether the input
/// was empty, not a container FFmpeg knows, or damaged (or what the source reported).
fn open_container(input: &mut Input, recording: &Arc<str>) -> Result<(), KeyframeError> {
    if let Err(code) = input.open(PROBE_BYTES, ANALYZE_MICROSECONDS) {
        return Err(source_failure(input, recording).unwrap_or_else(|| {
            let offset = input.reader().offset();
            if input.reader().bytes_read() == 0 {
                KeyframeError::Empty {
                    recording: recording.clone(),
                }
            } else {
                KeyframeError::Unrecognised {
                    recording: recording.clone(),
                    offset,
                    detail: ffi::error_text(code),
                }
            }
        }));
    }
    if let Err(code) = input.find_stream_info() {
        return Err(
            source_failure(input, recording).unwrap_or_else(|| KeyframeError::Corrupt {
                recording: recording.clone(),
                offset: input.position(),
                detail: format!("reading the stream parameters: {}", ffi::error_text(code)),
            }),
        );
    }
    Ok(())
}

/// The input's video stream, when there is one in a codec the extraction decodes.
fn video_stream(input: &mut Input, recording: &Arc<str>) -> Result<ffi::StreamInfo, KeyframeError> {
    let stream = input.best_video_stream().map_err(|_| {
        source_failure(input, recording).unwrap_or_else(|| KeyframeError::NoVideo {
            recording: recording.clone(),
            container: input.format_name(),
            offset: input.position(),
        })
    })?;
    if !ffi::is_supported_codec(stream.codec) {
        return Err(KeyframeError::UnsupportedCodec {
            recording: recording.clone(),
            codec: ffi::codec_name(stream.codec),
            offset: input.position(),
        });
    }
    Ok(stream)
}

fn open_decoder(
    input: &mut Input,
    recording: &Arc<str>,
    stream: &ffi::StreamInfo,
    decoder_threads: usize,
) -> Result<Decoder, KeyframeError> {
    Decoder::open(input, stream.index, decoder_threads).map_err(|code| {
        KeyframeError::UnsupportedCodec {
            recording: recording.clone(),
            codec: format!(
                "{} ({})",
                ffi::codec_name(stream.codec),
                ffi::error_text(code)
            ),
            offset: input.position(),
        }
    })
}

fn source_failure(input: &mut Input, recording: &Arc<str>) -> Option<KeyframeError> {
    input.reader_mut().take_failure(recording)
}

fn ffmpeg_error(recording: &Arc<str>, offset: u64, code: c_int) -> KeyframeError {
    KeyframeError::Ffmpeg {
        recording: recording.clone(),
        offset,
        detail: ffi::error_text(code),
    }
}
