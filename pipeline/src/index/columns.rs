//! The index in memory: one column per field, indexed by entry number, so a scan reads only
//! what it needs (codes and steps; cameras and times when filtering).
//!
//! Per entry: `dims` bytes of codes, its step (`f32`), camera (`u32`), time (`i64`),
//! recording and crop (`u64` each) and face box (4 × `f32`): 176 bytes at 128 dimensions.
//! The `f32` vectors stay on disk. Every [`SUMMARY_SPAN`] entries also keep their earliest
//! and latest time, so a time-filtered scan skips whole spans of footage outside its range.

use super::{
    quantize,
    types::{EntryMeta, FaceBox},
};

/// Entries per time summary (and the alignment of the scan's tiles).
pub(super) const SUMMARY_SPAN: usize = 1024;

#[derive(Debug, Clone)]
pub(super) struct Columns {
    pub dims: usize,
    /// `dims` codes per entry, entry after entry.
    pub codes: Vec<i8>,
    /// Each entry's quantisation step.
    pub deltas: Vec<f32>,
    pub cameras: Vec<u32>,
    pub times: Vec<i64>,
    pub recordings: Vec<u64>,
    pub crops: Vec<u64>,
    pub boxes: Vec<FaceBox>,
    /// The earliest and latest time of each run of `SUMMARY_SPAN` entries.
    pub time_spans: Vec<(i64, i64)>,
    /// The largest step of any entry (for the threshold bound).
    pub max_delta: f32,
    /// The largest `‖x̂‖₁` of any entry (for the threshold bound).
    pub max_l1: f32,
}

impl Columns {
    pub(super) fn new(dims: usize) -> Columns {
        Columns {
            dims,
            codes: Vec::new(),
            deltas: Vec::new(),
            cameras: Vec::new(),
            times: Vec::new(),
            recordings: Vec::new(),
            crops: Vec::new(),
            boxes: Vec::new(),
            time_spans: Vec::new(),
            max_delta: 0.0,
            max_l1: 0.0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.deltas.len()
    }

    pub(super) fn reserve(&mut self, additional: usize) {
        self.codes.reserve(additional * self.dims);
        self.deltas.reserve(additional);
        self.cameras.reserve(additional);
        self.times.reserve(additional);
        self.recordings.reserve(additional);
        self.crops.reserve(additional);
        self.boxes.reserve(additional);
        self.time_spans
            .reserve((self.len() + additional).div_ceil(SUMMARY_SPAN) - self.time_spans.len());
    }

    /// Appends an entry (its codes and step from [`quantize::quantise`]).
    pub(super) fn push(&mut self, meta: &EntryMeta, delta: f32, codes: &[i8]) {
        debug_assert_eq!(codes.len(), self.dims);
        if self.len().is_multiple_of(SUMMARY_SPAN) {
            self.time_spans.push((meta.time_ms, meta.time_ms));
        } else if let Some(span) = self.time_spans.last_mut() {
            span.0 = span.0.min(meta.time_ms);
            span.1 = span.1.max(meta.time_ms);
        }
        self.codes.extend_from_slice(codes);
        self.deltas.push(delta);
        self.cameras.push(meta.camera);
        self.times.push(meta.time_ms);
        self.recordings.push(meta.recording);
        self.crops.push(meta.crop);
        self.boxes.push(meta.face_box);
        self.max_delta = self.max_delta.max(delta);
        self.max_l1 = self.max_l1.max(quantize::l1(codes, delta));
    }

    /// Entry `index`'s metadata; `index` must be below `len()`.
    pub(super) fn meta(&self, index: usize) -> EntryMeta {
        EntryMeta {
            recording: self.recordings[index],
            camera: self.cameras[index],
            time_ms: self.times[index],
            face_box: self.boxes[index],
            crop: self.crops[index],
        }
    }

    /// Bytes held (capacities, not lengths).
    pub(super) fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.codes.capacity()
            + self.deltas.capacity() * size_of::<f32>()
            + self.cameras.capacity() * size_of::<u32>()
            + self.times.capacity() * size_of::<i64>()
            + self.recordings.capacity() * size_of::<u64>()
            + self.crops.capacity() * size_of::<u64>()
            + self.boxes.capacity() * size_of::<FaceBox>()
            + self.time_spans.capacity() * size_of::<(i64, i64)>()
    }
}
