//! A task's search over footage that background indexing has covered, answered from the
//! embedding index a batch of recordings at a time instead of one recording at a time.
//!
//! A batch is up to `search.indexed_batch` of a source's recordings from its cursor (by
//! default almost three days of one-minute recordings), read in one query. The indexed ones are searched with
//! one scan of the index over the batch's camera and time span (a query per embedding of
//! the target, merged: each face once, at its best distance); a hit counts only when it is
//! one of those recordings' entries (an entry outside its recording's range is a crash's
//! leftover and never matches). One transaction then stores the matches, the task's
//! counters for the indexed recordings, the rest (failed in the background, or retired by
//! retention: they must be indexed again) as pending for the recording-by-recording path,
//! and the source's cursor past the batch. Since the cursor moves in that transaction, a
//! batch is never counted twice, also after a crash; matches are unique per (task, entry)
//! anyway.
//!
//! Recordings answered this way get no `task_recordings` row unless their video was damaged
//! (the row holds the warning the task's reasons show): a week of one camera's one-minute
//! recordings would be ten thousand rows each task writes.

use std::{collections::HashMap, ops::Range};

use pipeline::index::{EmbeddingIndex, EmbeddingRef, Hit, IndexError, Query};
use rusqlite::{Connection, params};

use crate::engine::store::{
    self, FoundRecording, Indexed, KeyframeCounts, NewMatch, PendingRecording, Source,
};

/// A device clock may stamp keyframes a little outside its recording's announced span.
const CLOCK_MARGIN_MS: i64 = 60_000;

/// One batch of a source's covered recordings.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Indexed: answered from the index.
    pub(super) indexed: Vec<IndexedRecording>,
    /// Not indexed (failed, or retired): processed one by one, as if a camera search found
    /// them.
    pub(super) to_index: Vec<FoundRecording>,
    /// Where the source's cursor goes once the batch is stored.
    pub(super) next_cursor_ms: i64,
}

#[derive(Debug)]
pub(super) struct IndexedRecording {
    pub(super) id: i64,
    pub(super) found: FoundRecording,
    pub(super) indexed: Indexed,
    /// The video was damaged after some keyframes.
    pub(super) decode_error: Option<String>,
}

impl Batch {
    /// The index could not be searched: every recording goes the one-by-one path, where
    /// each fails (or succeeds) with its own reason.
    pub(super) fn one_by_one(&mut self) {
        let indexed = std::mem::take(&mut self.indexed);
        self.to_index.extend(indexed.into_iter().map(|r| r.found));
        self.to_index.sort_by_key(|r| r.start_ms);
    }
}

/// A recording of the track: indexed (with its entries) or not.
struct Row {
    id: i64,
    found: FoundRecording,
    indexed: Option<Indexed>,
    decode_error: Option<String>,
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let count = |i| {
        row.get::<_, Option<i64>>(i)
            .map(|n| n.unwrap_or(0).max(0).unsigned_abs())
    };
    let indexed = if row.get::<_, bool>(5)? {
        Some(Indexed {
            first_entry: count(6)?,
            end_entry: count(7)?,
            keyframes: KeyframeCounts {
                total: count(8)?,
                decoded: count(10)?,
                detected: count(11)?,
            },
            faces: count(9)?,
        })
    } else {
        None
    };
    Ok(Row {
        id: row.get(0)?,
        found: FoundRecording {
            playback_uri: row.get(1)?,
            start_ms: row.get(2)?,
            end_ms: row.get(3)?,
            size: row
                .get::<_, Option<i64>>(4)?
                .and_then(|s| u64::try_from(s).ok()),
        },
        indexed,
        decode_error: row.get(12)?,
    })
}

/// Reads the next batch of the track's recordings starting in `span` that the task has not
/// seen yet. A full batch ends before its last start time, so recordings sharing a start
/// time are never split between two batches.
pub(super) fn read_batch(
    conn: &Connection,
    task: &str,
    camera: i64,
    track: u32,
    span: Range<i64>,
    limit: usize,
) -> rusqlite::Result<Batch> {
    let mut statement = conn.prepare_cached(
        "SELECT r.id, r.playback_uri, r.start_ms, r.end_ms, r.size, r.indexed_at_ms IS NOT NULL,
                r.first_entry, r.end_entry, r.keyframes, r.faces,
                coalesce(r.keyframes_decoded, r.keyframes),
                coalesce(r.keyframes_detected, r.keyframes), r.decode_error
         FROM recordings r
         WHERE r.camera_id = ?1 AND r.track = ?2 AND r.start_ms >= ?3 AND r.start_ms < ?4
           AND NOT EXISTS (SELECT 1 FROM task_recordings t
                           WHERE t.task_id = ?5 AND t.recording_id = r.id)
         ORDER BY r.start_ms LIMIT ?6",
    )?;
    let rows = statement.query_map(
        params![camera, track, span.start, span.end, task, limit as i64],
        read_row,
    )?;
    let mut rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut next_cursor_ms = span.end;
    if rows.len() == limit
        && let Some(last) = rows.last().map(|r| r.found.start_ms)
    {
        let whole = rows.iter().filter(|r| r.found.start_ms < last).count();
        if whole > 0 {
            rows.truncate(whole);
            next_cursor_ms = last;
        } else {
            next_cursor_ms = last + 1;
        }
    }
    let mut batch = Batch {
        next_cursor_ms,
        ..Batch::default()
    };
    for row in rows {
        match row.indexed {
            Some(indexed) => batch.indexed.push(IndexedRecording {
                id: row.id,
                found: row.found,
                indexed,
                decode_error: row.decode_error,
            }),
            None => batch.to_index.push(row.found),
        }
    }
    Ok(batch)
}

