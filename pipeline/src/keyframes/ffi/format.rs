//! [`Input`]: an `AVFormatContext` reading through a custom `AVIOContext` whose callbacks
//! call a [`Reader`] (safe code) over the caller's byte source.

use std::ffi::{CStr, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use ffmpeg_sys_next as sys;

use super::{INPUT_OUTPUT, OUT_OF_MEMORY};
use crate::keyframes::source::Reader;

/// Bytes FFmpeg reads from the source per callback.
const AVIO_BUFFER_SIZE: usize = 64 * 1024;

/// An input being demuxed. Owns the format context, the AVIO context (and its buffer) and
/// the boxed [`Reader`] the callbacks see; all are freed in `Drop`, in that order.
#[derive(Debug)]
pub(in crate::keyframes) struct Input {
    /// NULL until [`Input::open`] succeeds (FFmpeg frees it when opening fails).
    format: *mut sys::AVFormatContext,
    avio: *mut sys::AVIOContext,
    /// From `Box::into_raw`; the AVIO context's `opaque`.
    reader: *mut Reader,
}

/// What the extractor needs to know of the chosen video stream.
#[derive(Debug, Clone, Copy)]
pub(in crate::keyframes) struct StreamInfo {
    pub(in crate::keyframes) index: usize,
    pub(in crate::keyframes) codec: sys::AVCodecID,
    /// The stream's time base (`num`, `den`).
    pub(in crate::keyframes) time_base: (i32, i32),
    /// The average frame rate (`num`, `den`); (0, 0) or (0, 1) when unknown.
    pub(in crate::keyframes) frame_rate: (i32, i32),
}

impl Input {
    /// Sets up the AVIO context over `reader`; nothing is read yet.
    pub(in crate::keyframes) fn new(reader: Reader) -> Result<Input, c_int> {
        let seekable = reader.is_seekable();
        let reader = Box::into_raw(Box::new(reader));
        // SAFETY: av_malloc returns NULL or a buffer of the requested size.
        let buffer = unsafe { sys::av_malloc(AVIO_BUFFER_SIZE) }.cast::<u8>();
        if buffer.is_null() {
            // SAFETY: `reader` came from Box::into_raw just above and is not shared.
            drop(unsafe { Box::from_raw(reader) });
            return Err(OUT_OF_MEMORY);
        }
        let seek: Option<unsafe extern "C" fn(*mut c_void, i64, c_int) -> i64> =
            if seekable { Some(seek_callback) } else { None };
        // SAFETY: `buffer` is an av_malloc'd buffer of AVIO_BUFFER_SIZE bytes (its ownership
        // passes to the context); `reader` stays valid until Drop frees the context first.
        let avio = unsafe {
            sys::avio_alloc_context(
                buffer,
                AVIO_BUFFER_SIZE as c_int,
                0,
                reader.cast::<c_void>(),
                Some(read_callback),
                None,
                seek,
            )
        };
        if avio.is_null() {
            // SAFETY: the context was not made, so we still own both.
            unsafe {
                sys::av_free(buffer.cast::<c_void>());
                drop(Box::from_raw(reader));
            }
            return Err(OUT_OF_MEMORY);
        }
        // SAFETY: `avio` is a valid context we own; `seekable` is a plain field.
        unsafe {
            (*avio).seekable = if seekable {
                sys::AVIO_SEEKABLE_NORMAL
            } else {
                0
            };
        }
        Ok(Input {
            format: ptr::null_mut(),
            avio,
            reader,
        })
    }

    /// Probes the container (reading at most `probe_bytes`, analysing at most
    /// `analyze_microseconds` of media) and reads its header.
    pub(in crate::keyframes) fn open(
        &mut self,
        probe_bytes: i64,
        analyze_microseconds: i64,
    ) -> Result<(), c_int> {
        if !self.format.is_null() {
            return Ok(());
        }
        // SAFETY: allocation only; NULL is checked.
        let mut format = unsafe { sys::avformat_alloc_context() };
        if format.is_null() {
            return Err(OUT_OF_MEMORY);
        }
        // SAFETY: `format` is a fresh context; `avio` outlives it (Drop closes the format
        // context first). With AVFMT_FLAG_CUSTOM_IO FFmpeg never frees our `pb`.
        let ret = unsafe {
            (*format).pb = self.avio;
            (*format).flags |= sys::AVFMT_FLAG_CUSTOM_IO;
            (*format).probesize = probe_bytes;
            (*format).max_analyze_duration = analyze_microseconds;
            sys::avformat_open_input(&mut format, ptr::null(), ptr::null(), ptr::null_mut())
        };
        if ret < 0 {
            // avformat_open_input freed the context and set `format` to NULL.
            return Err(ret);
        }
        self.format = format;
        Ok(())
    }

    /// Reads packets until every stream's parameters are known.
    pub(in crate::keyframes) fn find_stream_info(&mut self) -> Result<(), c_int> {
        let format = self.opened()?;
        // SAFETY: `format` is an open context.
        let ret = unsafe { sys::avformat_find_stream_info(format, ptr::null_mut()) };
        if ret < 0 { Err(ret) } else { Ok(()) }
    }

    /// The best video stream, or FFmpeg's error (`AVERROR_STREAM_NOT_FOUND`).
    pub(in crate::keyframes) fn best_video_stream(&self) -> Result<StreamInfo, c_int> {
        let format = self.opened()?;
        // SAFETY: `format` is an open context; no decoder is asked for.
        let index = unsafe {
            sys::av_find_best_stream(
                format,
                sys::AVMediaType::AVMEDIA_TYPE_VIDEO,
                -1,
                -1,
                ptr::null_mut(),
                0,
            )
        };
        if index < 0 {
            return Err(index);
        }
        let stream = self
            .stream(index as usize)
            .ok_or(sys::AVERROR_STREAM_NOT_FOUND)?;
        // SAFETY: `stream` is a valid stream of the open context; codecpar is allocated with
        // every stream (checked for NULL anyway).
        unsafe {
            let parameters = (*stream).codecpar;
            if parameters.is_null() {
                return Err(sys::AVERROR_STREAM_NOT_FOUND);
            }
            Ok(StreamInfo {
                index: index as usize,
                codec: (*parameters).codec_id,
                time_base: ((*stream).time_base.num, (*stream).time_base.den),
                frame_rate: ((*stream).avg_frame_rate.num, (*stream).avg_frame_rate.den),
            })
        }
    }

    /// The stream's codec parameters, for [`super::Decoder::open`].
    pub(super) fn codec_parameters(&self, index: usize) -> Option<*const sys::AVCodecParameters> {
        let stream = self.stream(index)?;
        // SAFETY: `stream` is a valid stream of the open context.
        let parameters = unsafe { (*stream).codecpar };
        (!parameters.is_null()).then_some(parameters.cast_const())
    }

    fn stream(&self, index: usize) -> Option<*mut sys::AVStream> {
        let format = self.opened().ok()?;
        // SAFETY: `streams` holds `nb_streams` valid pointers while the context is open.
        unsafe {
            if index >= (*format).nb_streams as usize || (*format).streams.is_null() {
                return None;
            }
            let stream = *(*format).streams.add(index);
            (!stream.is_null()).then_some(stream)
        }
    }

    /// FFmpeg's short name for the container, e.g. "mpeg", "mov,mp4,m4a,3gp,3g2,mj2".
    pub(in crate::keyframes) fn format_name(&self) -> String {
        let Ok(format) = self.opened() else {
            return "unknown".to_owned();
        };
        // SAFETY: an open context has its input format set; its name is a static string.
        unsafe {
            let input_format = (*format).iformat;
            if input_format.is_null() || (*input_format).name.is_null() {
                return "unknown".to_owned();
            }
            CStr::from_ptr((*input_format).name)
                .to_string_lossy()
                .into_owned()
        }
    }

    /// The next packet of any stream into `packet` (unreferenced first).
    pub(in crate::keyframes) fn read_packet(
        &mut self,
        packet: &mut super::Packet,
    ) -> Result<(), c_int> {
        let format = self.opened()?;
        packet.unref();
        // SAFETY: `format` is open and `packet` a valid, blank packet we own.
        let ret = unsafe { sys::av_read_frame(format, packet.as_mut_ptr()) };
        if ret < 0 { Err(ret) } else { Ok(()) }
    }

    /// The demuxer's byte position in the input.
    pub(in crate::keyframes) fn position(&self) -> u64 {
        // SAFETY: `avio` is valid; seeking by 0 from the current position only reports the
        // position, it never calls the seek callback.
        let position = unsafe { sys::avio_seek(self.avio, 0, sys::SEEK_CUR) };
        u64::try_from(position).unwrap_or_else(|_| self.reader().offset())
    }

    /// The reader, to ask how far it got and why it stopped.
    pub(in crate::keyframes) fn reader(&self) -> &Reader {
        // SAFETY: `reader` is valid until Drop; FFmpeg only touches it inside calls that take
        // `&mut self`, so no mutable reference exists while this shared one lives.
        unsafe { &*self.reader }
    }

    /// The reader, to take its failure. Not called while FFmpeg runs (that needs `&mut self`).
    pub(in crate::keyframes) fn reader_mut(&mut self) -> &mut Reader {
        // SAFETY: as in `reader`, and `&mut self` excludes any other reference.
        unsafe { &mut *self.reader }
    }

    fn opened(&self) -> Result<*mut sys::AVFormatContext, c_int> {
        if self.format.is_null() {
            Err(sys::AVERROR_BUG2)
        } else {
            Ok(self.format)
        }
    }
}

impl Input {
    /// Closes the FFmpeg contexts and gives back the reader, to open a new input on the
    /// same source (after the source restarted).
    pub(in crate::keyframes) fn into_reader(mut self) -> Reader {
        self.close_contexts();
        let reader = std::mem::replace(&mut self.reader, ptr::null_mut());
        // SAFETY: `reader` came from Box::into_raw in `Input::new` and, the contexts that
        // pointed to it being freed, nothing else refers to it; the field is now NULL so
        // Drop does not free it again.
        *unsafe { Box::from_raw(reader) }
    }

    /// Frees the format context, then the AVIO context (and its buffer); both NULL after.
    fn close_contexts(&mut self) {
        // SAFETY: each pointer is either NULL or owned by us and freed exactly once here;
        // the format context goes first since it reads through `avio`. The AVIO buffer may
        // have been replaced by FFmpeg, so the context's current buffer is the one freed.
        unsafe {
            if !self.format.is_null() {
                sys::avformat_close_input(&mut self.format);
            }
            if !self.avio.is_null() {
                sys::av_freep(ptr::addr_of_mut!((*self.avio).buffer).cast::<c_void>());
                sys::avio_context_free(&mut self.avio);
            }
        }
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        // The contexts go before the reader their callbacks use.
        self.close_contexts();
        // SAFETY: NULL or from Box::into_raw in `Input::new`, freed exactly once here.
        unsafe {
            if !self.reader.is_null() {
                drop(Box::from_raw(self.reader));
                self.reader = ptr::null_mut();
            }
        }
    }
}

/// FFmpeg's read callback: fills `buffer` from the reader. Never unwinds into C: a panic
/// in the byte source becomes a read error.
unsafe extern "C" fn read_callback(opaque: *mut c_void, buffer: *mut u8, size: c_int) -> c_int {
    if opaque.is_null() || buffer.is_null() || size <= 0 {
        return sys::AVERROR(sys::EINVAL);
    }
    // SAFETY: `opaque` is the `Box<Reader>` registered in `Input::new`, alive until the
    // AVIO context is freed; FFmpeg calls back only from inside a call on `&mut Input`, so
    // this is the only reference. `buffer` is writable for `size` bytes.
    let (reader, buffer) = unsafe {
        (
            &mut *opaque.cast::<Reader>(),
            std::slice::from_raw_parts_mut(buffer, size as usize),
        )
    };
    match catch_unwind(AssertUnwindSafe(|| reader.read(buffer))) {
        Ok(Ok(0)) => sys::AVERROR_EOF,
        Ok(Ok(n)) => c_int::try_from(n).unwrap_or(INPUT_OUTPUT),
        Ok(Err(())) => INPUT_OUTPUT,
        Err(_) => {
            reader.note_panic();
            INPUT_OUTPUT
        }
    }
}

/// FFmpeg's seek callback (registered only for seekable sources). `whence` is SEEK_SET,
/// SEEK_CUR, SEEK_END or AVSEEK_SIZE, possibly with AVSEEK_FORCE.
unsafe extern "C" fn seek_callback(opaque: *mut c_void, offset: i64, whence: c_int) -> i64 {
    if opaque.is_null() {
        return i64::from(sys::AVERROR(sys::EINVAL));
    }
    // SAFETY: as in `read_callback`.
    let reader = unsafe { &mut *opaque.cast::<Reader>() };
    let whence = whence & !sys::AVSEEK_FORCE;
    let result = catch_unwind(AssertUnwindSafe(|| {
        if whence == sys::AVSEEK_SIZE {
            reader.size()
        } else {
            reader.seek(offset, whence)
        }
    }));
    match result {
        Ok(Some(position)) => i64::try_from(position).unwrap_or(i64::from(INPUT_OUTPUT)),
        Ok(None) => i64::from(INPUT_OUTPUT),
        Err(_) => {
            reader.note_panic();
            i64::from(INPUT_OUTPUT)
        }
    }
}
