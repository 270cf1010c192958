//! [`Decoder`] (`AVCodecContext`), [`Packet`] (`AVPacket`) and [`Frame`] (`AVFrame`).

use std::ffi::c_int;
use std::ptr;

use ffmpeg_sys_next as sys;

use super::{END_OF_FILE, Input, OUT_OF_MEMORY, TRY_AGAIN};

/// A video decoder that outputs keyframes only (`skip_frame = AVDISCARD_NONKEY`), on one
/// thread: parallelism comes from decoding several recordings at once.
#[derive(Debug)]
pub(in crate::keyframes) struct Decoder {
    context: *mut sys::AVCodecContext,
}

impl Decoder {
    /// Opens the decoder for stream `index` of `input`.
    pub(in crate::keyframes) fn open(
        input: &Input,
        index: usize,
        threads: usize,
    ) -> Result<Decoder, c_int> {
        let parameters = input
            .codec_parameters(index)
            .ok_or(sys::AVERROR_STREAM_NOT_FOUND)?;
        // SAFETY: `parameters` belongs to an open stream of `input` and is only read here.
        let codec = unsafe { sys::avcodec_find_decoder((*parameters).codec_id) };
        if codec.is_null() {
            return Err(sys::AVERROR_DECODER_NOT_FOUND);
        }
        // SAFETY: allocation only; NULL is checked. From here `decoder` owns the context.
        let context = unsafe { sys::avcodec_alloc_context3(codec) };
        if context.is_null() {
            return Err(OUT_OF_MEMORY);
        }
        let decoder = Decoder { context };
        // SAFETY: `context` is fresh and ours, `parameters` valid; the fields set are plain
        // values read by avcodec_open2.
        let ret = unsafe {
            let ret = sys::avcodec_parameters_to_context(context, parameters);
            if ret < 0 {
                return Err(ret);
            }
            (*context).skip_frame = sys::AVDiscard::AVDISCARD_NONKEY;
            // Several threads decode consecutive keyframes at once (frame threading); one
            // thread when the box decodes many recordings at once anyway.
            (*context).thread_count = c_int::try_from(threads.max(1)).unwrap_or(1);
            if threads > 1 {
                (*context).thread_type = sys::FF_THREAD_FRAME as c_int;
            }
            sys::avcodec_open2(context, codec, ptr::null_mut())
        };
        if ret < 0 { Err(ret) } else { Ok(decoder) }
    }

    /// Sends a packet (or, with `None`, the end of the stream). `TRY_AGAIN` means the
    /// decoder's output must be read first.
    pub(in crate::keyframes) fn send(&mut self, packet: Option<&Packet>) -> Result<(), c_int> {
        let packet = packet.map_or(ptr::null(), |p| p.packet.cast_const());
        // SAFETY: the context is open; the packet is NULL (flush) or a valid packet that
        // FFmpeg only reads (it takes its own reference).
        let ret = unsafe { sys::avcodec_send_packet(self.context, packet) };
        if ret < 0 { Err(ret) } else { Ok(()) }
    }

    /// The next decoded frame into `frame`: `Ok(true)` when there is one, `Ok(false)` when
    /// the decoder needs more input or is drained.
    pub(in crate::keyframes) fn receive(&mut self, frame: &mut Frame) -> Result<bool, c_int> {
        // SAFETY: the context is open and `frame` a valid frame we own (FFmpeg unrefs it
        // before writing).
        let ret = unsafe { sys::avcodec_receive_frame(self.context, frame.frame) };
        match ret {
            0 => Ok(true),
            TRY_AGAIN | END_OF_FILE => Ok(false),
            error => Err(error),
        }
    }

    /// The pixel format of the frames the decoder outputs now.
    pub(in crate::keyframes) fn pixel_format(&self) -> sys::AVPixelFormat {
        // SAFETY: the context is valid; a plain field.
        unsafe { (*self.context).pix_fmt }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: we own the context; avcodec_free_context closes it and sets it to NULL.
        unsafe { sys::avcodec_free_context(&mut self.context) };
    }
}

/// A demuxed packet, reused for every read.
#[derive(Debug)]
pub(in crate::keyframes) struct Packet {
    packet: *mut sys::AVPacket,
}

