//! Devices (boxes): their rows, provisioning keys and credentials (as SHA-256 digests).

use uuid::Uuid;

use super::{Columns, TenantRow, VisibleRow, execute, fetch_optional};
use crate::api::devices::{Device, DeviceTelemetry};
use crate::db::{DbError, Tx, now_ms};

macro_rules! select {
    () => {
        "SELECT id, tenant_id, area_id, name, group_name, status, activated_at, last_seen_at, \
         software_version, online, telemetry, telemetry_at, created_at, updated_at \
         FROM devices WHERE tenant_id = $1 AND "
    };
}

impl TenantRow for Device {
    const BY_ID: &'static str = concat!(select!(), "id = $2");

    fn read(row: Columns<'_>) -> Result<Self, DbError> {
        // The latest telemetry sample, as the uplink stored it (`store::uplink`).
        let sample = row.optional_text("telemetry")?;
        let received = row.number::<Option<i64>>("telemetry_at")?;
        let telemetry = sample
            .zip(received)
            .and_then(|(sample, at)| DeviceTelemetry::from_stored(&sample, at));
        Ok(Device {
            id: row.id("id")?,
            tenant_id: row.id("tenant_id")?,
            area_id: row.id("area_id")?,
            name: row.text("name")?,
            group: row.optional_text("group_name")?,
            status: row.text("status")?,
            activated_at: row.optional_time("activated_at")?,
            last_seen_at: row.optional_time("last_seen_at")?,
            software_version: row.optional_text("software_version")?,
            online: row.flag("online")?,
            telemetry,
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
        })
    }
}

impl VisibleRow for Device {
    const VISIBLE: &'static str = concat!(
        visible_areas!(),
        select!(),
        "($3 = 1 OR area_id IN (SELECT id FROM visible)) ORDER BY created_at, id LIMIT $4 OFFSET $5"
    );
}

/// A device to register.
#[derive(Debug)]
pub struct NewDevice<'a> {
    pub id: Uuid,
    pub area: Uuid,
    pub name: &'a str,
    pub group: Option<&'a str>,
}

pub async fn insert(tx: &mut Tx, tenant: Uuid, device: NewDevice<'_>) -> Result<(), DbError> {
    let sql = "INSERT INTO devices (id, tenant_id, area_id, name, group_name, status, \
               created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'registered', $6, $6)";
    let d = device;
    execute(
        tx,
        sql,
        params![d.id, tenant, d.area, d.name, d.group, now_ms()],
    )
    .await?;
    Ok(())
}

/// Stores the digest of a new provisioning key and its expiry (milliseconds).
pub async fn set_provisioning_key(
    tx: &mut Tx,
    tenant: Uuid,
    device: Uuid,
    digest: &str,
    expires: i64,
) -> Result<(), DbError> {
    let sql = "UPDATE devices SET provisioning_key_hash = $1, provisioning_expires_at = $2, \
               updated_at = $3 WHERE tenant_id = $4 AND id = $5";
    execute(tx, sql, params![digest, expires, now_ms(), tenant, device]).await?;
    Ok(())
}

/// What a change may set; `None` keeps the value.
#[derive(Debug)]
pub struct DeviceChange<'a> {
    pub name: Option<&'a str>,
    pub group: Option<&'a str>,
    pub area: Option<Uuid>,
}

pub async fn update(
    tx: &mut Tx,
    tenant: Uuid,
    device: Uuid,
    change: DeviceChange<'_>,
) -> Result<(), DbError> {
    let sql = "UPDATE devices SET name = COALESCE($1, name), \
               group_name = COALESCE($2, group_name), area_id = COALESCE($3, area_id), \
               updated_at = $4 WHERE tenant_id = $5 AND id = $6";
    let c = change;
    execute(
        tx,
        sql,
        params![c.name, c.group, c.area, now_ms(), tenant, device],
    )
    .await?;
    Ok(())
}

