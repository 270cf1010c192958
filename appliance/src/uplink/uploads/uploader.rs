//! The uploader: one task for as long as the uplink lives, taking the grants that are due a
//! few at a time (`uplink.uploads_at_once`) and uploading each match's face crop, then its
//! frame. It needs the object store only, not the broker: the events it writes wait in the
//! outbox like any other.
//!
//! How a grant ends:
//! - both snapshots stored: `snapshots_uploaded`, with the two files' sizes (which the relay
//!   meters), goes to the outbox and the grant is forgotten, in one transaction;
//! - expired (checked before every PUT, so an expired grant is never tried), or refused by
//!   the store (403, or any other 4xx): `snapshots_wanted` and the grant forgotten, in one
//!   transaction; the relay answers with a new grant;
//! - the match or its files are gone (retention removed them): the grant is forgotten, with
//!   a log line and a counter;
//! - the store cannot be reached, times out or answers 5xx/408/429: tried again after a
//!   backoff (`upload_retry_min_ms` doubling to `upload_retry_max_ms`, plus up to half at
//!   random), until it expires.
//!
//! Each snapshot stored is marked in the grant's row at once, so a restart resumes with
//! the other one; a grant replaced meanwhile (a newer version) is left to its replacement.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use protocol::search::{SearchEvent, SearchEventBody};
use tracing::Instrument;

use super::grants::{self, Grant};
use super::put::{self, Put};
use crate::engine::{EngineError, Snapshot};
use crate::uplink::{Kind, Shared, now_ms, outbox};

/// Grants read per pass: a few rounds of `uploads_at_once`.
const ROUNDS_PER_PASS: usize = 4;

/// How one grant's turn ended.
#[derive(Debug)]
enum Ended {
    /// Both stored; the two files' sizes together.
    Uploaded {
        bytes: u64,
    },
    Expired,
    Refused(String),
    FilesGone(String),
    Unavailable(String),
    /// A newer grant for the same match came meanwhile: it goes on with that one.
    Replaced,
}

/// Uploads what the grants ask for, for as long as the uplink lives.
pub(in crate::uplink) async fn run(shared: Arc<Shared>) {
    loop {
        let config = shared.config();
        let now = now_ms();
        let limit = config.uploads_at_once * ROUNDS_PER_PASS;
        let due = match shared.db.read(move |c| grants::due(c, now, limit)).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "uplink: cannot read the upload grants");
                pause(&shared, config.upload_retry_min_ms).await;
                continue;
            }
        };
        if due.is_empty() {
            wait_for_work(&shared).await;
            continue;
        }
        let stored = futures::stream::iter(due)
            .map(|grant| upload(&shared, grant))
            .buffer_unordered(config.uploads_at_once)
            .fold(true, |all, stored| async move { all && stored })
            .await;
        if !stored {
            // The database refused what was done: not at once again.
            pause(&shared, config.upload_retry_min_ms).await;
        }
    }
}

/// Until the next grant is due, or a new one comes.
async fn wait_for_work(shared: &Shared) {
    let next = shared.db.read(grants::next_due_ms).await;
    let woken = shared.uploads.wake.notified();
    match next {
        Ok(Some(at_ms)) => {
            let wait = u64::try_from(at_ms - now_ms()).unwrap_or(0);
            let _ = tokio::time::timeout(Duration::from_millis(wait), woken).await;
        }
        Ok(None) => woken.await,
        Err(e) => {
            tracing::warn!(error = %e, "uplink: cannot read when the next upload is due");
            pause(shared, shared.config().upload_retry_min_ms).await;
        }
    }
}

/// Waits `ms`, or less when a new grant comes.
async fn pause(shared: &Shared, ms: u64) {
    let woken = shared.uploads.wake.notified();
    let _ = tokio::time::timeout(Duration::from_millis(ms), woken).await;
}

