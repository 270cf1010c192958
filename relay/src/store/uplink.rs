//! What the uplink records of each box: its presence, last contact, software version, client
//! attributes and latest telemetry on its `devices` row, and every sequenced message's place
//! in `uplink_messages`, so each (device, seq) is applied once.

use uuid::Uuid;

use super::{execute, scalar};
use crate::db::{DbError, Tx};

/// The status of `device` if it is a device of `tenant` (`registered`, `active`,
/// `decommissioned`); `None` for an unknown device or another tenant's.
pub async fn device_status(
    tx: &mut Tx,
    tenant: Uuid,
    device: Uuid,
) -> Result<Option<String>, DbError> {
    let sql = "SELECT status FROM devices WHERE tenant_id = $1 AND id = $2";
    scalar(tx, sql, params![tenant, device]).await
}

/// Takes the place `(device, seq)`; false when a message with it was applied before.
pub async fn claim_seq(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    seq: i64,
    kind: &str,
    body: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let sql = "INSERT INTO uplink_messages (tenant_id, device_id, seq, kind, body, received_at) \
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device_id, seq) DO NOTHING";
    let params = params![tenant, device, seq, kind, body, now];
    Ok(execute(tx, sql, params).await? == 1)
}

/// The body of the event `(device, seq)`, if stored.
pub async fn event_body(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    seq: i64,
) -> Result<Option<String>, DbError> {
    let sql = "SELECT body FROM uplink_messages WHERE tenant_id = $1 AND device_id = $2 \
               AND seq = $3 AND kind = 'event'";
    scalar(tx, sql, params![tenant, device, seq]).await
}

/// How many messages of `kind` the device has applied.
pub async fn count_kind(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    kind: &str,
) -> Result<i64, DbError> {
    let sql = "SELECT COUNT(*) FROM uplink_messages WHERE tenant_id = $1 AND device_id = $2 \
               AND kind = $3";
    Ok(scalar(tx, sql, params![tenant, device, kind])
        .await?
        .unwrap_or(0))
}

/// The box said it is online (`online`) or the broker published its last will; a box
/// online was also seen now.
pub async fn set_presence(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    online: bool,
    software_version: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    let sql = "UPDATE devices SET online = $1, status_changed_at = $2, \
               last_seen_at = CASE WHEN $1 = 1 THEN $2 ELSE last_seen_at END, \
               software_version = COALESCE($3, software_version) \
               WHERE tenant_id = $4 AND id = $5";
    let params = params![i32::from(online), now, software_version, tenant, device];
    execute(tx, sql, params).await?;
    Ok(())
}

/// Any message from the box: it was seen now.
pub async fn touch(tx: &mut Tx, (tenant, device): (Uuid, Uuid), now: i64) -> Result<(), DbError> {
    let sql = "UPDATE devices SET last_seen_at = $1 WHERE tenant_id = $2 AND id = $3";
    execute(tx, sql, params![now, tenant, device]).await?;
    Ok(())
}

/// A telemetry sample: the box is online and was seen now, and the sample is kept as the
/// latest unless one with a higher `seq` already is (relays sharing a box's messages may
/// apply them out of order). A sample without `seq` always replaces it.
pub async fn set_telemetry(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    telemetry: &str,
    software_version: &str,
    (seq, now): (Option<i64>, i64),
) -> Result<(), DbError> {
    let seen = "UPDATE devices SET last_seen_at = $1, online = 1 WHERE tenant_id = $2 AND id = $3";
    execute(tx, seen, params![now, tenant, device]).await?;
    match seq {
        Some(seq) => {
            let sql = "UPDATE devices SET telemetry = $1, telemetry_at = $2, \
                       software_version = $3, telemetry_seq = $4 \
                       WHERE tenant_id = $5 AND id = $6 \
                       AND (telemetry_seq IS NULL OR telemetry_seq < $4)";
            let params = params![telemetry, now, software_version, seq, tenant, device];
            execute(tx, sql, params).await?;
        }
        None => {
            let sql = "UPDATE devices SET telemetry = $1, telemetry_at = $2, \
                       software_version = $3 WHERE tenant_id = $4 AND id = $5";
            let params = params![telemetry, now, software_version, tenant, device];
            execute(tx, sql, params).await?;
        }
    }
    Ok(())
}

