//! What a simulated box sends about a search it accepted, as a real box's outbox does: every
//! message numbered with the box's next `seq` and published again until the relay
//! acknowledges it; and the snapshots of a match, PUT to the relay's grant.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocol::search::{CreateSearch, SearchEvent, SearchEventBody, SearchMatch, SearchProgress};
use protocol::topics::Topic;
use protocol::uploads::UploadGrant;
use rumqttc::v5::mqttbytes::QoS;

use super::boxes::BoxState;
use crate::BoxError;

/// How long a box waits for an acknowledgement before it publishes the message again.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// Reports `search` once the bench lets boxes report: progress, `matches` matches, the end.
pub(super) async fn report(state: Arc<BoxState>, search: CreateSearch, matches: u32) {
    if let Err(error) = report_search(&state, &search, matches).await {
        tracing::warn!(%error, search = %search.search_id, "a simulated box stopped reporting");
    }
}

async fn report_search(
    state: &BoxState,
    search: &CreateSearch,
    matches: u32,
) -> Result<(), BoxError> {
    let mut behaviour = state.behaviour.clone();
    behaviour.wait_for(|b| !b.hold).await?;
    let id = search.search_id;
    let progress = SearchProgress {
        recordings_total: 10,
        recordings_done: 5,
        recordings_failed: 0,
        matches: 0,
        eta_seconds: Some(1),
    };
    send(state, SearchEventBody::Progress(progress.clone()), id).await?;
    let span = search.to_ms - search.from_ms;
    for i in 0..matches {
        let found = SearchMatch {
            match_id: state.next_match(),
            time_ms: search.from_ms + span * i64::from(i + 1) / i64::from(matches + 1),
            camera: "gate".to_owned(),
            distance: 0.35,
            face_box: [640.0, 300.0, 120.0, 150.0],
        };
        send(state, SearchEventBody::Match(found), id).await?;
        state.sent.matched(id, &state.identity.device);
    }
    let done = SearchProgress {
        recordings_done: 10,
        matches: u64::from(matches),
        eta_seconds: None,
        ..progress
    };
    send(state, SearchEventBody::Progress(done), id).await?;
    // One camera ("gate") over the whole span, as a box that searched it all reports.
    let finished = SearchEventBody::Finished {
        state: "done".to_owned(),
        reason: None,
        camera_seconds: Some(u64::try_from(span / 1_000).unwrap_or(0)),
        matches: Some(u64::from(matches)),
    };
    send(state, finished, id).await?;
    state.sent.searches_finished.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Publishes one event with the box's next `seq`, again every [`ACK_WAIT`] until the relay
/// acknowledges it.
async fn send(
    state: &BoxState,
    body: SearchEventBody,
    search_id: uuid::Uuid,
) -> Result<(), BoxError> {
    let seq = state.next_seq();
    let payload = protocol::encode(&SearchEvent::new(seq, search_id, body));
    let topic = state.identity.topics.topic(&Topic::Events);
    let mut acked = state.acked.subscribe();
    loop {
        state
            .client
            .publish(&topic, QoS::AtLeastOnce, false, payload.clone())
            .await?;
        match tokio::time::timeout(ACK_WAIT, acked.wait_for(|a| a.contains(&seq))).await {
            Ok(seen) => {
                seen?;
                return Ok(());
            }
            Err(_) => {
                state.sent.republished.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// PUTs a match's two snapshots to its grant, then sends `SnapshotsUploaded`; a grant for a
/// match already uploaded (QoS 1 may bring one twice) is left alone. As a real box's
/// uploader: a store that cannot be reached (or answers 5xx, 408, 429) is tried again after
/// a backoff until the grant expires; a grant expired or refused is answered with
/// `SnapshotsWanted`, and the relay grants again.
pub(super) async fn upload(state: Arc<BoxState>, grant: UploadGrant) {
    let key = (grant.search_id, grant.match_id);
    let first = match state.uploaded.lock() {
        Ok(mut uploaded) => uploaded.insert(key),
        Err(_) => return,
    };
    if !first {
        return;
    }
    let stored = match upload_grant(&state, &grant).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!(%error, match_id = grant.match_id, "a simulated box's upload failed");
            false
        }
    };
    if !stored && let Ok(mut uploaded) = state.uploaded.lock() {
        uploaded.remove(&key);
    }
}

/// The first wait before an upload is tried again; it doubles up to [`UPLOAD_RETRY_MAX`].
const UPLOAD_RETRY_MIN: Duration = Duration::from_millis(500);
const UPLOAD_RETRY_MAX: Duration = Duration::from_secs(5);

/// How one try of a grant's two PUTs went.
enum Put {
    Stored,
    /// The store could not be reached or was busy: try again later.
    Unavailable(String),
    /// The store refused it (4xx): ask for a new grant.
    Refused(String),
}

/// Uploads the grant's snapshots (and says so), or asks for a new grant; whether they were
/// stored.
async fn upload_grant(state: &BoxState, grant: &UploadGrant) -> Result<bool, BoxError> {
    let mut wait = UPLOAD_RETRY_MIN;
    loop {
        let expired = grant.expires_at_ms <= jiff::Timestamp::now().as_millisecond();
        let put = if expired {
            Put::Refused("the grant expired".to_owned())
        } else {
            put_both(state, grant).await
        };
        match put {
            Put::Stored => break,
            Put::Unavailable(reason) => {
                tracing::debug!(%reason, match_id = grant.match_id, "a simulated box retries an upload");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(UPLOAD_RETRY_MAX);
            }
            Put::Refused(reason) => {
                tracing::info!(%reason, match_id = grant.match_id, "a simulated box asks for a new grant");
                let wanted = SearchEventBody::SnapshotsWanted {
                    match_id: grant.match_id,
                };
                send(state, wanted, grant.search_id).await?;
                return Ok(false);
            }
        }
    }
    let uploaded = SearchEventBody::SnapshotsUploaded {
        match_id: grant.match_id,
        bytes: Some(2 * state.jpeg.len() as u64),
    };
    send(state, uploaded, grant.search_id).await?;
    state
        .sent
        .snapshots_uploaded
        .fetch_add(1, Ordering::Relaxed);
    Ok(true)
}

/// One try of the grant's two PUTs.
async fn put_both(state: &BoxState, grant: &UploadGrant) -> Put {
    for url in [&grant.face_url, &grant.frame_url] {
        let sent = state
            .http
            .put(url)
            .header("content-type", "image/jpeg")
            .body(state.jpeg.as_ref().clone())
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let status = match sent {
            Ok(answer) => answer.status(),
            Err(error) => return Put::Unavailable(error.to_string()),
        };
        let busy = status.is_server_error() || [408, 429].contains(&status.as_u16());
        if busy {
            return Put::Unavailable(status.to_string());
        }
        if !status.is_success() {
            return Put::Refused(status.to_string());
        }
    }
    Put::Stored
}
