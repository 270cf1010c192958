//! The brute-force scan: every entry a query's filter lets through is scored with int8 dot
//! products, and the candidates for the exact re-rank are chosen on the way.
//!
//! The entries are cut into one contiguous range per thread (aligned to the time summaries),
//! each scanned in tiles:
//!
//! - fewer than [`BATCH_MIN`] queries: tiles of 1024 entries (128 KB of codes at 128
//!   dimensions, in L2), each query's dot products row by row ([`kernels::dots_rows`]);
//! - more: tiles of 256 entries turned into `f32` and transposed once, then every group of
//!   four queries against them ([`kernels::dots_tile`]), so the codes come from memory once
//!   per batch and the arithmetic, not the memory, sets the pace.
//!
//! A tile whose time summary lies outside a query's time range is skipped for that query
//! (and not computed at all when no query wants it); within a tile, entries of other cameras
//! or times are not offered to the query's [`Selection`].

use std::ops::Range;

use super::{
    columns::{Columns, SUMMARY_SPAN},
    kernels::{self, LANES, QUERY_GROUP},
    quantize::QueryCodes,
    select::{Candidate, Selection},
    types::Filter,
};

/// From this many queries in one call, the batch kernel.
pub(super) const BATCH_MIN: usize = 8;

/// Entries per tile with the row kernel (one time summary).
const ROW_TILE: usize = SUMMARY_SPAN;

/// Entries per tile with the batch kernel (a divisor of `SUMMARY_SPAN`).
const BATCH_TILE: usize = 256;

/// Fewest entries worth a thread of their own (fewer in tests, so small indexes take every
/// path).
const ENTRIES_PER_THREAD: usize = if cfg!(test) { 2 * 1024 } else { 16 * 1024 };

/// A query ready to scan.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub codes: QueryCodes,
    pub filter: Filter,
    /// Candidates to keep (the best by approximate score); `None` keeps all above `floor`.
    pub cap: Option<usize>,
    /// Approximate score below which an entry cannot be a result.
    pub floor: Option<f32>,
}

impl Prepared {
    fn wants(&self, times: (i64, i64)) -> bool {
        !self.filter.rejects_all() && self.filter.may_accept_times(times.0, times.1)
    }

    fn offer(&self, selection: &mut Selection, scores: &[f32], first: usize, columns: &Columns) {
        if self.filter.is_empty() {
            selection.offer_all(scores, first as u64);
        } else {
            let cameras = &columns.cameras[first..first + scores.len()];
            let times = &columns.times[first..first + scores.len()];
            selection.offer_filtered(scores, first as u64, |i| {
                self.filter.accepts(cameras[i], times[i])
            });
        }
    }
}

