//! Snapshot uploads: the relay, for each match it applied, publishes on `{prefix}/uploads`
//! where the match's face crop and frame go (`protocol::uploads::UploadGrants`: two
//! presigned PUT URLs and an expiry), and the box uploads them there.
//!
//! Contract:
//! - A grant is kept in SQLite (`upload_grants`) from its arrival until its uploads end,
//!   counted against the outbox's quota with the messages waiting; a grant for the same
//!   (search, match) replaces the one kept. Grants that do not read, or too many in one
//!   message, are dropped with a counted, logged reason; a grant for a match the box does
//!   not have for that search, or with a URL that does not parse, is refused, counted and
//!   logged. None of these closes the connection.
//! - The [`uploader`] uploads with the box's HTTP client, a few at a time, needing the
//!   object store only: grants wait through restarts and broker outages alike. Its
//!   outcomes (the `snapshots_uploaded` and `snapshots_wanted` search events, written in
//!   the transaction that forgets the grant) go through the outbox.
//! - Metrics: `dipper_snapshot_uploads_total{outcome}`, `dipper_snapshot_upload_bytes_total`,
//!   `dipper_upload_grants_received_total{outcome}`, `dipper_upload_grants_pending`; the
//!   same figures (since the daemon started) in the uplink's status.

mod grants;
mod put;
mod uploader;

use std::sync::atomic::{AtomicU64, Ordering};

use protocol::ProtocolError;
use protocol::uploads::{UploadGrant, UploadGrants};
use serde::Serialize;
use tokio::sync::Notify;

use super::{Shared, now_ms, outbox, rpc};
use grants::Received;
pub(super) use uploader::run;

/// The uploads' shared state: what wakes the uploader, and what it has done.
#[derive(Debug, Default)]
pub(super) struct Uploads {
    /// A grant came.
    wake: Notify,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    uploaded: AtomicU64,
    retried: AtomicU64,
    asked_again: AtomicU64,
    files_gone: AtomicU64,
    refused_grants: AtomicU64,
    bytes: AtomicU64,
}

/// The uploads in `dipper uplink status`: what waits, and what was done since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct UploadStatus {
    /// Grants kept whose uploads have not ended.
    pub(crate) pending_grants: u64,
    /// Matches whose two snapshots were uploaded.
    pub(crate) uploaded: u64,
    /// Tries that found the store unreachable or failing (each tried again later).
    pub(crate) retried: u64,
    /// Grants that expired or the store refused: a new one was asked of the relay.
    pub(crate) asked_again: u64,
    /// Grants dropped because the match's snapshots were gone.
    pub(crate) files_gone: u64,
    /// Grants refused on arrival (an unknown match, a URL that does not parse).
    pub(crate) refused_grants: u64,
    /// Snapshot bytes uploaded.
    pub(crate) bytes: u64,
}

impl Uploads {
    pub(super) fn status(&self, pending_grants: u64) -> UploadStatus {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let c = &self.counters;
        UploadStatus {
            pending_grants,
            uploaded: read(&c.uploaded),
            retried: read(&c.retried),
            asked_again: read(&c.asked_again),
            files_gone: read(&c.files_gone),
            refused_grants: read(&c.refused_grants),
            bytes: read(&c.bytes),
        }
    }
}

/// Keeps the grants of a message on `{prefix}/uploads` and wakes the uploader.
pub(super) async fn receive(shared: &Shared, payload: &[u8]) {
    let grants = match UploadGrants::decode(payload) {
        Ok(grants) => grants.grants,
        Err(e) => {
            let reason = match &e {
                ProtocolError::TooLarge { .. }
                | ProtocolError::Invalid {
                    field: "grants", ..
                } => "oversized_grants",
                _ => "invalid_grants",
            };
            rpc::dropped(reason, "uploads");
            tracing::warn!(error = %e, "uplink: upload grants that do not read");
            return;
        }
    };
    let (usable, unusable): (Vec<UploadGrant>, Vec<UploadGrant>) =
        grants.into_iter().partition(|g| {
            reqwest::Url::parse(&g.face_url).is_ok() && reqwest::Url::parse(&g.frame_url).is_ok()
        });
    for grant in &unusable {
        refused(shared, grant, "invalid_url", "a URL that does not parse");
    }
    let quota = shared.config().quota_bytes();
    let stored = shared
        .db
        .write(move |tx| {
            let now = now_ms();
            let mut received = Vec::with_capacity(usable.len());
            for grant in usable {
                received.push((grants::store(tx, &grant, now)?, grant));
            }
            outbox::make_room(tx, quota, None)?;
            Ok(received)
        })
        .await;
    let received = match stored {
        Ok(received) => received,
        Err(e) => {
            tracing::error!(error = %e, "uplink: cannot keep upload grants; their snapshots wait for the relay to grant again");
            return;
        }
    };
    for (outcome, grant) in &received {
        match outcome {
            Received::Stored => {
                metrics::counter!("dipper_upload_grants_received_total", "outcome" => "stored")
                    .increment(1);
            }
            Received::UnknownMatch => refused(
                shared,
                grant,
                "unknown_match",
                "no such match of that search on this box",
            ),
        }
    }
    shared.uploads.wake.notify_one();
}

fn refused(shared: &Shared, grant: &UploadGrant, outcome: &'static str, why: &str) {
    shared
        .uploads
        .counters
        .refused_grants
        .fetch_add(1, Ordering::Relaxed);
    metrics::counter!("dipper_upload_grants_received_total", "outcome" => outcome).increment(1);
    tracing::warn!(
        search = %grant.search_id,
        match_id = grant.match_id,
        "uplink: an upload grant refused: {why}"
    );
}
