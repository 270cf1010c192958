//! The scan's arithmetic, as plain loops the compiler vectorises, each compiled twice by
//! `multiversion` (AVX2+FMA, and the x86-64 baseline) and picked at run time.
//!
//! - [`dots_rows`]: one query's int8 dot products with a run of entries, row by row. Compiles
//!   to `vpmovsxbw` + `vpmaddwd` + `vpaddd` under AVX2 (checked in the assembly); the scan of
//!   one query is bound by memory bandwidth, not by this.
//! - [`transpose_tile`] + [`dots_tile`]: many queries against a tile of entries. The tile's
//!   codes are turned into `f32` once, laid out eight entries abreast (`[dim][entry]`), and
//!   a 4-query × 16-entry register block multiplies them: per dimension two loads, four
//!   broadcasts and eight `vfmadd231ps`, with the tile in L2 and the queries in L1. The
//!   products of codes are small integers and every partial sum stays below 2^24
//!   (`MAX_DIMS` × 127²), so the `f32` sums are exact: both kernels give the same numbers.
//! - [`exact_dot`]: the `f32` cosine of the re-rank, summed in eight lanes in a fixed order
//!   without fused multiply-add, so it is the same number on every CPU.

use multiversion::multiversion;

/// Entries side by side in a transposed tile (one AVX2 register of `f32`).
pub(super) const LANES: usize = 8;

/// Queries in one register block of [`dots_tile`].
pub(super) const QUERY_GROUP: usize = 4;

/// `out[r] = query · codes[r]` for each row `r` of `codes` (rows of `query.len()` codes).
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn dots_rows(query: &[i16], codes: &[i8], out: &mut [i32]) {
    let dims = query.len();
    for (row, dot) in codes.chunks_exact(dims).zip(out.iter_mut()) {
        *dot = row
            .iter()
            .zip(query)
            .map(|(&c, &q)| i32::from(c) * i32::from(q))
            .sum();
    }
}

/// `out[r] = dots[r] · deltas[r] · query_delta`: integer dot products to approximate
/// cosines.
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn scale_dots(dots: &[i32], deltas: &[f32], query_delta: f32, out: &mut [f32]) {
    for ((score, &dot), &delta) in out.iter_mut().zip(dots).zip(deltas) {
        *score = dot as f32 * delta * query_delta;
    }
}

/// `scores[r] *= deltas[r] · query_delta`, for the batch kernel's `f32` dot products.
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn scale_in_place(scores: &mut [f32], deltas: &[f32], query_delta: f32) {
    for (score, &delta) in scores.iter_mut().zip(deltas) {
        *score = *score * delta * query_delta;
    }
}

/// Lays out the rows of `codes` (`dims` codes each) as `f32`, [`LANES`] entries abreast:
/// `tile[block · dims + d][lane]` is code `d` of row `block · LANES + lane`. A last partial
/// block is padded with zeros.
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn transpose_tile(codes: &[i8], dims: usize, tile: &mut Vec<[f32; LANES]>) {
    let blocks = (codes.len() / dims).div_ceil(LANES);
    tile.clear();
    tile.resize(blocks * dims, [0.0; LANES]);
    for (block, rows) in tile.chunks_exact_mut(dims).zip(codes.chunks(dims * LANES)) {
        for (lane, row) in rows.chunks_exact(dims).enumerate() {
            for (column, &code) in block.iter_mut().zip(row) {
                column[lane] = f32::from(code);
            }
        }
    }
}

/// Dot products of query groups with a transposed tile.
///
/// `queries[group · dims + d][j]` is code `d` of query `group · QUERY_GROUP + j` (as `f32`);
/// `tile` comes from [`transpose_tile`]. Writes `out[query · blocks + block][lane]`, the dot
/// product of that query with entry `block · LANES + lane`.
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn dots_tile(
    queries: &[[f32; QUERY_GROUP]],
    tile: &[[f32; LANES]],
    dims: usize,
    out: &mut [[f32; LANES]],
) {
    // Exact either way (see the module docs); fused where the CPU has FMA.
    let fused = multiversion::target::target_cfg_f!(target_feature = "fma");
    let madd = |a: f32, b: f32, c: f32| if fused { a.mul_add(b, c) } else { a * b + c };
    let blocks = tile.len() / dims;
    for (group, query_columns) in queries.chunks_exact(dims).enumerate() {
        let first_row = group * QUERY_GROUP * blocks;
        let mut block = 0;
        while block + 2 <= blocks {
            let left = &tile[block * dims..(block + 1) * dims];
            let right = &tile[(block + 1) * dims..(block + 2) * dims];
            let mut acc = [[[0.0f32; LANES]; 2]; QUERY_GROUP];
            for ((q, l), r) in query_columns.iter().zip(left).zip(right) {
                for j in 0..QUERY_GROUP {
                    for lane in 0..LANES {
                        acc[j][0][lane] = madd(q[j], l[lane], acc[j][0][lane]);
                        acc[j][1][lane] = madd(q[j], r[lane], acc[j][1][lane]);
                    }
                }
            }
            for (j, pair) in acc.iter().enumerate() {
                let row = first_row + j * blocks + block;
                out[row] = pair[0];
                out[row + 1] = pair[1];
            }
            block += 2;
        }
        if block < blocks {
            let last = &tile[block * dims..(block + 1) * dims];
            let mut acc = [[0.0f32; LANES]; QUERY_GROUP];
            for (q, x) in query_columns.iter().zip(last) {
                for j in 0..QUERY_GROUP {
                    for lane in 0..LANES {
                        acc[j][lane] = madd(q[j], x[lane], acc[j][lane]);
                    }
                }
            }
            for (j, lanes) in acc.iter().enumerate() {
                out[first_row + j * blocks + block] = *lanes;
            }
        }
    }
}

/// The `f32` dot product of two vectors of the same length, summed in eight lanes in a fixed
/// order (no fused multiply-add), so the result does not depend on the CPU.
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn exact_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut a_chunks = a.chunks_exact(LANES);
    let mut b_chunks = b.chunks_exact(LANES);
    for (x, y) in a_chunks.by_ref().zip(b_chunks.by_ref()) {
        for lane in 0..LANES {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    for (lane, (x, y)) in a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .enumerate()
    {
        lanes[lane] += x * y;
    }
    let quads = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (quads[0] + quads[2]) + (quads[1] + quads[3])
}
