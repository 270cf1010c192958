//! [`extract`]: the demux, decode, convert loop.

use std::ffi::c_int;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::clock::Clock;
use super::ffi::{self, Decoder, Frame, Input, Packet, Scaler};
use super::source::Reader;
use super::{ByteSource, ExtractConfig, Keyframe, KeyframeError, Summary};

/// Bytes FFmpeg may read to recognise the container and its streams (FFmpeg's default is
/// 5 MB); enough for two GOPs of a 4 Mbit/s main stream.
const PROBE_BYTES: i64 = 2 * 1024 * 1024;
/// Media FFmpeg may analyse for stream parameters, in microseconds (FFmpeg's default).
const ANALYZE_MICROSECONDS: i64 = 5_000_000;
/// Largest image side accepted in [`ExtractConfig`].
const MAX_SIDE: u32 = 8192;

/// Extracts the keyframes of one recording from `source`, calling `on_keyframe` with each,
/// in order, until the end of the input or until it returns `Break`.
///
/// Blocking; run it on a blocking thread. On damaged input the keyframes before the damage
/// have been passed to `on_keyframe` when the error is returned.
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
    let mut input =
        Input::new(Reader::new(source)).map_err(|code| ffmpeg_error(&recording, 0, code))?;
    let mut extraction = Extraction::start(&mut input, config, recording)?;
    let result = extraction.run(&mut input, &mut on_keyframe);
    let mut summary = extraction.summary;
    summary.bytes_read = input.reader().bytes_read();
    result.map(|()| summary)
}

struct Extraction {
    recording: Arc<str>,
    start: Option<jiff::Timestamp>,
    stream: ffi::StreamInfo,
    decoder: Decoder,
    packet: Packet,
    frame: Frame,
    scaler: Scaler,
    clock: Clock,
    width: u32,
    height: u32,
    summary: Summary,
    /// The first damaged packet, reported at the end.
    first_damage: Option<KeyframeError>,
}

