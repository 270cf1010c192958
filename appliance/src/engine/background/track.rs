//! One camera track's background indexing: the next window of footage to index (newer
//! recordings first, then older ones back to `keep_days`), its recordings found on the
//! camera, indexed at background priority, and the coverage grown once all are done.
//!
//! A camera that cannot be reached, or a recording it cannot serve, stops the window
//! without growing the coverage: the track says why (its `problem`), waits longer each
//! time, and picks up where it was when the camera answers again. Other tracks go on.
//! Video that cannot be decoded fails only its recording, which is marked with the reason
//! and not tried again in the background (a search over it still tries).

use std::{ops::Range, pin::pin, sync::Arc, time::Duration};

use futures::{StreamExt, stream::FuturesUnordered};
use pipeline::downloader::{Job, Priority};
use rusqlite::Transaction;
use tokio_util::sync::CancellationToken;

use super::{Inner, coverage};
use crate::db::DbError;
use crate::engine::{
    indexer::{IndexingError, Problem, RecordingFailure},
    store::{FoundRecording, PendingRecording, now_ms},
};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;
/// Recordings of one track indexed at once.
const IN_FLIGHT_PER_TRACK: usize = 2;
/// The longest wait between attempts on a camera that fails.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The footage a track indexes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) span: Range<i64>,
    /// Forward windows take recordings closed since the last look, oldest first; backward
    /// ones take older footage, newest first.
    pub(super) forward: bool,
}

