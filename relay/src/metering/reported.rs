//! What boxes report of the work they did for their tenant, metered in the transaction that
//! applies the report, and only when the report changed what it is about (a part ended now,
//! a result's snapshots newly stored): a replayed or repeated report counts nothing.
//!
//! - `camera_hours` (class ""): the camera-seconds a box's part of a search covered, from its
//!   `finished` event;
//! - `traffic_bytes` (class `snapshots`): the bytes of a match's two snapshots, from its
//!   `snapshots_uploaded` event (the box uploads them straight to the object store).
//!
//! A quantity beyond any a box can truly report ([`MAX_CAMERA_SECONDS_PER_PART`],
//! [`MAX_SNAPSHOT_BYTES_PER_MATCH`]) is a box's bug: it is not counted, and is logged with
//! the device and search, so that no tenant is billed a fortune for it.

use uuid::Uuid;

use super::{CAMERA_HOURS, TRAFFIC_BYTES, zones};
use crate::db::{DbError, Tx};
use crate::store::meters as store;

/// The most camera-seconds one part of a search is believed: 1,000 cameras over 366 days.
pub const MAX_CAMERA_SECONDS_PER_PART: u64 = 1_000 * 366 * 86_400;
/// The most snapshot bytes one match is believed: 1 GiB for its face crop and frame.
pub const MAX_SNAPSHOT_BYTES_PER_MATCH: u64 = 1 << 30;

/// The traffic class of snapshot uploads.
pub const SNAPSHOTS: &str = "snapshots";

/// Counts the `camera_seconds` the part of `device` in `search` covered, as `tenant`'s
/// camera-hours. Called only when its `finished` event ended the part now.
pub async fn footage_searched(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    camera_seconds: u64,
    now: i64,
) -> Result<(), DbError> {
    let Some(quantity) = believable(camera_seconds, MAX_CAMERA_SECONDS_PER_PART) else {
        tracing::warn!(%device, %search, camera_seconds, max = MAX_CAMERA_SECONDS_PER_PART,
            "a box reported more footage searched than any part can cover; not metered");
        return Ok(());
    };
    store::add(
        tx,
        tenant,
        zones::hour_start(now),
        (CAMERA_HOURS, ""),
        quantity,
    )
    .await
}

/// Counts the `bytes` of the snapshots of match `match_id` of `device` in `search` as
/// `tenant`'s snapshot traffic. Called only when its `snapshots_uploaded` event stored them
/// now.
pub async fn snapshots_uploaded(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    (match_id, bytes): (i64, u64),
    now: i64,
) -> Result<(), DbError> {
    let Some(quantity) = believable(bytes, MAX_SNAPSHOT_BYTES_PER_MATCH) else {
        tracing::warn!(%device, %search, match_id, bytes, max = MAX_SNAPSHOT_BYTES_PER_MATCH,
            "a box reported more snapshot bytes than a match can have; not metered");
        return Ok(());
    };
    store::add(
        tx,
        tenant,
        zones::hour_start(now),
        (TRAFFIC_BYTES, SNAPSHOTS),
        quantity,
    )
    .await
}

/// `reported` as a counter's quantity; none above `max`.
fn believable(reported: u64, max: u64) -> Option<i64> {
    if reported > max {
        return None;
    }
    i64::try_from(reported).ok()
}

#[cfg(test)]
mod tests {
    use super::{MAX_CAMERA_SECONDS_PER_PART, MAX_SNAPSHOT_BYTES_PER_MATCH, believable};

    #[test]
    fn quantities_up_to_the_bound_count_and_none_above() {
        for (reported, max, expected) in [
            (0, 10, Some(0)),
            (3_600, MAX_CAMERA_SECONDS_PER_PART, Some(3_600)),
            (
                MAX_CAMERA_SECONDS_PER_PART,
                MAX_CAMERA_SECONDS_PER_PART,
                Some(31_622_400_000),
            ),
            (
                MAX_CAMERA_SECONDS_PER_PART + 1,
                MAX_CAMERA_SECONDS_PER_PART,
                None,
            ),
            (
                MAX_SNAPSHOT_BYTES_PER_MATCH + 1,
                MAX_SNAPSHOT_BYTES_PER_MATCH,
                None,
            ),
            (u64::MAX, u64::MAX, None),
        ] {
            assert_eq!(
                believable(reported, max),
                expected,
                "{reported} of at most {max}"
            );
        }
    }
}