/// One grant's turn; whether what came of it was stored.
async fn upload(shared: &Shared, grant: Grant) -> bool {
    let span = tracing::info_span!(
        "upload",
        search = %grant.key.search_id,
        match_id = grant.key.match_id
    );
    async {
        let ended = upload_both(shared, &grant).await;
        conclude(shared, &grant, ended).await
    }
    .instrument(span)
    .await
}

/// Uploads what of the match's face crop and frame is not yet stored, face first.
async fn upload_both(shared: &Shared, grant: &Grant) -> Ended {
    if grant.expires_at_ms <= now_ms() {
        return Ended::Expired;
    }
    let (face, frame) = match files_of(shared, grant.key.match_id).await {
        Ok(files) => files,
        Err(ended) => return ended,
    };
    let timeout = shared.config().upload_timeout();
    let snapshots = [
        (Snapshot::Face, &grant.face_url, face, grant.face_uploaded),
        (
            Snapshot::Frame,
            &grant.frame_url,
            frame,
            grant.frame_uploaded,
        ),
    ];
    let mut stored_bytes = 0u64;
    for (which, url, path, uploaded) in snapshots {
        if uploaded {
            // Stored in an earlier turn (before a restart): its size is the file's.
            stored_bytes = stored_bytes.saturating_add(file_size(&path).await);
            continue;
        }
        if grant.expires_at_ms <= now_ms() {
            return Ended::Expired;
        }
        match put::put_jpeg(&shared.http, url, &path, timeout).await {
            Put::Uploaded { bytes } => {
                stored_bytes = stored_bytes.saturating_add(bytes);
                shared
                    .uploads
                    .counters
                    .bytes
                    .fetch_add(bytes, Ordering::Relaxed);
                metrics::counter!("dipper_snapshot_upload_bytes_total").increment(bytes);
                let key = grant.key;
                let marked = (shared.db)
                    .write(move |tx| grants::mark_uploaded(tx, &key, which))
                    .await;
                match marked {
                    Ok(true) => {}
                    Ok(false) => return Ended::Replaced,
                    Err(e) => return Ended::Unavailable(format!("recording the upload: {e}")),
                }
            }
            Put::Unavailable(reason) => return Ended::Unavailable(reason),
            Put::Refused(reason) => return Ended::Refused(reason),
            Put::FileGone(reason) => return Ended::FilesGone(reason),
        }
    }
    Ended::Uploaded {
        bytes: stored_bytes,
    }
}

/// The size of a snapshot uploaded before; 0 if it cannot be read (it then goes unmetered).
async fn file_size(path: &Path) -> u64 {
    match tokio::fs::metadata(path).await {
        Ok(metadata) => metadata.len(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "uplink: cannot read the size of an uploaded snapshot");
            0
        }
    }
}

/// The match's face crop and frame, found through the engine.
async fn files_of(shared: &Shared, match_id: i64) -> Result<(PathBuf, PathBuf), Ended> {
    let found = async {
        let face = shared
            .engine
            .snapshot_path(match_id, Snapshot::Face)
            .await?;
        let frame = shared
            .engine
            .snapshot_path(match_id, Snapshot::Frame)
            .await?;
        Ok::<_, EngineError>((face, frame))
    };
    found.await.map_err(|e| match e {
        EngineError::NotFound { .. } => Ended::FilesGone(e.to_string()),
        other => Ended::Unavailable(format!("finding the snapshots: {other}")),
    })
}

