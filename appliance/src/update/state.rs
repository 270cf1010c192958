//! `updates/state.json`: the latest update's [`UpdateReport`], written by the half that moved
//! it (the daemon while it fetches and stages, the installer while it installs, checks and
//! rolls back) and reported by the daemon.

use std::path::Path;

use protocol::software::{UpdateReport, UpdateState};
use uuid::Uuid;

/// The latest update's state, if any (a file that does not read is none: the next state
/// replaces it).
pub(crate) fn read(data_dir: &Path) -> Option<UpdateReport> {
    let path = super::Staging::new(data_dir).state();
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Records `state` of rollout `rollout_id`'s update to `version`.
pub(super) fn write(
    staging: &super::Staging,
    rollout_id: Uuid,
    version: &str,
    state: UpdateState,
    reason: Option<String>,
) -> std::io::Result<()> {
    let report = UpdateReport {
        rollout_id,
        version: version.to_owned(),
        state,
        reason,
        at_ms: jiff::Timestamp::now().as_millisecond(),
    };
    std::fs::create_dir_all(&staging.dir)?;
    let bytes = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
    super::write_atomically(&staging.state(), &bytes)
}
