//! Devices (boxes): their rows, provisioning keys and credentials (as SHA-256 digests).

use sqlx::Row as _;
use uuid::Uuid;

use crate::api::devices::Device;
use crate::api::types::rfc3339;
use crate::db::{DbError, Tx, now_ms, parse_id};

macro_rules! columns {
    () => {
        "id, tenant_id, area_id, name, group_name, status, activated_at, \
                       last_seen_at, software_version, created_at, updated_at"
    };
}

fn device_from_row(row: &sqlx::any::AnyRow) -> Result<Device, DbError> {
    let get = |name: &str| row.try_get::<String, _>(name);
    let time = |name: &str| row.try_get::<Option<i64>, _>(name).map(|t| t.map(rfc3339));
    Ok(Device {
        id: parse_id(&get("id")?)?,
        tenant_id: parse_id(&get("tenant_id")?)?,
        area_id: parse_id(&get("area_id")?)?,
        name: get("name")?,
        group: row.try_get("group_name")?,
        status: get("status")?,
        activated_at: time("activated_at")?,
        last_seen_at: time("last_seen_at")?,
        software_version: row.try_get("software_version")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

pub async fn find(tx: &mut Tx, tenant: Uuid, device: Uuid) -> Result<Option<Device>, DbError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM devices WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.to_string())
    .bind(device.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(device_from_row).transpose()
}

/// A page of the devices in the areas user `user` sees (every area when `all` is 1).
pub async fn list(
    tx: &mut Tx,
    tenant: Uuid,
    (user, all): (Option<String>, i32),
    limit: i64,
    offset: i64,
) -> Result<Vec<Device>, DbError> {
    let rows = sqlx::query(concat!(
        visible_areas!(),
        " SELECT ",
        columns!(),
        " FROM devices WHERE tenant_id = $1 \
         AND ($3 = 1 OR area_id IN (SELECT id FROM visible)) \
         ORDER BY created_at, id LIMIT $4 OFFSET $5"
    ))
    .bind(tenant.to_string())
    .bind(user)
    .bind(all)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(device_from_row).collect()
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
    sqlx::query(
        "INSERT INTO devices (id, tenant_id, area_id, name, group_name, status, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, 'registered', $6, $6)",
    )
    .bind(device.id.to_string())
    .bind(tenant.to_string())
    .bind(device.area.to_string())
    .bind(device.name.to_owned())
    .bind(device.group.map(str::to_owned))
    .bind(now_ms())
    .execute(&mut **tx)
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
    sqlx::query(
        "UPDATE devices SET provisioning_key_hash = $1, provisioning_expires_at = $2, \
         updated_at = $3 WHERE tenant_id = $4 AND id = $5",
    )
    .bind(digest.to_owned())
    .bind(expires)
    .bind(now_ms())
    .bind(tenant.to_string())
    .bind(device.to_string())
    .execute(&mut **tx)
    .await?;
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
    sqlx::query(
        "UPDATE devices SET name = COALESCE($1, name), group_name = COALESCE($2, group_name), \
         area_id = COALESCE($3, area_id), updated_at = $4 WHERE tenant_id = $5 AND id = $6",
    )
    .bind(change.name.map(str::to_owned))
    .bind(change.group.map(str::to_owned))
    .bind(change.area.map(|a| a.to_string()))
    .bind(now_ms())
    .bind(tenant.to_string())
    .bind(device.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends a device for good: its key and credential digests are cleared.
pub async fn decommission(tx: &mut Tx, tenant: Uuid, device: Uuid) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE devices SET status = 'decommissioned', provisioning_key_hash = NULL, \
         provisioning_expires_at = NULL, credential_hash = NULL, updated_at = $1 \
         WHERE tenant_id = $2 AND id = $3",
    )
    .bind(now_ms())
    .bind(tenant.to_string())
    .bind(device.to_string())
    .execute(&mut **tx)
    .await?;
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

fn secrets_from_row(row: &sqlx::any::AnyRow) -> Result<DeviceSecrets, DbError> {
    Ok(DeviceSecrets {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        tenant: parse_id(&row.try_get::<String, _>("tenant_id")?)?,
        status: row.try_get("status")?,
        provisioning_expires_at: row.try_get("provisioning_expires_at")?,
        credential_hash: row.try_get("credential_hash")?,
        tenant_status: row.try_get("tenant_status")?,
    })
}

/// The device whose provisioning key has `digest`, in any tenant (a platform-scoped
/// transaction: the key is what finds the tenant).
pub async fn by_provisioning_key(
    tx: &mut Tx,
    digest: &str,
) -> Result<Option<DeviceSecrets>, DbError> {
    let row = sqlx::query(concat!(secrets!(), "d.provisioning_key_hash = $1"))
        .bind(digest.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(secrets_from_row).transpose()
}

/// The device `device` in any tenant (a platform-scoped transaction: a box's request names
/// its id, not its tenant).
pub async fn by_id(tx: &mut Tx, device: Uuid) -> Result<Option<DeviceSecrets>, DbError> {
    let row = sqlx::query(concat!(secrets!(), "d.id = $1"))
        .bind(device.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(secrets_from_row).transpose()
}

/// Activates a registered device: its key is spent, its credential's digest stored.
pub async fn activate(tx: &mut Tx, device: Uuid, credential_digest: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE devices SET status = 'active', provisioning_key_hash = NULL, \
         provisioning_expires_at = NULL, credential_hash = $1, activated_at = $2, \
         updated_at = $2 WHERE id = $3 AND status = 'registered'",
    )
    .bind(credential_digest.to_owned())
    .bind(now_ms())
    .bind(device.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
