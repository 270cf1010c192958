//! Searches the relay starts (`createSearch`) and cancels (`cancelSearch`), and their
//! events back through the outbox: progress when it changes, every match, and the end, with
//! the footage the task covered in camera-seconds (which the relay bills as camera-hours).
//!
//! Contract: a search becomes a task through the engine's one task request path
//! (`TaskRequest`, with every embedding of the search), at priority 0, and is answered
//! with `SearchAccepted` (a task the database cannot take at once, busy or on a full disk, is
//! stored once it can, within ten minutes); one whose embeddings are of another model than the box's
//! embedder is answered `model_mismatch` naming both, and nothing is created. The relay's
//! search id and the task are kept in `remote_searches`. A watcher reads each unfinished
//! search's task and writes its new events to the outbox in the same transaction that moves
//! the search's cursor (last match, last progress, finished), so each event is written
//! once, also across restarts. New searches are refused (`outbox_full`) while the outbox
//! is over its quota; events of running searches are never dropped.
//!
//! While the tenant is suspended ([`super::standing`]), a search the box does not know is
//! refused with `tenant_suspended` before anything else is looked at, and no task is
//! created; a retried request for a search it already runs (started before the suspension)
//! is answered with its task as always, and that search, like every local task, goes on.

use std::sync::Arc;
use std::time::Duration;

use protocol::rpc::{MODEL_MISMATCH, RpcError, TENANT_SUSPENDED};
use protocol::search::{
    CreateSearch, SearchAccepted, SearchEvent, SearchEventBody, SearchMatch, SearchProgress,
};
use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use uuid::Uuid;

use super::{Kind, Shared, now_ms, outbox, rpc::to_value};
use crate::db::{DbError, SqlResultExt};
use crate::engine::{EngineError, TaskRequest, TaskState, TaskStatus};

/// How long a new search's task waits at most for the database to take it (busy, or the
/// disk full) before `createSearch` is answered with the error.
const DISK_FULL_WAITS_AT_MOST: Duration = Duration::from_secs(600);

/// How often running searches are looked at.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// Matches written to the outbox per search per look.
const MATCHES_PER_LOOK: u32 = 200;

fn rpc_error(error: EngineError) -> RpcError {
    match error {
        EngineError::Invalid { .. } => RpcError::new("invalid_params", error.to_string()),
        EngineError::NotFound { .. } => RpcError::new("not_found", error.to_string()),
        other => RpcError::new("internal", other.to_string()),
    }
}

fn internal(error: DbError) -> RpcError {
    RpcError::new("internal", error.to_string())
}

/// Starts a task for the relay's search.
pub(super) async fn create(shared: &Shared, create: CreateSearch) -> Result<Value, RpcError> {
    if shared.suspended() {
        return while_suspended(shared, create.search_id).await;
    }
    // `RpcRequest::decode` checked that every embedding of the search is of one model.
    let model = shared.engine.model();
    if create.embedding.model != model.id() {
        return Err(RpcError::new(
            MODEL_MISMATCH,
            format!(
                "the search's embeddings are of the model {}, this box embeds with {}: \
                 embeddings of different models are never compared",
                create.embedding.model,
                model.id()
            ),
        ));
    }
    if shared.usage().await.map_err(internal)?.over() {
        return Err(RpcError::new(
            "outbox_full",
            "the box's outbox is over its quota (the uplink has been down long); try later",
        ));
    }
    let search_id = create.search_id;
    let known = shared
        .db
        .read(move |c| task_of(c, search_id))
        .await
        .map_err(internal)?;
    if let Some(task_id) = known {
        // A retried request: the same answer, no second task.
        return Ok(to_value(&SearchAccepted { task_id }));
    }
    let request = task_request(shared, &create).await?;
    // The task and the search it runs for, in one transaction: a box killed in between
    // would run a task whose events never go to the relay.
    let remember = move |tx: &rusqlite::Transaction<'_>, task_id: &str| {
        tx.execute(
            "INSERT INTO remote_searches (search_id, task_id, created_at_ms) VALUES (?1, ?2, ?3)",
            params![search_id.to_string(), task_id, now_ms()],
        )
        .purpose("remember a remote search")?;
        Ok(())
    };
    let task_id = shared
        .engine
        .disk()
        .write_when_room(
            "a relay's search",
            DISK_FULL_WAITS_AT_MOST,
            |e| match e {
                EngineError::Db(e) => Some(e),
                _ => None,
            },
            || shared.engine.create_task_with(request.clone(), remember),
        )
        .await
        .map_err(rpc_error)?;
    Ok(to_value(&SearchAccepted { task_id }))
}

/// The answer to `createSearch` while the tenant is suspended: the task of a search the box
/// already runs, else `tenant_suspended`.
async fn while_suspended(shared: &Shared, search_id: Uuid) -> Result<Value, RpcError> {
    let known = shared
        .db
        .read(move |c| task_of(c, search_id))
        .await
        .map_err(internal)?;
    match known {
        Some(task_id) => Ok(to_value(&SearchAccepted { task_id })),
        None => Err(RpcError::new(
            TENANT_SUSPENDED,
            "the tenant is suspended for an unpaid invoice: this box refuses new cloud \
             searches until the relay restores it; the box's local work (its own searches, \
             indexing, downloads) goes on",
        )),
    }
}