/// What to index after `coverage` at `now_ms`; `None`: nothing until the next poll.
pub(super) fn next_window(
    coverage: &coverage::Coverage,
    now_ms: i64,
    config: &crate::config::IndexConfig,
) -> Option<Window> {
    let poll_ms = i64::try_from(config.poll_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    if coverage.covered_to_ms.saturating_add(poll_ms) <= now_ms {
        return Some(Window {
            span: coverage.covered_to_ms..now_ms,
            forward: true,
        });
    }
    let horizon = now_ms - i64::from(config.keep_days) * DAY_MS;
    let from = coverage.covered_from_ms;
    (from > horizon).then(|| Window {
        span: (from - i64::from(config.window_minutes) * MINUTE_MS).max(horizon)..from,
        forward: false,
    })
}

/// Why a window stopped before all its recordings were done.
#[derive(Debug, thiserror::Error)]
pub(super) enum WindowError {
    #[error("stopped")]
    Stopped,
    /// The camera, its recordings or the box's own storage failed for now; try again later.
    #[error("{0}")]
    Unavailable(String),
}

/// Indexes the track until `cancel`.
pub(super) async fn run(inner: Arc<Inner>, camera: i64, track: u32, cancel: CancellationToken) {
    let job = inner.downloader.job(Priority::BACKFILL);
    let mut failures = 0u32;
    while !cancel.is_cancelled() {
        let pause = match step(&inner, camera, track, &job, &cancel).await {
            Ok(true) => {
                failures = 0;
                continue;
            }
            Ok(false) => Duration::from_secs(inner.config.poll_seconds.clamp(1, 5)),
            Err(WindowError::Stopped) => break,
            Err(WindowError::Unavailable(problem)) => {
                failures += 1;
                tracing::warn!(camera, track, %problem, "background indexing waits");
                let stored = problem.clone();
                let _ = (inner.db)
                    .write(move |tx| {
                        Ok(coverage::set_problem(
                            tx,
                            camera,
                            track,
                            Some(&stored),
                            now_ms(),
                        )?)
                    })
                    .await;
                Duration::from_secs(2u64 << failures.min(8)).min(MAX_BACKOFF)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = cancel.cancelled() => break,
        }
    }
    job.cancel();
}

/// Indexes the next window, if one is due; whether one was.
async fn step(
    inner: &Inner,
    camera: i64,
    track: u32,
    job: &Job,
    cancel: &CancellationToken,
) -> Result<bool, WindowError> {
    let now = now_ms();
    let coverage = write(inner, move |tx| {
        Ok(coverage::ensure(tx, camera, track, now)?)
    })
    .await?;
    super::report_lag(&coverage, now);
    let Some(window) = next_window(&coverage, now, &inner.config) else {
        return Ok(false);
    };
    let covered = index_window(inner, camera, track, &window, job, cancel).await?;
    extend_coverage(inner, camera, track, covered).await?;
    Ok(true)
}

/// Finds the window's recordings and indexes those not yet done; the span now covered.
async fn index_window(
    inner: &Inner,
    camera: i64,
    track: u32,
    window: &Window,
    job: &Job,
    cancel: &CancellationToken,
) -> Result<Range<i64>, WindowError> {
    let mut found = search(inner, camera, track, window.span.clone(), cancel).await?;
    // A recording belongs to the window it starts in; one still being written waits for
    // the next forward window.
    let mut covered = window.span.clone();
    found.retain(|r| covered.contains(&r.start_ms));
    if let Some(open) = found
        .iter()
        .filter(|r| r.end_ms > now_ms())
        .map(|r| r.start_ms)
        .min()
    {
        covered.end = open;
        found.retain(|r| r.start_ms < open);
    }
    let now = now_ms();
    let mut waiting = write(inner, move |tx| {
        Ok(coverage::store_found(tx, camera, track, &found, now)?)
    })
    .await?;
    if !window.forward {
        waiting.reverse();
    }
    // A few recordings of a track at a time, so that every track gets its turn at the
    // background's slots.
    let mut queue = waiting.iter().enumerate();
    let mut work = FuturesUnordered::new();
    let start = |(n, recording)| async move { (n, index_one(inner, recording, job, cancel).await) };
    work.extend(queue.by_ref().take(IN_FLIGHT_PER_TRACK).map(start));
    // The coverage grows as soon as the recordings nearest to it are done, not only at the
    // end of the window.
    let mut done = vec![false; waiting.len()];
    let mut nearest_done = 0;
    while let Some((n, result)) = work.next().await {
        result?;
        done[n] = true;
        work.extend(queue.next().map(start));
        let before = nearest_done;
        while done.get(nearest_done) == Some(&true) {
            nearest_done += 1;
        }
        if nearest_done > before && nearest_done < waiting.len() {
            let grown = if window.forward {
                covered.start..waiting[nearest_done].start_ms
            } else {
                waiting[nearest_done - 1].start_ms..covered.end
            };
            extend_coverage(inner, camera, track, grown).await?;
        }
    }
    Ok(covered)
}

/// The camera's recordings overlapping `span`.
async fn search(
    inner: &Inner,
    camera: i64,
    track: u32,
    span: Range<i64>,
    cancel: &CancellationToken,
) -> Result<Vec<FoundRecording>, WindowError> {
    let device = (inner.cameras.device(camera).await)
        .map_err(|e| WindowError::Unavailable(e.to_string()))?;
    let query = isapi::SearchQuery {
        track,
        start: jiff::Timestamp::from_millisecond(span.start).unwrap_or_default(),
        end: jiff::Timestamp::from_millisecond(span.end).unwrap_or_default(),
    };
    let mut stream = pin!(device.search(query));
    let mut found = Vec::new();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = cancel.cancelled() => return Err(WindowError::Stopped),
        };
        match item {
            Some(Ok(recording)) => found.push(FoundRecording {
                start_ms: recording.start.as_millisecond(),
                end_ms: recording.end.as_millisecond(),
                size: recording.size,
                playback_uri: recording.playback_uri,
            }),
            Some(Err(e)) => return Err(WindowError::Unavailable(format!("search failed: {e}"))),
            None => return Ok(found),
        }
    }
}