/// The box's client attributes, as it last sent them (by `seq`, as for telemetry); the box
/// was seen now.
pub async fn set_client_attributes(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    attributes: &str,
    software_version: &str,
    (seq, now): (Option<i64>, i64),
) -> Result<(), DbError> {
    touch(tx, (tenant, device), now).await?;
    match seq {
        Some(seq) => {
            let sql = "UPDATE devices SET client_attributes = $1, software_version = $2, \
                       client_attributes_seq = $3 WHERE tenant_id = $4 AND id = $5 \
                       AND (client_attributes_seq IS NULL OR client_attributes_seq < $3)";
            let params = params![attributes, software_version, seq, tenant, device];
            execute(tx, sql, params).await?;
        }
        None => {
            let sql = "UPDATE devices SET client_attributes = $1, software_version = $2 \
                       WHERE tenant_id = $3 AND id = $4";
            let params = params![attributes, software_version, tenant, device];
            execute(tx, sql, params).await?;
        }
    }
    Ok(())
}

/// Forgets the places of telemetry and client attributes applied before `before` (Unix
/// ms); how many. Their effect is the device row's latest, ordered by `seq`, so a box
/// sending one of them again much later changes nothing; search events and RPC answers keep
/// theirs. Without this the table grows by a row per box per telemetry period, forever.
pub async fn forget_old_reports(tx: &mut Tx, before: i64) -> Result<u64, DbError> {
    let sql = "DELETE FROM uplink_messages \
               WHERE kind IN ('telemetry', 'attributes') AND received_at < $1";
    execute(tx, sql, params![before]).await
}

/// What the uplink knows of one box: whether it is online, its latest telemetry and client
/// attributes (JSON as received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub online: bool,
    pub telemetry: Option<String>,
    pub client_attributes: Option<String>,
}

pub async fn presence(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
) -> Result<Option<Presence>, DbError> {
    let sql = "SELECT online, telemetry, client_attributes FROM devices \
               WHERE tenant_id = $1 AND id = $2";
    super::fetch_optional(tx, sql, params![tenant, device], |row| {
        Ok(Presence {
            online: row.flag("online")?,
            telemetry: row.optional_text("telemetry")?,
            client_attributes: row.optional_text("client_attributes")?,
        })
    })
    .await
}

/// Boxes online across the platform (a platform-scoped transaction).
pub async fn count_online(tx: &mut Tx) -> Result<i64, DbError> {
    let sql = "SELECT COUNT(*) FROM devices WHERE online = 1 AND status = 'active'";
    Ok(scalar(tx, sql, params![]).await?.unwrap_or(0))
}

/// Every active box of the platform (a platform-scoped transaction): tenant and device.
pub async fn active_devices(tx: &mut Tx) -> Result<Vec<(Uuid, Uuid)>, DbError> {
    let sql = "SELECT tenant_id, id FROM devices WHERE status = 'active'";
    super::fetch_all(tx, sql, params![], |row| {
        Ok((row.id("tenant_id")?, row.id("id")?))
    })
    .await
}

/// The active boxes of `tenant`: device, and whether it is online.
pub async fn active_devices_of(tx: &mut Tx, tenant: Uuid) -> Result<Vec<(Uuid, bool)>, DbError> {
    let sql = "SELECT id, online FROM devices WHERE tenant_id = $1 AND status = 'active' \
               ORDER BY id";
    super::fetch_all(tx, sql, params![tenant], |row| {
        Ok((row.id("id")?, row.flag("online")?))
    })
    .await
}