/// The task request for `create`: cameras by name, the span as RFC 3339, the embedding.
async fn task_request(shared: &Shared, create: &CreateSearch) -> Result<TaskRequest, RpcError> {
    let cameras = shared.db.cameras().await.map_err(internal)?;
    let mut ids = Vec::with_capacity(create.cameras.len());
    for name in &create.cameras {
        match cameras.iter().find(|c| &c.name == name) {
            Some(camera) => ids.push(camera.id),
            None => {
                return Err(RpcError::new(
                    "invalid_params",
                    format!("cameras: this box has no camera {name:?}"),
                ));
            }
        }
    }
    let instant = |ms: i64, field: &str| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.to_string())
            .map_err(|e| RpcError::new("invalid_params", format!("{field}: {e}")))
    };
    let mut embeddings = Vec::with_capacity(create.more_embeddings.len() + 1);
    for embedding in create.embeddings() {
        let values = embedding.vector().map_err(RpcError::from)?;
        embeddings.push(serde_json::json!({ "model": embedding.model, "values": values }));
    }
    let first = embeddings.remove(0);
    let request = serde_json::json!({
        "from": instant(create.from_ms, "from_ms")?,
        "to": instant(create.to_ms, "to_ms")?,
        "cameras": ids,
        "priority": 0,
        "match_distance": create.max_distance,
        "embedding": first,
        "more_embeddings": embeddings,
    });
    serde_json::from_value(request).map_err(|e| RpcError::new("invalid_params", e.to_string()))
}

fn task_of(conn: &rusqlite::Connection, search: Uuid) -> Result<Option<String>, DbError> {
    conn.query_row(
        "SELECT task_id FROM remote_searches WHERE search_id = ?1",
        [search.to_string()],
        |row| row.get(0),
    )
    .optional()
    .purpose("look up a remote search")
}

/// Cancels the task of the relay's search.
pub(super) async fn cancel(shared: &Shared, search: Uuid) -> Result<Value, RpcError> {
    let task = shared
        .db
        .read(move |c| task_of(c, search))
        .await
        .map_err(internal)?
        .ok_or_else(|| RpcError::new("not_found", format!("no search {search} on this box")))?;
    let status = shared.engine.cancel_task(&task).await.map_err(rpc_error)?;
    Ok(serde_json::json!({ "task_id": task, "state": status.task.state.as_str() }))
}

/// Looks at every unfinished remote search, for as long as the uplink lives.
pub(super) async fn watch_loop(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(WATCH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = watch_once(&shared).await {
            tracing::warn!(error = %e, "uplink: cannot report remote searches");
        }
    }
}

type Cursor = (Uuid, String, i64, Option<String>);

async fn watch_once(shared: &Shared) -> Result<(), EngineError> {
    let open: Vec<Cursor> = shared
        .db
        .read(|c| {
            let context = "list unfinished remote searches";
            let mut statement = c
                .prepare_cached(
                    "SELECT search_id, task_id, last_match_id, last_progress
                     FROM remote_searches WHERE finished = 0",
                )
                .purpose(context)?;
            let rows = statement
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .purpose(context)?;
            let rows: Vec<(String, String, i64, Option<String>)> =
                rows.collect::<Result<_, _>>().purpose(context)?;
            Ok(rows
                .into_iter()
                .filter_map(|(s, t, m, p)| Some((Uuid::parse_str(&s).ok()?, t, m, p)))
                .collect())
        })
        .await?;
    for cursor in open {
        // A full page means more matches may wait: read on at once rather than at the next
        // look, so a search's events keep pace with its matches.
        let mut next = Some(cursor);
        while let Some(cursor) = next {
            next = report_search(shared, cursor).await?;
        }
    }
    Ok(())
}

