//! The exact answer: every query against every vector in `f64`, on all cores, and recall.

use std::collections::HashSet;

use super::data::Vectors;

/// The ids of the `k` vectors with the highest `f64` inner product with each query, best
/// first (ties by id).
pub(super) fn top_k(
    vectors: &Vectors,
    queries: &Vectors,
    k: usize,
    threads: usize,
) -> Vec<Vec<u64>> {
    let n = vectors.len();
    let per_thread = n.div_ceil(threads.max(1)).max(1);
    let parts: Vec<Vec<Vec<(f64, u64)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(per_thread)
            .map(|start| {
                let end = (start + per_thread).min(n);
                scope.spawn(move || scan(vectors, queries, k, start..end))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    (0..queries.len())
        .map(|q| {
            let mut best: Vec<(f64, u64)> = parts.iter().flat_map(|p| p[q].clone()).collect();
            sort(&mut best);
            best.into_iter().take(k).map(|(_, id)| id).collect()
        })
        .collect()
}

fn scan(
    vectors: &Vectors,
    queries: &Vectors,
    k: usize,
    range: std::ops::Range<usize>,
) -> Vec<Vec<(f64, u64)>> {
    let mut best: Vec<Vec<(f64, u64)>> = vec![Vec::with_capacity(k + 1); queries.len()];
    let queries: Vec<Vec<f64>> = (0..queries.len())
        .map(|q| queries.row(q).iter().map(|&x| f64::from(x)).collect())
        .collect();
    for i in range {
        let v = vectors.row(i);
        for (query, best) in queries.iter().zip(best.iter_mut()) {
            let score = dot(query, v);
            if best.len() < k || score > best[best.len() - 1].0 {
                best.push((score, i as u64));
                sort(best);
                best.truncate(k);
            }
        }
    }
    best
}

fn dot(query: &[f64], v: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 4];
    for (q, x) in query.chunks_exact(4).zip(v.chunks_exact(4)) {
        for lane in 0..4 {
            lanes[lane] += q[lane] * f64::from(x[lane]);
        }
    }
    let tail: f64 = query
        .chunks_exact(4)
        .remainder()
        .iter()
        .zip(v.chunks_exact(4).remainder())
        .map(|(q, x)| q * f64::from(*x))
        .sum();
    lanes.iter().sum::<f64>() + tail
}

fn sort(best: &mut [(f64, u64)]) {
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
}

/// Mean over queries of the share of the true top-k found.
pub(super) fn recall(found: &[Vec<u64>], truth: &[Vec<u64>]) -> f64 {
    let total: f64 = found
        .iter()
        .zip(truth)
        .map(|(found, truth)| {
            let truth: HashSet<_> = truth.iter().collect();
            found.iter().filter(|id| truth.contains(id)).count() as f64 / truth.len().max(1) as f64
        })
        .sum();
    total / truth.len().max(1) as f64
}