impl Packet {
    pub(in crate::keyframes) fn new() -> Result<Packet, c_int> {
        // SAFETY: allocation only; NULL is checked.
        let packet = unsafe { sys::av_packet_alloc() };
        if packet.is_null() {
            Err(OUT_OF_MEMORY)
        } else {
            Ok(Packet { packet })
        }
    }

    pub(super) fn as_mut_ptr(&mut self) -> *mut sys::AVPacket {
        self.packet
    }

    pub(in crate::keyframes) fn stream_index(&self) -> usize {
        // SAFETY: a valid packet; a plain field.
        let index = unsafe { (*self.packet).stream_index };
        usize::try_from(index).unwrap_or(usize::MAX)
    }

    /// Whether the demuxer (or its parser) marked the packet as a keyframe.
    pub(in crate::keyframes) fn is_key(&self) -> bool {
        // SAFETY: a valid packet; a plain field.
        unsafe { (*self.packet).flags & sys::AV_PKT_FLAG_KEY != 0 }
    }

    /// The packet's byte position in the input, when the demuxer knows it.
    pub(in crate::keyframes) fn position(&self) -> Option<u64> {
        // SAFETY: a valid packet; a plain field.
        u64::try_from(unsafe { (*self.packet).pos }).ok()
    }

    /// The packet's size in bytes.
    pub(in crate::keyframes) fn size(&self) -> u32 {
        // SAFETY: a valid packet; a plain field.
        u32::try_from(unsafe { (*self.packet).size }).unwrap_or(0)
    }

    /// The presentation timestamp, in the stream's time base, when the packet has one.
    pub(in crate::keyframes) fn pts(&self) -> Option<i64> {
        // SAFETY: a valid packet; a plain field.
        let pts = unsafe { (*self.packet).pts };
        (pts != sys::AV_NOPTS_VALUE).then_some(pts)
    }

    /// Takes `other`'s data into this packet (dropping this one's first); `other` is left
    /// blank. No copy: the reference moves.
    pub(in crate::keyframes) fn take_from(&mut self, other: &mut Packet) {
        // SAFETY: both are valid packets we own; unref then move_ref leaves `self` holding
        // `other`'s reference and `other` blank.
        unsafe {
            sys::av_packet_unref(self.packet);
            sys::av_packet_move_ref(self.packet, other.packet);
        }
    }

    /// Drops the packet's data, keeping the packet for the next read.
    pub(in crate::keyframes) fn unref(&mut self) {
        // SAFETY: a valid packet; unref on a blank packet is a no-op.
        unsafe { sys::av_packet_unref(self.packet) };
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        // SAFETY: we own the packet; av_packet_free unrefs it, frees it and sets NULL.
        unsafe { sys::av_packet_free(&mut self.packet) };
    }
}

/// A decoded frame, reused for every keyframe.
#[derive(Debug)]
pub(in crate::keyframes) struct Frame {
    pub(super) frame: *mut sys::AVFrame,
}

impl Frame {
    pub(in crate::keyframes) fn new() -> Result<Frame, c_int> {
        // SAFETY: allocation only; NULL is checked.
        let frame = unsafe { sys::av_frame_alloc() };
        if frame.is_null() {
            Err(OUT_OF_MEMORY)
        } else {
            Ok(Frame { frame })
        }
    }

    /// The frame's presentation time in the stream's time base (the decoder's best guess
    /// when the packet had none), or `None`.
    pub(in crate::keyframes) fn pts(&self) -> Option<i64> {
        // SAFETY: a valid frame; plain fields.
        let (pts, best_effort) =
            unsafe { ((*self.frame).pts, (*self.frame).best_effort_timestamp) };
        [pts, best_effort]
            .into_iter()
            .find(|&t| t != sys::AV_NOPTS_VALUE)
    }

    pub(in crate::keyframes) fn unref(&mut self) {
        // SAFETY: a valid frame; unref on a blank frame is a no-op.
        unsafe { sys::av_frame_unref(self.frame) };
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: we own the frame; av_frame_free unrefs it, frees it and sets NULL.
        unsafe { sys::av_frame_free(&mut self.frame) };
    }
}