/// Writes one search's new events and moves its cursor, in one transaction; the moved
/// cursor when it read a full page of matches (more may wait), else `None`.
async fn report_search(
    shared: &Shared,
    (search, task, after, last): Cursor,
) -> Result<Option<Cursor>, EngineError> {
    let status = shared.engine.task_status(&task).await?;
    let matches = shared
        .engine
        .matches(&task, after, MATCHES_PER_LOOK)
        .await?;
    let progress = progress_of(&status);
    let progress_text = serde_json::to_string(&progress).unwrap_or_default();
    let finished = matches!(
        status.task.state,
        TaskState::Done | TaskState::Failed | TaskState::Cancelled
    ) && (matches.len() as u32) < MATCHES_PER_LOOK;
    let changed = last.as_deref() != Some(progress_text.as_str());
    if matches.is_empty() && !changed && !finished {
        return Ok(None);
    }
    let full_page = matches.len() as u32 == MATCHES_PER_LOOK;
    let mut bodies: Vec<SearchEventBody> = matches
        .iter()
        .map(|m| {
            SearchEventBody::Match(SearchMatch {
                match_id: m.id,
                time_ms: m.time_ms,
                camera: m
                    .camera_name
                    .clone()
                    .unwrap_or_else(|| m.camera_id.to_string()),
                distance: m.distance,
                face_box: m.face_box,
            })
        })
        .collect();
    if changed {
        bodies.push(SearchEventBody::Progress(progress));
    }
    if finished {
        let task = &status.task;
        bodies.push(SearchEventBody::Finished {
            state: task.state.as_str().to_owned(),
            reason: task.error.clone(),
            camera_seconds: Some(camera_seconds_searched(
                task.state,
                (
                    task.params.cameras.len(),
                    task.params.from_ms,
                    task.params.to_ms,
                ),
                (task.counts.recordings_done, task.counts.recordings_total),
            )),
            // Every match of the task, each sent as a Match event before this one.
            matches: Some(task.counts.matches),
        });
    }
    let last_match = matches.last().map_or(after, |m| m.id);
    let quota = shared.config().quota_bytes();
    let stored_progress = progress_text.clone();
    shared
        .db
        .write(move |tx| {
            for body in bodies {
                let make = move |seq| protocol::encode(&SearchEvent::new(seq, search, body));
                outbox::enqueue(tx, Kind::SearchEvent, "events", quota, now_ms(), make)?;
            }
            tx.execute(
                "UPDATE remote_searches SET last_match_id = ?1, last_progress = ?2, finished = ?3
                 WHERE search_id = ?4",
                params![last_match, stored_progress, finished, search.to_string()],
            )
            .purpose("move a remote search's cursor")?;
            Ok(())
        })
        .await?;
    shared.wake.notify_one();
    Ok(full_page.then_some((search, task, last_match, Some(progress_text))))
}

fn progress_of(status: &TaskStatus) -> SearchProgress {
    let counts = &status.task.counts;
    SearchProgress {
        recordings_total: counts.recordings_total,
        recordings_done: counts.recordings_done,
        recordings_failed: counts.recordings_failed,
        matches: counts.matches,
        eta_seconds: status.eta_seconds.map(|s| s.max(0.0) as u64),
    }
}

/// The footage a finished task searched, in camera-seconds (what the relay bills as
/// camera-hours): its `cameras` (resolved when it was created) over its whole span when it
/// ended `done`; when it `failed` or was `cancelled`, the share `done` of the `total`
/// recordings it knew of, none when it knew of none. Never overflows: at most `u64::MAX`.
fn camera_seconds_searched(
    state: TaskState,
    (cameras, from_ms, to_ms): (usize, i64, i64),
    (done, total): (u64, u64),
) -> u64 {
    let span_ms = u128::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0);
    let whole_ms = (cameras as u128).saturating_mul(span_ms);
    let searched_ms = match state {
        TaskState::Done => whole_ms,
        _ if total == 0 => 0,
        _ => {
            // whole × done / total, in parts that cannot overflow (done ≤ total).
            let (done, total) = (u128::from(done.min(total)), u128::from(total));
            whole_ms / total * done + whole_ms % total * done / total
        }
    };
    u64::try_from(searched_ms / 1_000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::camera_seconds_searched;
    use crate::engine::TaskState;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn a_done_search_covers_every_camera_over_its_whole_span() {
        let seconds = camera_seconds_searched(TaskState::Done, (3, 0, 2 * HOUR_MS), (7, 10));
        assert_eq!(seconds, 3 * 2 * 3_600);
    }

    #[test]
    fn an_unfinished_search_covers_the_share_of_recordings_processed() {
        let span = (4, HOUR_MS, 3 * HOUR_MS);
        for (state, done, total, expected) in [
            (TaskState::Cancelled, 5, 10, 4 * 3_600),
            (TaskState::Failed, 1, 4, 2 * 3_600),
            (TaskState::Cancelled, 0, 10, 0),
            // More done than known (a count read mid-update) is all of it, never more.
            (TaskState::Failed, 12, 10, 8 * 3_600),
        ] {
            let seconds = camera_seconds_searched(state, span, (done, total));
            assert_eq!(seconds, expected, "{state:?}, {done} of {total}");
        }
    }

    #[test]
    fn a_search_that_knew_of_no_recordings_covers_nothing_unless_done() {
        let span = (2, 0, HOUR_MS);
        assert_eq!(
            camera_seconds_searched(TaskState::Cancelled, span, (0, 0)),
            0
        );
        assert_eq!(camera_seconds_searched(TaskState::Failed, span, (0, 0)), 0);
        assert_eq!(
            camera_seconds_searched(TaskState::Done, span, (0, 0)),
            2 * 3_600
        );
    }

    #[test]
    fn absurd_spans_and_counts_saturate_instead_of_overflowing() {
        let widest = (usize::MAX, i64::MIN, i64::MAX);
        assert_eq!(
            camera_seconds_searched(TaskState::Done, widest, (0, 0)),
            u64::MAX
        );
        let seconds = camera_seconds_searched(TaskState::Cancelled, widest, (u64::MAX, u64::MAX));
        assert_eq!(seconds, u64::MAX);
        // A span that ends before it starts is none.
        assert_eq!(
            camera_seconds_searched(TaskState::Done, (5, HOUR_MS, 0), (1, 1)),
            0
        );
    }
}
