//! Answering a task from the index: the footage background indexing has covered, searched
//! for every source whose cursor is in it together, a window at a time.
//!
//! A window takes up to `search.indexed_batch` recordings in all, shared among its sources
//! (with 16 cameras, 256 each: about four hours of one-minute recordings). It reads each
//! source's batch ([`covered::read_batch`]), searches them all with one index query (the
//! entries of a stretch of time of every camera lie together in the index, so one scan of
//! them answers every camera, where a query per camera would scan them once per camera),
//! and stores every batch with its source's cursor in one transaction. A source's cursor
//! moves in memory only once that transaction has committed.
//!
//! Sources whose cursor is before their coverage (footage the camera must be asked for
//! first) are left to the one-source path, which calls [`search_covered`] for one source.

use std::sync::{Arc, atomic::Ordering};

use futures::StreamExt;
use pipeline::index::EmbeddingRef;

use super::{SearchTask, Work, covered, process};
use crate::{
    db::DbError,
    engine::{
        background::coverage,
        store::{NewMatch, Source},
    },
};

/// What background indexing has covered of a source, from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Covered {
    /// The cursor was inside the covered footage: a batch of it was searched and stored and
    /// the cursor moved past it.
    Stored,
    /// The covered footage begins after the cursor, here.
    From(i64),
    Nothing,
}

/// Searches, together, the covered footage of every unfinished source whose cursor is in
/// it, until none is. What is left of each (footage before or after its coverage) is for
/// the one-source path; so is everything after a database error, which that path meets
/// again and reports.
pub(super) async fn search_together(task: &Arc<SearchTask>, sources: &mut [Source], to_ms: i64) {
    let mut work = Work::new();
    let mut open: Vec<bool> = sources.iter().map(|s| !s.search_done).collect();
    while open.contains(&true) && !task.cancel.is_cancelled() {
        let mut window: Vec<&mut Source> = sources
            .iter_mut()
            .zip(&open)
            .filter_map(|(source, &open)| open.then_some(source))
            .collect();
        let Ok(outcomes) = search_covered(task, &mut window, to_ms, &mut work).await else {
            break;
        };
        let still = window
            .iter()
            .zip(outcomes)
            .map(|(source, outcome)| outcome == Covered::Stored && !source.search_done);
        let mut still = still.collect::<Vec<_>>().into_iter();
        for open in open.iter_mut().filter(|open| **open) {
            *open = still.next().unwrap_or(false);
        }
    }
    while work.next().await.is_some() {}
}

/// Answers a window of the covered footage of `sources` from the index: for each source,
/// whether its cursor was in covered footage (and the window searched and stored).
pub(super) async fn search_covered(
    task: &Arc<SearchTask>,
    sources: &mut [&mut Source],
    to_ms: i64,
    work: &mut Work,
) -> Result<Vec<Covered>, DbError> {
    let per_source = (task.searches.config.indexed_batch as usize / sources.len().max(1)).max(1);
    let (id, wanted) = (
        task.id.clone(),
        sources.iter().map(|s| **s).collect::<Vec<_>>(),
    );
    let found = (task.searches.db)
        .read(move |c| {
            let mut found = Vec::with_capacity(wanted.len());
            for source in &wanted {
                found.push(read_window(c, &id, source, to_ms, per_source)?);
            }
            Ok(found)
        })
        .await?;
    let mut outcomes = Vec::with_capacity(found.len());
    let mut batches = Vec::new();
    for (source, found) in sources.iter().zip(found) {
        match found {
            Ok(batch) => {
                outcomes.push(Covered::Stored);
                let mut moved = **source;
                moved.cursor_ms = batch.next_cursor_ms;
                moved.search_done = batch.next_cursor_ms >= to_ms;
                batches.push((moved, batch));
            }
            Err(covered) => outcomes.push(covered),
        }
    }
    if batches.is_empty() {
        return Ok(outcomes);
    }
    let entries = batches
        .iter()
        .flat_map(|(source, batch)| batch.indexed.iter().map(|r| r.entries(source.camera_id)));
    let matches = match search_index(task, entries.collect()).await {
        Ok(matches) => matches,
        Err(error) => {
            tracing::warn!(task = %task.id, %error, "searching the index failed; searching the recordings one by one");
            batches.iter_mut().for_each(|(_, batch)| batch.one_by_one());
            Vec::new()
        }
    };
    let searched: u64 = batches.iter().map(|(_, b)| b.indexed.len() as u64).sum();
    let moved: Vec<Source> = batches.iter().map(|(source, _)| *source).collect();
    let id = task.id.clone();
    let pending = (task.searches.db)
        .write(move |tx| Ok(covered::store(tx, &id, &batches, &matches)?))
        .await
        .inspect_err(
            |e| tracing::error!(task = %task.id, error = %e, "cannot store a window of indexed recordings"),
        )?;
    // Committed: the cursors move.
    for source in sources.iter_mut() {
        if let Some(now) = moved
            .iter()
            .find(|m| (m.camera_id, m.track) == (source.camera_id, source.track))
        {
            **source = *now;
        }
    }
    task.progress.done.fetch_add(searched, Ordering::Relaxed);
    metrics::counter!("dipper_recordings_processed_total").increment(searched);
    for recording in pending {
        work.push(Box::pin(process(Arc::clone(task), recording)));
    }
    // At most a page of recordings waits for processing.
    while work.len() >= task.searches.config.page_size as usize {
        work.next().await;
    }
    Ok(outcomes)
}

/// The source's next batch of covered footage, or where its coverage is if its cursor is
/// not in it.
fn read_window(
    c: &rusqlite::Connection,
    task: &str,
    source: &Source,
    to_ms: i64,
    limit: usize,
) -> rusqlite::Result<Result<covered::Batch, Covered>> {
    let (camera, track, cursor) = (source.camera_id, source.track, source.cursor_ms);
    let Some(coverage) = coverage::of_track(c, camera, track)? else {
        return Ok(Err(Covered::Nothing));
    };
    let span = coverage.covered_from_ms..coverage.covered_to_ms;
    if span.is_empty() || cursor >= span.end {
        return Ok(Err(Covered::Nothing));
    }
    if cursor < span.start {
        return Ok(Err(Covered::From(span.start)));
    }
    let end = span.end.min(to_ms);
    covered::read_batch(c, task, camera, track, cursor..end, limit).map(Ok)
}

/// The target's matches among indexed recordings, with one scan of the index for all the
/// target's embeddings; each face once, at its best distance.
pub(super) async fn search_index(
    task: &SearchTask,
    recordings: Vec<covered::Entries>,
) -> Result<Vec<NewMatch>, String> {
    let index = Arc::clone(&task.index);
    let targets = task.targets.clone();
    let (min_score, max_distance) = (task.min_score, task.match_distance);
    tokio::task::spawn_blocking(move || {
        let target = covered::Target {
            embeddings: targets.iter().map(EmbeddingRef::from).collect(),
            min_score,
            max_distance,
        };
        covered::search(&index.read(), &target, &recordings)
    })
    .await
    .map_err(|e| format!("embedding index: {e}"))?
    .map_err(|e| format!("embedding index: {e}"))
}