/// Ends a device for good: its key and credential digests are cleared.
pub async fn decommission(tx: &mut Tx, tenant: Uuid, device: Uuid) -> Result<(), DbError> {
    let sql = "UPDATE devices SET status = 'decommissioned', provisioning_key_hash = NULL, \
               provisioning_expires_at = NULL, credential_hash = NULL, updated_at = $1, \
               decommissioned_at = COALESCE(decommissioned_at, $1) \
               WHERE tenant_id = $2 AND id = $3";
    execute(tx, sql, params![now_ms(), tenant, device]).await?;
    Ok(())
}

/// A device as the tenant-less steps (activation, a box's own requests) find it, with its
/// tenant's status.
#[derive(Debug)]
pub struct DeviceSecrets {
    pub id: Uuid,
    pub tenant: Uuid,
    pub status: String,
    pub provisioning_expires_at: Option<i64>,
    pub credential_hash: Option<String>,
    pub tenant_status: String,
}

macro_rules! secrets {
    () => {
        "SELECT d.id, d.tenant_id, d.status, d.provisioning_expires_at, d.credential_hash, \
         t.status AS tenant_status FROM devices d JOIN tenants t ON t.id = d.tenant_id WHERE "
    };
}

fn read_secrets(row: Columns<'_>) -> Result<DeviceSecrets, DbError> {
    read_row! { row => DeviceSecrets { id: id("id"), tenant: id("tenant_id"),
    status: text("status"), provisioning_expires_at: number("provisioning_expires_at"),
    credential_hash: optional_text("credential_hash"),
    tenant_status: text("tenant_status") } }
}

/// The device whose provisioning key has `digest`, in any tenant (a platform-scoped
/// transaction: the key is what finds the tenant).
pub async fn by_provisioning_key(
    tx: &mut Tx,
    digest: &str,
) -> Result<Option<DeviceSecrets>, DbError> {
    let sql = concat!(secrets!(), "d.provisioning_key_hash = $1");
    fetch_optional(tx, sql, params![digest], read_secrets).await
}

/// The device `device` in any tenant (a platform-scoped transaction: a box's request names
/// its id, not its tenant).
pub async fn by_id(tx: &mut Tx, device: Uuid) -> Result<Option<DeviceSecrets>, DbError> {
    let sql = concat!(secrets!(), "d.id = $1");
    fetch_optional(tx, sql, params![device], read_secrets).await
}

/// Activates a registered device: its key is spent, its credential's digest stored.
pub async fn activate(tx: &mut Tx, device: Uuid, credential_digest: &str) -> Result<(), DbError> {
    let sql = "UPDATE devices SET status = 'active', provisioning_key_hash = NULL, \
               provisioning_expires_at = NULL, credential_hash = $1, activated_at = $2, \
               updated_at = $2 WHERE id = $3 AND status = 'registered'";
    execute(tx, sql, params![credential_digest, now_ms(), device]).await?;
    Ok(())
}

/// The active boxes offline at `now` for longer than their tenant's `box_offline_minutes`
/// (not 0) and less than `within` ms (a platform-scoped transaction): tenant, device, name,
/// when it went offline, the tenant's zone.
pub async fn offline_since(
    tx: &mut Tx,
    now: i64,
    within: i64,
) -> Result<Vec<(Uuid, Uuid, String, i64, String)>, DbError> {
    let sql = "SELECT d.tenant_id, d.id, d.name, d.status_changed_at, \
               COALESCE(b.time_zone, 'Asia/Shanghai') AS time_zone FROM devices d \
               LEFT JOIN tenant_billing b ON b.tenant_id = d.tenant_id \
               WHERE d.status = 'active' AND d.online = 0 AND d.status_changed_at IS NOT NULL \
               AND COALESCE(b.box_offline_minutes, 60) > 0 \
               AND d.status_changed_at + COALESCE(b.box_offline_minutes, 60) * 60000 <= $1 \
               AND d.status_changed_at > $1 - $2 ORDER BY d.tenant_id, d.id";
    super::fetch_all(tx, sql, params![now, within], |row| {
        Ok((
            row.id("tenant_id")?,
            row.id("id")?,
            row.text("name")?,
            row.number("status_changed_at")?,
            row.text("time_zone")?,
        ))
    })
    .await
}
