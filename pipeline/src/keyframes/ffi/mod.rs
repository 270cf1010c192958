//! The only place the workspace calls FFmpeg. Every FFmpeg object has an owned wrapper that
//! frees it in `Drop`; the rest of `keyframes` uses these wrappers and never says `unsafe`.
//!
//! Errors cross this boundary as FFmpeg's negative `AVERROR` codes (`c_int`); the caller
//! turns them into [`super::KeyframeError`] with [`error_text`] for the message.

#![allow(unsafe_code)]

mod codec;
mod format;
mod scale;

use std::ffi::{CStr, c_char, c_int};
use std::sync::Once;

use ffmpeg_sys_next as sys;

pub(super) use codec::{Decoder, Frame, Packet};
pub(super) use format::{Input, StreamInfo};
pub(super) use scale::Scaler;

/// `AVERROR_EOF`: the end of the input (or of the decoder's output after a flush).
pub(super) const END_OF_FILE: c_int = sys::AVERROR_EOF;
/// `AVERROR(EAGAIN)`: the decoder wants more input (or its output read) first.
pub(super) const TRY_AGAIN: c_int = sys::AVERROR(sys::EAGAIN);
/// `AVERROR(EIO)`: what the read callback returns when the byte source failed.
pub(super) const INPUT_OUTPUT: c_int = sys::AVERROR(sys::EIO);
/// `AVERROR(ENOMEM)`.
pub(super) const OUT_OF_MEMORY: c_int = sys::AVERROR(sys::ENOMEM);

/// Silences FFmpeg's own logging (it would write to stderr for every damaged packet), once
/// per process. Failures reach the caller as typed errors instead.
pub(super) fn quiet_logs() {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        // SAFETY: av_log_set_level only stores an integer in a global of libavutil.
        unsafe { sys::av_log_set_level(sys::AV_LOG_QUIET) };
    });
}

/// FFmpeg's text for an `AVERROR` code, e.g. "Invalid data found when processing input".
pub(super) fn error_text(code: c_int) -> String {
    let mut buffer = [0 as c_char; 128];
    // SAFETY: av_strerror writes at most `buffer.len()` bytes, NUL-terminated, into the
    // buffer we own; it does so even for unknown codes.
    let ret = unsafe { sys::av_strerror(code, buffer.as_mut_ptr(), buffer.len()) };
    if ret < 0 {
        return format!("FFmpeg error {code}");
    }
    // SAFETY: the buffer is NUL-terminated (av_strerror guarantees it, and the last byte
    // stays 0 since it writes at most len - 1 characters).
    let text = unsafe { CStr::from_ptr(buffer.as_ptr()) };
    text.to_string_lossy().into_owned()
}

/// The name FFmpeg gives a codec, e.g. "h264", "mpeg2video".
pub(super) fn codec_name(codec: sys::AVCodecID) -> String {
    // SAFETY: avcodec_get_name returns a static NUL-terminated string for every id
    // ("unknown_codec" for ids it does not know), never NULL.
    let name = unsafe { sys::avcodec_get_name(codec) };
    if name.is_null() {
        return "unknown".to_owned();
    }
    // SAFETY: non-null and static, as above.
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// The codecs the extractor decodes.
pub(super) fn is_supported_codec(codec: sys::AVCodecID) -> bool {
    matches!(
        codec,
        sys::AVCodecID::AV_CODEC_ID_H264 | sys::AVCodecID::AV_CODEC_ID_HEVC
    )
}