/// What to look for, and how close is a match.
#[derive(Debug, Clone)]
pub(super) struct Target<'a> {
    /// One or more embeddings of the person: a face matches when it is near any of them.
    pub(super) embeddings: Vec<EmbeddingRef<'a>>,
    /// Cosine at or above which a face matches.
    pub(super) min_score: f32,
    pub(super) max_distance: f32,
}

/// What the index query needs of an indexed recording.
#[derive(Debug, Clone)]
pub(super) struct Entries {
    camera: i64,
    recording: i64,
    span_ms: Range<i64>,
    entries: Range<u64>,
}

impl Entries {
    /// A recording's `entries`, its keyframes stamped within `span_ms`.
    pub(super) fn new(
        camera: i64,
        recording: i64,
        span_ms: Range<i64>,
        entries: Range<u64>,
    ) -> Entries {
        Entries {
            camera,
            recording,
            span_ms,
            entries,
        }
    }
}

impl IndexedRecording {
    pub(super) fn entries(&self, camera: i64) -> Entries {
        Entries::new(
            camera,
            self.id,
            self.found.start_ms..self.found.end_ms,
            self.indexed.first_entry..self.indexed.end_entry,
        )
    }
}

/// The target's matches among indexed recordings (of one camera or several): one query per
/// embedding of the target over their cameras and the span of their times, all in one scan
/// of the index; a face near several of them is one match, at its best distance.
pub(super) fn search(
    index: &EmbeddingIndex,
    target: &Target<'_>,
    recordings: &[Entries],
) -> Result<Vec<NewMatch>, IndexError> {
    let entries: HashMap<u64, Range<u64>> = recordings
        .iter()
        .filter(|r| !r.entries.is_empty())
        .map(|r| (r.recording as u64, r.entries.clone()))
        .collect();
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let from = recordings
        .iter()
        .map(|r| r.span_ms.start)
        .min()
        .unwrap_or(0);
    let to = recordings.iter().map(|r| r.span_ms.end).max().unwrap_or(0);
    let queries: Vec<Query<'_>> = target
        .embeddings
        .iter()
        .map(|&embedding| {
            Query::at_least(embedding, target.min_score)
                .cameras(recordings.iter().map(|r| r.camera as u32))
                .time_range((from - CLOCK_MARGIN_MS)..(to + CLOCK_MARGIN_MS))
        })
        .collect();
    let hits = best_per_entry(index.search_batch(&queries)?);
    Ok(hits
        .iter()
        .filter(|hit| {
            entries
                .get(&hit.meta.recording)
                .is_some_and(|range| range.contains(&hit.id.0))
        })
        .filter_map(|hit| super::to_match(hit, target.max_distance))
        .collect())
}

/// The hits of several queries merged: each entry once, with its best score (the smallest
/// distance), best first (ties by entry).
fn best_per_entry(hits: Vec<Vec<Hit>>) -> Vec<Hit> {
    let mut best: HashMap<u64, Hit> = HashMap::new();
    for hit in hits.into_iter().flatten() {
        best.entry(hit.id.0)
            .and_modify(|kept| {
                if hit.score > kept.score {
                    *kept = hit;
                }
            })
            .or_insert(hit);
    }
    let mut merged: Vec<Hit> = best.into_values().collect();
    merged.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    merged
}

