//! Storing a task's end (`done` or `failed`), also when the database is busy or the disk is
//! full at that moment: tried again, after waiting for space when full, until it is stored or
//! the task is stopped (cancelled, or the daemon stopping: it then resumes at the next
//! start). A task whose end was not stored would stay `running` until the daemon restarts,
//! and the relay's search with it (the fleet's disk-full fault found that).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::{Database, DbError};
use crate::engine::disk::DiskMonitor;
use crate::engine::store::{self, TaskState, now_ms};

/// The pause before another try when the database was busy (or full: then also until space).
const PAUSE: Duration = Duration::from_secs(1);

/// Stores task `id`'s end as `state` with `error`; whether its row changed (false: it had
/// ended already, e.g. cancelled). An error only when it cannot be stored for good, or the
/// task was stopped while it waited.
pub(in crate::engine) async fn store_end(
    db: &Database,
    disk: &DiskMonitor,
    (id, state, error): (&str, TaskState, Option<String>),
    cancel: &CancellationToken,
) -> Result<bool, DbError> {
    let mut warned = false;
    loop {
        let (task, message) = (id.to_owned(), error.clone());
        let stored = db
            .write(move |tx| {
                Ok(store::set_state(
                    tx,
                    &task,
                    state,
                    message.as_deref(),
                    now_ms(),
                )?)
            })
            .await;
        let e = match stored {
            Err(e) if e.is_retryable() => e,
            stored => return stored,
        };
        if e.is_disk_full() {
            disk.report_full("storing a task's end");
        }
        if !warned {
            tracing::warn!(task = %id, error = %e, "cannot store the task's end yet; trying again");
            warned = true;
        }
        tokio::select! {
            () = tokio::time::sleep(PAUSE) => {}
            () = cancel.cancelled() => return Err(e),
        }
        if e.is_disk_full() {
            tokio::select! {
                () = disk.wait_for_space() => {}
                () = cancel.cancelled() => return Err(e),
            }
        }
    }
}