/// Scans every entry for every query on up to `threads` threads; the candidates of each
/// query, in no particular order.
pub(super) fn scan(columns: &Columns, queries: &[Prepared], threads: usize) -> Vec<Vec<Candidate>> {
    let ranges = split(columns.len(), threads);
    let mut parts = std::thread::scope(|scope| {
        let handles: Vec<_> = ranges[1..]
            .iter()
            .map(|range| {
                let range = range.clone();
                scope.spawn(move || scan_range(columns, queries, range))
            })
            .collect();
        let mut parts = vec![scan_range(columns, queries, ranges[0].clone())];
        for handle in handles {
            match handle.join() {
                Ok(part) => parts.push(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let mut merged = parts.remove(0);
    for part in parts {
        for (selection, other) in merged.iter_mut().zip(part) {
            selection.merge(other);
        }
    }
    merged.into_iter().map(Selection::finish).collect()
}

/// `0..len` cut into at most `threads` ranges on `SUMMARY_SPAN` boundaries (always one, maybe
/// empty).
fn split(len: usize, threads: usize) -> Vec<Range<usize>> {
    let threads = threads.clamp(1, (len / ENTRIES_PER_THREAD).max(1));
    let spans = len.div_ceil(SUMMARY_SPAN);
    let per_thread = spans.div_ceil(threads).max(1) * SUMMARY_SPAN;
    let mut ranges: Vec<Range<usize>> = (0..len)
        .step_by(per_thread)
        .map(|start| start..(start + per_thread).min(len))
        .collect();
    if ranges.is_empty() {
        ranges.push(0..0);
    }
    ranges
}

fn scan_range(columns: &Columns, queries: &[Prepared], range: Range<usize>) -> Vec<Selection> {
    let mut selections: Vec<Selection> = queries
        .iter()
        .map(|q| Selection::new(q.cap, q.floor))
        .collect();
    if queries.len() >= BATCH_MIN {
        scan_batch(columns, queries, range, &mut selections);
    } else {
        scan_rows(columns, queries, range, &mut selections);
    }
    selections
}

fn scan_rows(
    columns: &Columns,
    queries: &[Prepared],
    range: Range<usize>,
    selections: &mut [Selection],
) {
    let dims = columns.dims;
    let mut dots = vec![0i32; ROW_TILE];
    let mut scores = vec![0.0f32; ROW_TILE];
    for start in range.clone().step_by(ROW_TILE) {
        let end = (start + ROW_TILE).min(range.end);
        let len = end - start;
        let times = columns.time_spans[start / SUMMARY_SPAN];
        let codes = &columns.codes[start * dims..end * dims];
        let deltas = &columns.deltas[start..end];
        for (query, selection) in queries.iter().zip(selections.iter_mut()) {
            if !query.wants(times) {
                continue;
            }
            kernels::dots_rows(&query.codes.codes, codes, &mut dots[..len]);
            kernels::scale_dots(&dots[..len], deltas, query.codes.delta, &mut scores[..len]);
            query.offer(selection, &scores[..len], start, columns);
        }
    }
}

fn scan_batch(
    columns: &Columns,
    queries: &[Prepared],
    range: Range<usize>,
    selections: &mut [Selection],
) {
    let dims = columns.dims;
    let groups = queries.len().div_ceil(QUERY_GROUP);
    // Query codes four abreast: `query_columns[group · dims + d][j]`; padding queries are 0.
    let mut query_columns = vec![[0.0f32; QUERY_GROUP]; groups * dims];
    for (q, query) in queries.iter().enumerate() {
        for (d, &code) in query.codes.codes_f32.iter().enumerate() {
            query_columns[(q / QUERY_GROUP) * dims + d][q % QUERY_GROUP] = code;
        }
    }
    let mut tile = Vec::with_capacity(BATCH_TILE / LANES * dims);
    let mut out = vec![[0.0f32; LANES]; groups * QUERY_GROUP * (BATCH_TILE / LANES)];
    let mut wanted = vec![false; queries.len()];
    for start in range.clone().step_by(BATCH_TILE) {
        let end = (start + BATCH_TILE).min(range.end);
        let len = end - start;
        let times = columns.time_spans[start / SUMMARY_SPAN];
        for (want, query) in wanted.iter_mut().zip(queries) {
            *want = query.wants(times);
        }
        if !wanted.contains(&true) {
            continue;
        }
        kernels::transpose_tile(&columns.codes[start * dims..end * dims], dims, &mut tile);
        let blocks = len.div_ceil(LANES);
        let out = &mut out[..groups * QUERY_GROUP * blocks];
        kernels::dots_tile(&query_columns, &tile, dims, out);
        let deltas = &columns.deltas[start..end];
        for (q, (query, selection)) in queries.iter().zip(selections.iter_mut()).enumerate() {
            if !wanted[q] {
                continue;
            }
            let scores = &mut out[q * blocks..(q + 1) * blocks].as_flattened_mut()[..len];
            kernels::scale_in_place(scores, deltas, query.codes.delta);
            query.offer(selection, scores, start, columns);
        }
    }
}