/// Stores searched batches, each with its source's cursor past it, and their matches, in
/// the caller's transaction; returns the recordings that became pending for the one-by-one
/// path.
pub(super) fn store(
    conn: &Connection,
    task: &str,
    batches: &[(Source, Batch)],
    matches: &[NewMatch],
) -> rusqlite::Result<Vec<PendingRecording>> {
    let mut pending = Vec::new();
    let mut keyframes = KeyframeCounts::default();
    let (mut searched, mut faces) = (0, 0);
    for (source, batch) in batches {
        pending.extend(store::add_found(conn, task, source, &batch.to_index)?);
        let damaged: Vec<_> = batch
            .indexed
            .iter()
            .filter_map(|r| r.decode_error.as_deref().map(|e| (r.id, e)))
            .collect();
        if !damaged.is_empty() {
            store::add_done_rows(conn, task, &damaged)?;
        }
        for recording in &batch.indexed {
            keyframes.total += recording.indexed.keyframes.total;
            keyframes.decoded += recording.indexed.keyframes.decoded;
            keyframes.detected += recording.indexed.keyframes.detected;
            faces += recording.indexed.faces;
        }
        searched += batch.indexed.len() as u64;
    }
    let stored = store::insert_matches(conn, task, matches)?;
    store::add_found_count(conn, task, searched)?;
    store::add_done(conn, task, searched, keyframes, faces, stored)?;
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use pipeline::index::EntryMeta;

    use super::*;

    const MODEL: &str = "dlib-resnet-v1";

    /// A unit vector of 8 dimensions with these values along its first ones and the rest
    /// along dimension 7.
    fn unit(first: &[f32]) -> Vec<f32> {
        let mut v = vec![0.0; 8];
        v[..first.len()].copy_from_slice(first);
        v[7] = (1.0 - first.iter().map(|x| x * x).sum::<f32>())
            .max(0.0)
            .sqrt();
        v
    }

    /// An index of recording 1 of camera 3 holding `faces`, one a second.
    fn index_of(dir: &std::path::Path, faces: &[Vec<f32>]) -> EmbeddingIndex {
        let mut index = EmbeddingIndex::create(dir, MODEL, 8).expect("index");
        for (n, face) in faces.iter().enumerate() {
            let meta = EntryMeta {
                recording: 1,
                camera: 3,
                time_ms: 1_000 * n as i64,
                ..EntryMeta::default()
            };
            index
                .add(EmbeddingRef::new(MODEL, face), meta)
                .expect("added");
        }
        index
    }

    /// `(entry, distance)` of each match (within 0.632, cosine 0.8), by entry.
    fn found(index: &EmbeddingIndex, targets: &[&Vec<f32>]) -> Vec<(u64, f32)> {
        let target = Target {
            embeddings: targets
                .iter()
                .map(|t| EmbeddingRef::new(MODEL, t))
                .collect(),
            min_score: 0.8,
            max_distance: 0.64,
        };
        let recording = Entries::new(3, 1, 0..60_000, 0..index.len());
        let matches = search(index, &target, &[recording]).expect("searched");
        let mut found: Vec<(u64, f32)> = matches.iter().map(|m| (m.entry_id, m.distance)).collect();
        found.sort_by_key(|m| m.0);
        found
    }

    fn distance(cos: f32) -> f32 {
        (2.0 - 2.0 * cos).sqrt()
    }

    fn assert_found(found: &[(u64, f32)], expected: &[(u64, f32)]) {
        let entries = |m: &[(u64, f32)]| m.iter().map(|m| m.0).collect::<Vec<_>>();
        assert_eq!(entries(found), entries(expected), "{found:?}");
        for (found, expected) in found.iter().zip(expected) {
            assert!(
                (found.1 - expected.1).abs() < 1e-3,
                "entry {}: distance {} expected {}",
                found.0,
                found.1,
                expected.1
            );
        }
    }

    #[test]
    fn a_face_near_several_embeddings_matches_once_at_its_best_distance() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Person A's two photos, and person B's.
        let (a1, a2, b) = (
            unit(&[1.0]),
            unit(&[0.8, 0.0, 0.0, 0.0, 0.6]),
            unit(&[0.0, 1.0]),
        );
        let faces = [
            unit(&[0.99]),                         // A: cos 0.99 with a1, 0.79 with a2
            unit(&[0.0, 0.95]),                    // B: cos 0.95
            unit(&[0.0, 0.0, 1.0]),                // nobody
            unit(&[0.85, 0.0, 0.0, 0.0, 0.52678]), // A: cos 0.85 with a1, 0.996 with a2
        ];
        let index = index_of(dir.path(), &faces);

        assert_found(
            &found(&index, &[&a1]),
            &[(0, distance(0.99)), (3, distance(0.85))],
        );
        let person_a = found(&index, &[&a1, &a2]);
        assert_found(&person_a, &[(0, distance(0.99)), (3, distance(0.996))]);
        let both = found(&index, &[&a1, &a2, &b]);
        assert_found(
            &both,
            &[
                (0, distance(0.99)),
                (1, distance(0.95)),
                (3, distance(0.996)),
            ],
        );
        // An unrelated person's embedding beside A's changes nothing of A's matches.
        let c = unit(&[0.0, 0.0, 0.0, 1.0]);
        assert_eq!(found(&index, &[&a1, &a2, &c]), person_a);
    }
}