impl Extraction {
    /// Opens the input, finds the video stream and opens its decoder.
    fn start(
        input: &mut Input,
        config: &ExtractConfig,
        recording: Arc<str>,
    ) -> Result<Extraction, KeyframeError> {
        if let Err(code) = input.open(PROBE_BYTES, ANALYZE_MICROSECONDS) {
            return Err(source_failure(input, &recording).unwrap_or_else(|| {
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
            return Err(source_failure(input, &recording).unwrap_or_else(|| {
                KeyframeError::Corrupt {
                    recording: recording.clone(),
                    offset: input.position(),
                    detail: format!("reading the stream parameters: {}", ffi::error_text(code)),
                }
            }));
        }
        let stream = input.best_video_stream().map_err(|_| {
            source_failure(input, &recording).unwrap_or_else(|| KeyframeError::NoVideo {
                recording: recording.clone(),
                container: input.format_name(),
                offset: input.position(),
            })
        })?;
        if !ffi::is_supported_codec(stream.codec) {
            return Err(KeyframeError::UnsupportedCodec {
                recording,
                codec: ffi::codec_name(stream.codec),
                offset: input.position(),
            });
        }
        let decoder =
            Decoder::open(input, stream.index).map_err(|code| KeyframeError::UnsupportedCodec {
                recording: recording.clone(),
                codec: format!(
                    "{} ({})",
                    ffi::codec_name(stream.codec),
                    ffi::error_text(code)
                ),
                offset: input.position(),
            })?;
        let offset = input.position();
        let packet = Packet::new().map_err(|code| ffmpeg_error(&recording, offset, code))?;
        let frame = Frame::new().map_err(|code| ffmpeg_error(&recording, offset, code))?;
        Ok(Extraction {
            start: config.start,
            clock: Clock::new(stream.time_base, stream.frame_rate),
            stream,
            decoder,
            packet,
            frame,
            scaler: Scaler::new(config.width, config.height),
            width: config.width,
            height: config.height,
            summary: Summary::default(),
            first_damage: None,
            recording,
        })
    }

    fn run(
        &mut self,
        input: &mut Input,
        on_keyframe: &mut impl FnMut(Keyframe) -> ControlFlow<()>,
    ) -> Result<(), KeyframeError> {
        loop {
            match input.read_packet(&mut self.packet) {
                Ok(()) => {}
                Err(ffi::END_OF_FILE) => break,
                Err(code) => {
                    if !input.reader().has_failed() {
                        self.note_damage(input.position(), code, "reading a packet");
                    }
                    break;
                }
            }
            self.summary.packets_read += 1;
            if self.packet.stream_index() != self.stream.index {
                continue;
            }
            if !self.packet.is_key() {
                self.summary.packets_skipped += 1;
                continue;
            }
            let offset = self.packet.position().unwrap_or_else(|| input.position());
            if self.send(true, offset)?.is_break() {
                return Ok(());
            }
            if self.drain(offset, on_keyframe)?.is_break() {
                return Ok(());
            }
        }
        self.packet.unref();
        let offset = input.position();
        if self.send(false, offset)?.is_continue() {
            let _ = self.drain(offset, on_keyframe)?;
        }
        if let Some(error) = source_failure(input, &self.recording) {
            return Err(error);
        }
        match self.first_damage.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Sends the current packet (or, when `!with_packet`, the end of the stream), reading
    /// out the decoder first if it is full. `Break` only if the callback asked to stop.
    fn send(&mut self, with_packet: bool, offset: u64) -> Result<ControlFlow<()>, KeyframeError> {
        let packet = with_packet.then_some(&self.packet);
        match self.decoder.send(packet) {
            Ok(()) => Ok(ControlFlow::Continue(())),
            Err(ffi::TRY_AGAIN) => {
                // The decoder is full: this cannot happen after draining every packet, but
                // if it does the packet is dropped rather than looping.
                self.note_damage(offset, ffi::TRY_AGAIN, "sending a packet to the decoder");
                Ok(ControlFlow::Continue(()))
            }
            Err(ffi::END_OF_FILE) => Ok(ControlFlow::Continue(())),
            Err(code) => {
                self.note_damage(offset, code, "decoding");
                Ok(ControlFlow::Continue(()))
            }
        }
    }

    /// Reads every frame the decoder has, converting and handing each out.
    fn drain(
        &mut self,
        offset: u64,
        on_keyframe: &mut impl FnMut(Keyframe) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, KeyframeError> {
        loop {
            match self.decoder.receive(&mut self.frame) {
                Ok(true) => {}
                Ok(false) => return Ok(ControlFlow::Continue(())),
                Err(code) => {
                    self.note_damage(offset, code, "decoding");
                    return Ok(ControlFlow::Continue(()));
                }
            }
            let mut pixels = vec![0u8; self.scaler.buffer_len()];
            let scaled = self
                .scaler
                .scale(&self.frame, self.decoder.pixel_format(), &mut pixels);
            let pts = self.frame.pts();
            self.frame.unref();
            if scaled.is_err() {
                self.note_damage(offset, ffi::INPUT_OUTPUT, "converting a frame to RGB");
                continue;
            }
            pixels.truncate(self.width as usize * self.height as usize * 3);
            let time = self.clock.next(pts);
            let keyframe = Keyframe {
                recording: self.recording.clone(),
                pts,
                time_base: self.stream.time_base,
                time,
                wall_clock: self.start.and_then(|start| start.checked_add(time).ok()),
                width: self.width,
                height: self.height,
                pixels,
            };
            self.summary.keyframes += 1;
            if on_keyframe(keyframe).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }

    fn note_damage(&mut self, offset: u64, code: c_int, doing: &str) {
        if self.first_damage.is_none() {
            self.first_damage = Some(KeyframeError::Corrupt {
                recording: self.recording.clone(),
                offset,
                detail: format!("{doing}: {}", ffi::error_text(code)),
            });
        }
    }
}

/// The error of the byte source, if reading stopped because of it.
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
