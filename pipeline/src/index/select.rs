//! Choosing re-rank candidates by approximate score: the best `cap` of a scan, or all above a
//! floor, without sorting the scan.
//!
//! Entries above the floor go into a buffer; when it holds `2 × cap` the best `cap` are kept
//! (`select_nth_unstable`, linear) and the floor rises to the worst of them, so after the
//! first few thousand entries almost every score fails one comparison and costs nothing more.

/// Scores tested together before any is looked at alone.
const OFFER_RUN: usize = 16;

/// An entry and its approximate score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    pub score: f32,
    pub index: u64,
}

/// The candidates of one query in one part of a scan.
#[derive(Debug, Clone)]
pub(super) struct Selection {
    /// Keep at most this many (the best); `None` keeps every score above the floor.
    cap: Option<usize>,
    /// Only scores strictly above this enter.
    floor: f32,
    items: Vec<Candidate>,
}

impl Selection {
    /// Keeps the best `cap` (when given) of the scores at or above `min` (when given).
    pub(super) fn new(cap: Option<usize>, min: Option<f32>) -> Selection {
        Selection {
            cap,
            floor: min.map_or(f32::NEG_INFINITY, f32::next_down),
            items: Vec::with_capacity(cap.map_or(64, |cap| cap.saturating_mul(2).min(1 << 16))),
        }
    }

    /// Offers every score of `scores`, the entry of `scores[i]` being `first + i`.
    #[inline]
    pub(super) fn offer_all(&mut self, scores: &[f32], first: u64) {
        self.offer_filtered(scores, first, |_| true);
    }

    /// Offers the scores whose entries `accept` (called with the offset `i`) lets through.
    #[inline]
    pub(super) fn offer_filtered(
        &mut self,
        scores: &[f32],
        first: u64,
        accept: impl Fn(usize) -> bool,
    ) {
        // Almost every score is below the floor once the scan is under way: test a run of
        // them with one vector compare and look closer only when one is above.
        for (run, chunk) in scores.chunks(OFFER_RUN).enumerate() {
            let floor = self.floor;
            if !chunk
                .iter()
                .fold(false, |above, &score| above | (score > floor))
            {
                continue;
            }
            for (j, &score) in chunk.iter().enumerate() {
                let i = run * OFFER_RUN + j;
                if score > self.floor && accept(i) {
                    self.push(score, first + i as u64);
                }
            }
        }
    }

    #[inline]
    fn push(&mut self, score: f32, index: u64) {
        self.items.push(Candidate { score, index });
        if let Some(cap) = self.cap
            && self.items.len() >= 2 * cap.max(1)
        {
            self.compact(cap);
        }
    }

    /// Keeps the best `cap` and raises the floor to the worst of them.
    fn compact(&mut self, cap: usize) {
        if cap == 0 {
            self.items.clear();
            self.floor = f32::INFINITY;
            return;
        }
        if self.items.len() > cap {
            self.items
                .select_nth_unstable_by(cap - 1, |a, b| b.score.total_cmp(&a.score));
            self.items.truncate(cap);
        }
        if self.items.len() == cap {
            let worst = self
                .items
                .iter()
                .map(|c| c.score)
                .fold(f32::INFINITY, f32::min);
            self.floor = self.floor.max(worst);
        }
    }

    /// Adds another part's candidates (of the same query).
    pub(super) fn merge(&mut self, other: Selection) {
        self.items.extend(other.items);
        if let Some(cap) = self.cap
            && self.items.len() > cap
        {
            self.compact(cap);
        }
    }

    /// The candidates: the best `cap`, or all above the floor; in no particular order.
    pub(super) fn finish(mut self) -> Vec<Candidate> {
        if let Some(cap) = self.cap {
            self.compact(cap);
        }
        self.items
    }
}
