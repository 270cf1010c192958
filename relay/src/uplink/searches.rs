//! Remote searches as the uplink drives them: a box's answer to `createSearch` and its
//! search events (progress, matches, the end) move that box's part of the search, in the
//! transaction that takes the message's (device, seq) place, so each takes effect once; the
//! sweeper expires the parts whose box never got the search or never finished it. Every
//! change wakes this instance's event streams of the search at once (other instances' streams
//! see it at their next read of the database).
//!
//! A box's `finished` event that counts more matches than its part holds (relays sharing the
//! box's messages applied it before one of them) is held on the part and applied in the
//! transaction that stores the last match it counts, so a search is `done` only with every
//! result of every box.
//!
//! The footage a part covered (its `finished` event) and the bytes of a match's snapshots
//! (its `snapshots_uploaded` event) are metered in that transaction when, and only when, the
//! event ends the part or marks the snapshots now ([`reported`]): a second `finished` for a
//! part already ended, or a repeated upload, counts nothing.
//!
//! A message about a search the box has no part in (another tenant's, another box's, or one
//! that does not exist) changes nothing.

use protocol::rpc::RpcResponse;
use protocol::search::{SearchAccepted, SearchEvent, SearchEventBody, SearchMatch, SearchProgress};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::Uplink;
use crate::db::{DbError, Tx};
use crate::metering::reported;
use crate::store::searches::{self as store, StoredProgress, StoredResult};

/// Longest error code and message of a box kept on its part, in characters.
const CODE_MAX: usize = 64;
const MESSAGE_MAX: usize = 1000;

impl Uplink {
    /// A receiver of the ids of the searches this instance changed (`Uuid::nil()`: any).
    pub fn search_changes(&self) -> broadcast::Receiver<Uuid> {
        self.inner.search_changes.subscribe()
    }

    /// Wakes this instance's event streams of `search` (`Uuid::nil()`: of every search).
    pub fn search_changed(&self, search: Uuid) {
        // No receiver means no stream is open: nothing to wake.
        let _ = self.inner.search_changes.send(search);
    }
}

/// Applies a box's search event to its part; the search, if its part changed.
pub(super) async fn apply_event(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    event: &SearchEvent,
    now: i64,
) -> Result<Option<Uuid>, DbError> {
    let search = event.search_id;
    let part = (tenant, search, device);
    let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
    let changed = match &event.body {
        SearchEventBody::Progress(progress) => {
            store::set_progress(tx, part, (seq, &stored_progress(progress)), now).await?
        }
        SearchEventBody::Match(found) => match stored_result(device, found) {
            Some(result) => {
                let stored = store::add_result(tx, (tenant, search), &result, (seq, now)).await?;
                // The last match a held end counts: the part ends now.
                if stored && let Some(held) = store::take_held_finish(tx, part).await? {
                    match serde_json::from_str::<SearchEventBody>(&held) {
                        Ok(end) => {
                            finish(tx, part, &end, now).await?;
                        }
                        Err(error) => {
                            tracing::error!(%device, %search, %error, "a held end no longer reads");
                        }
                    }
                }
                stored
            }
            None => {
                tracing::warn!(%device, %search, match_id = found.match_id,
                    "a match with a distance that is not a number; not stored");
                false
            }
        },
        SearchEventBody::Finished { matches, .. } => {
            // Relays sharing the box's messages may apply its end before a match it sent
            // earlier: the end waits on the part until the part holds every match it counts.
            let held = match matches {
                Some(matches) => {
                    let count = i64::try_from(*matches).unwrap_or(i64::MAX);
                    let end = serde_json::to_string(&event.body).unwrap_or_default();
                    store::hold_finish(tx, part, (count, &end), now).await?
                }
                None => false,
            };
            held || finish(tx, part, &event.body, now).await?
        }
        SearchEventBody::SnapshotsUploaded { match_id, bytes } => {
            let stored = store::snapshots_uploaded(tx, part, *match_id, now).await?;
            if let (true, Some(bytes)) = (stored, *bytes) {
                reported::snapshots_uploaded(tx, part, (*match_id, bytes), now).await?;
            }
            stored
        }
        SearchEventBody::SnapshotsWanted { match_id } => {
            store::snapshots_wanted(tx, part, *match_id).await?
        }
    };
    Ok(changed.then_some(search))
}

/// Ends the box's part as its `finished` event says (any other event: nothing), with the
/// search once every part ended, and meters the footage it covered; whether the part ended
/// now.
async fn finish(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    end: &SearchEventBody,
    now: i64,
) -> Result<bool, DbError> {
    let SearchEventBody::Finished {
        state,
        reason,
        camera_seconds,
        ..
    } = end
    else {
        return Ok(false);
    };
    let part = (tenant, search, device);
    let (state, code, default) = ended_as(state);
    let reason = reason
        .as_deref()
        .map_or(default, |r| bounded(r, MESSAGE_MAX));
    let ended = store::end_part(tx, part, &state, (code, Some(&reason)), now).await?;
    if ended {
        store::finish_if_ended(tx, (tenant, search), now).await?;
        if let Some(seconds) = *camera_seconds {
            reported::footage_searched(tx, part, seconds, now).await?;
        }
    }
    Ok(ended)
}