/// Records how the grant's turn ended; whether that was stored.
async fn conclude(shared: &Shared, grant: &Grant, ended: Ended) -> bool {
    let counters = &shared.uploads.counters;
    let match_id = grant.key.match_id;
    let (outcome, stored) = match ended {
        Ended::Uploaded { bytes } => {
            counters.uploaded.fetch_add(1, Ordering::Relaxed);
            let uploaded = SearchEventBody::SnapshotsUploaded {
                match_id,
                bytes: Some(bytes),
            };
            let stored = finish(shared, grant, uploaded);
            ("uploaded", stored.await)
        }
        Ended::Expired => {
            tracing::info!("uplink: an upload grant expired; asking the relay for another");
            counters.asked_again.fetch_add(1, Ordering::Relaxed);
            let stored = finish(shared, grant, SearchEventBody::SnapshotsWanted { match_id });
            ("expired", stored.await)
        }
        Ended::Refused(reason) => {
            tracing::warn!(%reason, "uplink: the store refused an upload; asking the relay for another grant");
            counters.asked_again.fetch_add(1, Ordering::Relaxed);
            let stored = finish(shared, grant, SearchEventBody::SnapshotsWanted { match_id });
            ("refused", stored.await)
        }
        Ended::FilesGone(reason) => {
            tracing::warn!(%reason, "uplink: a match's snapshots are gone; its grant is dropped");
            counters.files_gone.fetch_add(1, Ordering::Relaxed);
            let key = grant.key;
            let stored = shared.db.write(move |tx| grants::forget(tx, &key)).await;
            ("files_gone", log_failure(stored, "drop an upload grant"))
        }
        Ended::Unavailable(reason) => {
            counters.retried.fetch_add(1, Ordering::Relaxed);
            (
                "store_unavailable",
                retry_later(shared, grant, reason).await,
            )
        }
        Ended::Replaced => return true,
    };
    metrics::counter!("dipper_snapshot_uploads_total", "outcome" => outcome).increment(1);
    stored
}

/// Forgets the grant and writes `body` to the outbox, in one transaction.
async fn finish(shared: &Shared, grant: &Grant, body: SearchEventBody) -> bool {
    let key = grant.key;
    let quota = shared.config().quota_bytes();
    let written = shared
        .db
        .write(move |tx| {
            if !grants::forget(tx, &key)? {
                return Ok(false);
            }
            let search = key.search_id;
            let event = move |seq| protocol::encode(&SearchEvent::new(seq, search, body));
            outbox::enqueue(tx, Kind::SearchEvent, "events", quota, now_ms(), event)?;
            Ok(true)
        })
        .await;
    if matches!(written, Ok(true)) {
        shared.wake.notify_one();
    }
    log_failure(written, "end an upload grant")
}

/// Puts the grant off by the backoff its failed tries have earned.
async fn retry_later(shared: &Shared, grant: &Grant, reason: String) -> bool {
    let config = shared.config();
    let delay = retry_delay(
        grant.attempts,
        config.upload_retry_min_ms,
        config.upload_retry_max_ms,
    );
    tracing::warn!(%reason, attempt = grant.attempts + 1, retry_in_ms = delay, "uplink: a snapshot upload failed; trying again later");
    let key = grant.key;
    let at_ms = now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    let stored = (shared.db)
        .write(move |tx| grants::retry_at(tx, &key, at_ms, &reason))
        .await;
    log_failure(stored, "put an upload off")
}

/// `min_ms` doubled for each earlier failure, at most `max_ms`, plus up to half of it at
/// random, so boxes cut off from the store together do not come back together.
fn retry_delay(attempts: u32, min_ms: u64, max_ms: u64) -> u64 {
    let base = min_ms
        .saturating_mul(1u64.checked_shl(attempts).unwrap_or(u64::MAX))
        .min(max_ms);
    base + rand::random_range(0..=base / 2)
}

fn log_failure<T>(result: Result<T, crate::db::DbError>, doing: &str) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(error = %e, "uplink: cannot {doing}; it is done again");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;

    #[test]
    fn the_retry_delay_doubles_to_its_bound_with_up_to_half_again_at_random() {
        for (attempts, base) in [(0, 100), (1, 200), (3, 800), (4, 1_000), (70, 1_000)] {
            for _ in 0..50 {
                let delay = retry_delay(attempts, 100, 1_000);
                assert!(
                    (base..=base + base / 2).contains(&delay),
                    "attempt {attempts}: {delay} not in {base}..={}",
                    base + base / 2
                );
            }
        }
    }
}