/// Indexes one recording when a background slot is free, and stores how it went.
async fn index_one(
    inner: &Inner,
    recording: &PendingRecording,
    job: &Job,
    cancel: &CancellationToken,
) -> Result<(), WindowError> {
    let _slot = tokio::select! {
        slot = inner.slots.acquire() => slot.map_err(|_| WindowError::Stopped)?,
        () = cancel.cancelled() => return Err(WindowError::Stopped),
    };
    let error = match inner.indexer.ensure_indexed(recording, job, cancel).await {
        Ok(_) => None,
        Err(IndexingError::Stopped) => return Err(WindowError::Stopped),
        Err(IndexingError::Failed(failure)) if is_for_now(&failure) => {
            return Err(WindowError::Unavailable(failure.to_string()));
        }
        Err(e) => Some(e.to_string()),
    };
    if let Some(reason) = &error {
        tracing::warn!(camera = recording.camera_id, recording = %recording.playback_uri, %reason, "recording not indexed");
    }
    let (camera, track, id) = (recording.camera_id, recording.track, recording.recording_id);
    write(inner, move |tx| {
        let now = now_ms();
        Ok(coverage::recording_done(
            tx,
            camera,
            track,
            id,
            error.as_deref(),
            now,
        )?)
    })
    .await
}

/// Records `span` of the track as covered.
async fn extend_coverage(
    inner: &Inner,
    camera: i64,
    track: u32,
    span: Range<i64>,
) -> Result<(), WindowError> {
    write(inner, move |tx| {
        Ok(coverage::extend(tx, camera, track, span, now_ms())?)
    })
    .await
}

/// Runs `job` on the database's writer; a failure leaves the track unavailable for now.
async fn write<T: Send + 'static>(
    inner: &Inner,
    job: impl FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
) -> Result<T, WindowError> {
    (inner.db)
        .write(job)
        .await
        .map_err(|e| WindowError::Unavailable(format!("database: {e}")))
}

/// Whether a failure is the camera's or the box's for now (try again later), not the
/// recording's for good.
fn is_for_now(failure: &RecordingFailure) -> bool {
    match failure {
        RecordingFailure::Camera(_)
        | RecordingFailure::Lookup(_)
        | RecordingFailure::Database(_)
        | RecordingFailure::Index(_)
        | RecordingFailure::Workers(_)
        | RecordingFailure::DecoderThread(_) => true,
        RecordingFailure::NothingDecoded(problem) => matches!(problem, Problem::Download(_)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IndexConfig;

    fn coverage(from: i64, to: i64) -> coverage::Coverage {
        coverage::Coverage {
            camera_id: 1,
            track: 101,
            covered_from_ms: from,
            covered_to_ms: to,
            recordings_waiting: 0,
            recordings_indexed: 0,
            recordings_failed: 0,
            problem: None,
            updated_at_ms: 0,
        }
    }

    #[test]
    fn a_new_track_goes_back_one_window_at_a_time_to_keep_days() {
        let config = IndexConfig {
            keep_days: 1,
            window_minutes: 60,
            ..IndexConfig::default()
        };
        let now = 10 * DAY_MS;
        let first = next_window(&coverage(now, now), now, &config).expect("a window");
        assert_eq!(first.span, now - 60 * MINUTE_MS..now);
        assert!(!first.forward);
        let last = next_window(&coverage(now - DAY_MS + 30 * MINUTE_MS, now), now, &config)
            .expect("the last window");
        assert_eq!(last.span, now - DAY_MS..now - DAY_MS + 30 * MINUTE_MS);
        assert_eq!(
            next_window(&coverage(now - DAY_MS, now), now, &config),
            None
        );
    }

    #[test]
    fn new_recordings_go_before_older_footage_once_a_poll_is_due() {
        let config = IndexConfig {
            poll_seconds: 60,
            ..IndexConfig::default()
        };
        let now = 10 * DAY_MS;
        let not_due = next_window(&coverage(now - DAY_MS, now - 30_000), now, &config);
        assert_eq!(not_due.map(|w| w.forward), Some(false));
        let due = next_window(&coverage(now - DAY_MS, now - 90_000), now, &config).expect("due");
        assert_eq!(due.span, now - 90_000..now);
        assert!(due.forward);
    }
}