/// Applies a box's answer to an RPC when it is a search's `createSearch`: its task (the part
/// is `accepted`), or its error (the part `failed` with the box's code and message, such as
/// `model_mismatch`). The search, if its part changed.
pub(super) async fn apply_answer(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    request_id: i64,
    response: &RpcResponse,
    now: i64,
) -> Result<Option<Uuid>, DbError> {
    let Some(search) = store::search_of_request(tx, (tenant, device), request_id).await? else {
        return Ok(None);
    };
    let part = (tenant, search, device);
    let changed = match response.clone().into_result::<SearchAccepted>() {
        Ok(accepted) => {
            let task = bounded(&accepted.task_id, MESSAGE_MAX);
            store::accept(tx, part, &task, now).await?
        }
        Err(error) => {
            let code = bounded(&error.code, CODE_MAX);
            let message = bounded(&error.message, MESSAGE_MAX);
            let reason = (Some(code.as_str()), Some(message.as_str()));
            let ended = store::end_part(tx, part, "failed", reason, now).await?;
            if ended {
                store::finish_if_ended(tx, (tenant, search), now).await?;
            }
            ended
        }
    };
    Ok(changed.then_some(search))
}

/// Expires what never reached or never finished on its box, and ends the searches whose
/// parts all ended; whether anything changed.
pub(super) async fn sweep(tx: &mut Tx, now: i64) -> Result<bool, DbError> {
    let swept = store::sweep(tx, now).await?;
    if swept != store::Swept::default() {
        tracing::debug!(?swept, "searches swept");
    }
    Ok(swept != store::Swept::default())
}

/// The part's state for the box's `Finished` state, the reason's code and its default text.
fn ended_as(state: &str) -> (String, Option<&'static str>, String) {
    match state {
        "done" => (
            "done".to_owned(),
            None,
            "the box searched the whole span".to_owned(),
        ),
        "cancelled" => (
            "cancelled".to_owned(),
            Some("cancelled"),
            "the box cancelled its search".to_owned(),
        ),
        "failed" => (
            "failed".to_owned(),
            Some("task_failed"),
            "the box's search failed".to_owned(),
        ),
        other => (
            "failed".to_owned(),
            Some("unknown_state"),
            format!("the box ended its search as {}", bounded(other, CODE_MAX)),
        ),
    }
}

fn stored_progress(progress: &SearchProgress) -> StoredProgress {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    StoredProgress {
        recordings_total: count(progress.recordings_total),
        recordings_done: count(progress.recordings_done),
        recordings_failed: count(progress.recordings_failed),
        matches: count(progress.matches),
        eta_seconds: progress.eta_seconds.map(count),
    }
}

/// A match as stored; none when its distance is not a finite number.
fn stored_result(device: Uuid, found: &SearchMatch) -> Option<StoredResult> {
    if !found.distance.is_finite() {
        return None;
    }
    Some(StoredResult {
        device,
        match_id: found.match_id,
        n: 0,
        time_ms: found.time_ms,
        camera: bounded(&found.camera, MESSAGE_MAX),
        distance_micros: distance_micros(found.distance),
        face_box: serde_json::to_string(&found.face_box).unwrap_or_else(|_| "[]".to_owned()),
        snapshots_at: None,
    })
}

/// A distance in millionths, the unit the relay stores and compares them in.
fn distance_micros(distance: f32) -> i64 {
    // `as` saturates; a finite f32 distance is far inside i64 once scaled.
    (f64::from(distance) * 1e6).round() as i64
}

/// `text` cut to at most `max` characters.
fn bounded(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::{distance_micros, ended_as};

    #[test]
    fn distances_are_millionths_rounded() {
        assert_eq!(distance_micros(0.5), 500_000);
        assert_eq!(distance_micros(0.123_456_7), 123_457);
        assert_eq!(distance_micros(2.0), 2_000_000);
    }

    #[test]
    fn a_boxs_end_maps_to_a_parts_state() {
        assert_eq!(ended_as("done").0, "done");
        assert_eq!(ended_as("cancelled").1, Some("cancelled"));
        assert_eq!(ended_as("failed").1, Some("task_failed"));
        let (state, code, text) = ended_as("exploded");
        assert_eq!((state.as_str(), code), ("failed", Some("unknown_state")));
        assert!(text.contains("exploded"), "{text}");
    }
}
