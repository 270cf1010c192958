//! Searching: each query checked against the index's model, normalised and quantised; one
//! scan for all of them; then each query's candidates re-ranked with the exact vectors.

use super::{
    EmbeddingIndex, IndexError, kernels,
    quantize::{self, QueryCodes},
    scan::{self, Prepared},
    select::Candidate,
    types::{EntryId, Hit, Query},
};

/// A top-k search re-ranks at least `k` plus this many candidates.
const MIN_EXTRA_CANDIDATES: usize = 16;

impl EmbeddingIndex {
    /// Runs one query; its hits, best first (ties by id).
    pub fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>, IndexError> {
        let mut hits = self.search_batch(std::slice::from_ref(query))?;
        Ok(hits.pop().unwrap_or_default())
    }

    /// Runs several queries in one scan of the index (much cheaper per query than one by one
    /// from about eight queries); the hits of each, in the order of `queries`. Nothing runs
    /// when any query is refused.
    pub fn search_batch(&self, queries: &[Query<'_>]) -> Result<Vec<Vec<Hit>>, IndexError> {
        let prepared = queries
            .iter()
            .map(|query| self.prepare(query))
            .collect::<Result<Vec<_>, _>>()?;
        let candidates = scan::scan(&self.columns, &prepared, self.options.threads);
        let work: Vec<_> = queries.iter().zip(&prepared).zip(candidates).collect();
        let threads = self.options.threads.clamp(1, work.len().max(1));
        if threads == 1 {
            return work
                .into_iter()
                .map(|((query, prepared), candidates)| self.rerank(query, prepared, candidates))
                .collect();
        }
        let per_thread = work.len().div_ceil(threads);
        let mut work = work.into_iter();
        std::thread::scope(|scope| {
            let mut handles = Vec::new();
            loop {
                let part: Vec<_> = work.by_ref().take(per_thread).collect();
                if part.is_empty() {
                    break;
                }
                handles.push(scope.spawn(move || {
                    part.into_iter()
                        .map(|((query, prepared), candidates)| {
                            self.rerank(query, prepared, candidates)
                        })
                        .collect::<Result<Vec<_>, _>>()
                }));
            }
            let mut hits = Vec::with_capacity(queries.len());
            for handle in handles {
                match handle.join() {
                    Ok(part) => hits.extend(part?),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Ok(hits)
        })
    }

    fn prepare(&self, query: &Query<'_>) -> Result<Prepared, IndexError> {
        query.validate()?;
        self.check(&query.embedding)?;
        let codes = QueryCodes::new(quantize::normalised(query.embedding.values)?);
        let factor = self.options.rerank_factor;
        let entries = usize::try_from(self.len()).unwrap_or(usize::MAX);
        let cap = query.top_k.map(|k| {
            if k == 0 {
                0
            } else {
                k.saturating_mul(factor)
                    .max(k.saturating_add(MIN_EXTRA_CANDIDATES))
                    .min(entries)
            }
        });
        let bound = codes.error_bound(self.columns.max_delta, self.columns.max_l1);
        let floor = query.min_score.map(|min| min - bound);
        Ok(Prepared {
            codes,
            filter: query.filter.clone(),
            cap,
            floor,
        })
    }

    /// Scores `candidates` with the exact vectors; keeps those at or above the query's minimum
    /// score, best first, at most `k`.
    fn rerank(
        &self,
        query: &Query<'_>,
        prepared: &Prepared,
        mut candidates: Vec<Candidate>,
    ) -> Result<Vec<Hit>, IndexError> {
        // In file order, so neighbouring candidates share pages.
        candidates.sort_unstable_by_key(|c| c.index);
        let mut bytes = Vec::new();
        let mut vector = vec![0.0; self.dims()];
        let mut hits = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            self.store
                .read_vector(candidate.index, &mut bytes, &mut vector)?;
            let score = kernels::exact_dot(&prepared.codes.unit, &vector);
            if query.min_score.is_some_and(|min| score < min) {
                continue;
            }
            hits.push(Hit {
                id: EntryId(candidate.index),
                score,
                meta: self.columns.meta(candidate.index as usize),
            });
        }
        hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        if let Some(k) = query.top_k {
            hits.truncate(k);
        }
        Ok(hits)
    }
}
