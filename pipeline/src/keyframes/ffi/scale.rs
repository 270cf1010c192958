//! [`Scaler`]: an `SwsContext` converting decoded frames to packed RGB24 at a fixed size.

use std::ffi::c_int;
use std::ptr;

use ffmpeg_sys_next as sys;

use super::Frame;

/// Bytes swscale may write past the last row (its SIMD paths store whole vectors); the
/// caller's buffer has this much spare room.
pub(in crate::keyframes) const SCALE_PADDING: usize = 64;

/// Converts frames of any size and pixel format to `width` x `height` RGB24, rebuilding its
/// context only when the input size or format changes.
#[derive(Debug)]
pub(in crate::keyframes) struct Scaler {
    context: *mut sys::SwsContext,
    width: c_int,
    height: c_int,
}

/// Why a frame could not be converted.
#[derive(Debug)]
pub(in crate::keyframes) enum ScaleError {
    /// The frame has no size, or a pixel format other than the decoder's.
    BadFrame,
    /// swscale refused the conversion.
    Unsupported,
}

impl Scaler {
    /// `width` and `height` must be in 1..=16384 (checked by the caller's config).
    pub(in crate::keyframes) fn new(width: u32, height: u32) -> Scaler {
        Scaler {
            context: ptr::null_mut(),
            width: c_int::try_from(width).unwrap_or(1),
            height: c_int::try_from(height).unwrap_or(1),
        }
    }

    /// Bytes [`Scaler::scale`] needs in its output: the image plus [`SCALE_PADDING`].
    pub(in crate::keyframes) fn buffer_len(&self) -> usize {
        self.width as usize * self.height as usize * 3 + SCALE_PADDING
    }

    /// Converts `frame` (in `format`, the decoder's pixel format) into `output`, which
    /// must hold [`Scaler::buffer_len`] bytes; the image is its first `width * height * 3`.
    pub(in crate::keyframes) fn scale(
        &mut self,
        frame: &Frame,
        format: sys::AVPixelFormat,
        output: &mut [u8],
    ) -> Result<(), ScaleError> {
        if output.len() < self.buffer_len() {
            return Err(ScaleError::BadFrame);
        }
        // SAFETY: `frame.frame` is a valid decoded frame; plain fields.
        let (width, height, frame_format, data, linesize) = unsafe {
            let f = &*frame.frame;
            (f.width, f.height, f.format, f.data, f.linesize)
        };
        if width <= 0
            || height <= 0
            || frame_format != format as c_int
            || format == sys::AVPixelFormat::AV_PIX_FMT_NONE
            || data[0].is_null()
        {
            return Err(ScaleError::BadFrame);
        }
        // SAFETY: sws_getCachedContext frees the old context when it must make a new one
        // and returns NULL (having freed it) on failure; we keep whatever it returns.
        self.context = unsafe {
            sys::sws_getCachedContext(
                self.context,
                width,
                height,
                format,
                self.width,
                self.height,
                sys::AVPixelFormat::AV_PIX_FMT_RGB24,
                sys::SWS_BILINEAR,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        if self.context.is_null() {
            return Err(ScaleError::Unsupported);
        }
        let destination = [
            output.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        ];
        let stride = [self.width * 3, 0, 0, 0];
        // SAFETY: the source planes and strides come from the decoder for a frame of
        // `width` x `height` in `format`, which the context was made for; the destination
        // is one packed plane of `stride * self.height` bytes plus padding, checked above.
        let rows = unsafe {
            sys::sws_scale(
                self.context,
                data.as_ptr().cast::<*const u8>(),
                linesize.as_ptr(),
                0,
                height,
                destination.as_ptr(),
                stride.as_ptr(),
            )
        };
        if rows == self.height {
            Ok(())
        } else {
            Err(ScaleError::Unsupported)
        }
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        // SAFETY: NULL or a context we own; sws_freeContext accepts NULL.
        unsafe { sys::sws_freeContext(self.context) };
        self.context = ptr::null_mut();
    }
}
