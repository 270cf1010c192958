//! Box software: the packages platform admins uploaded (platform data, no tenant), the
//! rollouts of one to a tenant's boxes, and each box's state in a rollout. A box's state only
//! moves forward (its rank in [`STATES`]), so a report delivered late never undoes a newer one.

use uuid::Uuid;

use super::{Columns, execute, fetch_all, fetch_optional};
use crate::db::{DbError, Tx};

/// A box's states in a rollout, in the order they are reached; the last three are final.
pub const STATES: [&str; 8] = [
    "waiting",
    "sent",
    "downloading",
    "staged",
    "installing",
    "healthy",
    "rolled_back",
    "failed",
];

/// The rank of a state in [`STATES`] (an unknown one ranks first).
pub fn rank(state: &str) -> usize {
    STATES.iter().position(|s| *s == state).unwrap_or(0)
}

/// A final state: nothing the box says later changes it.
pub fn is_final(state: &str) -> bool {
    rank(state) >= rank("healthy")
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredPackage {
    pub id: Uuid,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size: i64,
    pub signature: String,
    pub object_key: String,
    pub uploaded_by: String,
    pub created_at: i64,
}

fn read_package(row: Columns<'_>) -> Result<StoredPackage, DbError> {
    read_row! { row => StoredPackage {
        id: id("id"), name: text("name"), version: text("version"), sha256: text("sha256"),
        size: number("size"), signature: text("signature"), object_key: text("object_key"),
        uploaded_by: text("uploaded_by"), created_at: number("created_at"),
    } }
}

pub async fn insert_package(tx: &mut Tx, p: &StoredPackage) -> Result<(), DbError> {
    let sql = "INSERT INTO software_packages (id, name, version, sha256, size, signature, \
               object_key, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    let params = params![
        p.id,
        p.name.as_str(),
        p.version.as_str(),
        p.sha256.as_str(),
        p.size,
        p.signature.as_str(),
        p.object_key.as_str(),
        p.uploaded_by.as_str(),
        p.created_at
    ];
    execute(tx, sql, params).await.map(|_| ())
}

pub async fn package(tx: &mut Tx, id: Uuid) -> Result<Option<StoredPackage>, DbError> {
    let sql = "SELECT id, name, version, sha256, size, signature, object_key, uploaded_by, \
               created_at FROM software_packages WHERE id = $1";
    fetch_optional(tx, sql, params![id], read_package).await
}

/// Every package, newest first.
pub async fn packages(tx: &mut Tx) -> Result<Vec<StoredPackage>, DbError> {
    let sql = "SELECT id, name, version, sha256, size, signature, object_key, uploaded_by, \
               created_at FROM software_packages ORDER BY created_at DESC, id";
    fetch_all(tx, sql, vec![], read_package).await
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredRollout {
    pub id: Uuid,
    pub tenant: Uuid,
    pub package: Uuid,
    pub wave_size: i64,
    pub force: bool,
    pub health_timeout_s: i64,
    /// `running`, `done` or `halted`.
    pub state: String,
    /// The wave sent last.
    pub wave: i64,
    pub created_by: String,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

fn read_rollout(row: Columns<'_>) -> Result<StoredRollout, DbError> {
    read_row! { row => StoredRollout {
        id: id("id"), tenant: id("tenant_id"), package: id("package_id"),
        wave_size: number("wave_size"), force: flag("force"),
        health_timeout_s: number("health_timeout_s"), state: text("state"), wave: number("wave"),
        created_by: text("created_by"), created_at: number("created_at"),
        ended_at: number("ended_at"),
    } }
}

pub async fn insert_rollout(tx: &mut Tx, r: &StoredRollout) -> Result<(), DbError> {
    let sql = "INSERT INTO software_rollouts (id, tenant_id, package_id, wave_size, force, \
               health_timeout_s, state, wave, created_by, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, 'running', 0, $7, $8)";
    let params = params![
        r.id,
        r.tenant,
        r.package,
        r.wave_size,
        i32::from(r.force),
        r.health_timeout_s,
        r.created_by.as_str(),
        r.created_at
    ];
    execute(tx, sql, params).await.map(|_| ())
}

pub async fn rollout(
    tx: &mut Tx,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<StoredRollout>, DbError> {
    let sql = "SELECT id, tenant_id, package_id, wave_size, force, health_timeout_s, state, \
               wave, created_by, created_at, ended_at FROM software_rollouts \
               WHERE tenant_id = $1 AND id = $2";
    fetch_optional(tx, sql, params![tenant, id], read_rollout).await
}

/// A tenant's rollouts, newest first.
pub async fn rollouts(tx: &mut Tx, tenant: Uuid) -> Result<Vec<StoredRollout>, DbError> {
    let sql = "SELECT id, tenant_id, package_id, wave_size, force, health_timeout_s, state, \
               wave, created_by, created_at, ended_at FROM software_rollouts \
               WHERE tenant_id = $1 ORDER BY created_at DESC, id";
    fetch_all(tx, sql, params![tenant], read_rollout).await
}

/// Moves a running rollout to wave `to` from `from`; false when another instance did.
pub async fn advance(
    tx: &mut Tx,
    (tenant, id): (Uuid, Uuid),
    from: i64,
    to: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE software_rollouts SET wave = $3 \
               WHERE tenant_id = $1 AND id = $2 AND state = 'running' AND wave = $4";
    Ok(execute(tx, sql, params![tenant, id, to, from]).await? == 1)
}

/// Ends a running rollout as `done` or `halted`; false when it had ended.
pub async fn end(
    tx: &mut Tx,
    (tenant, id): (Uuid, Uuid),
    state: &str,
    now: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE software_rollouts SET state = $3, ended_at = $4 \
               WHERE tenant_id = $1 AND id = $2 AND state = 'running'";
    Ok(execute(tx, sql, params![tenant, id, state, now]).await? == 1)
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredRolloutBox {
    pub rollout: Uuid,
    pub device: Uuid,
    pub device_name: String,
    pub wave: i64,
    pub state: String,
    pub reason: Option<String>,
    pub version_before: Option<String>,
    /// What the box runs now, as it last said.
    pub software_version: Option<String>,
    pub rpc: Option<Uuid>,
    pub updated_at: i64,
}

fn read_box(row: Columns<'_>) -> Result<StoredRolloutBox, DbError> {
    read_row! { row => StoredRolloutBox {
        rollout: id("rollout_id"), device: id("device_id"), device_name: text("name"),
        wave: number("wave"), state: text("state"), reason: optional_text("reason"),
        version_before: optional_text("version_before"),
        software_version: optional_text("software_version"), rpc: optional_id("rpc_id"),
        updated_at: number("updated_at"),
    } }
}

/// Adds a box to a rollout, `waiting` in `wave`.
pub async fn insert_box(
    tx: &mut Tx,
    (tenant, rollout): (Uuid, Uuid),
    (device, wave): (Uuid, i64),
    version_before: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    let sql = "INSERT INTO software_rollout_boxes (rollout_id, tenant_id, device_id, wave, \
               state, version_before, updated_at) VALUES ($1, $2, $3, $4, 'waiting', $5, $6)";
    let params = params![rollout, tenant, device, wave, version_before, now];
    execute(tx, sql, params).await.map(|_| ())
}

/// The boxes of a rollout, by wave and name.
pub async fn boxes(
    tx: &mut Tx,
    (tenant, rollout): (Uuid, Uuid),
) -> Result<Vec<StoredRolloutBox>, DbError> {
    let sql = "SELECT b.rollout_id, b.device_id, d.name, b.wave, b.state, b.reason, \
               b.version_before, d.software_version, b.rpc_id, b.updated_at \
               FROM software_rollout_boxes b JOIN devices d ON d.id = b.device_id \
               WHERE b.tenant_id = $1 AND b.rollout_id = $2 ORDER BY b.wave, d.name, d.id";
    fetch_all(tx, sql, params![tenant, rollout], read_box).await
}

/// Marks a waiting box `sent` with the RPC carrying its update.
pub async fn mark_sent(
    tx: &mut Tx,
    (tenant, rollout): (Uuid, Uuid),
    device: Uuid,
    rpc: Uuid,
    now: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE software_rollout_boxes SET state = 'sent', rpc_id = $4, updated_at = $5 \
               WHERE tenant_id = $1 AND rollout_id = $2 AND device_id = $3 AND state = 'waiting'";
    Ok(execute(tx, sql, params![tenant, rollout, device, rpc, now]).await? == 1)
}

/// Moves a box's state forward to `state` (with `reason`), unless it is already there or
/// past it, or final; false when nothing changed.
pub async fn move_box(
    tx: &mut Tx,
    (tenant, rollout): (Uuid, Uuid),
    device: Uuid,
    (state, reason): (&str, Option<&str>),
    now: i64,
) -> Result<bool, DbError> {
    let earlier: Vec<&str> = STATES[..rank(state)]
        .iter()
        .copied()
        .filter(|s| !is_final(s))
        .collect();
    if earlier.is_empty() {
        return Ok(false);
    }
    // The states it may leave, as one comma-separated text the query searches.
    let from = format!(",{},", earlier.join(","));
    let sql = "UPDATE software_rollout_boxes SET state = $4, reason = $5, updated_at = $6 \
               WHERE tenant_id = $1 AND rollout_id = $2 AND device_id = $3 \
               AND $7 LIKE '%,' || state || ',%'";
    let params = params![tenant, rollout, device, state, reason, now, from];
    Ok(execute(tx, sql, params).await? == 1)
}

/// The boxes of a rollout that are online now.
pub async fn online_boxes(
    tx: &mut Tx,
    (tenant, rollout): (Uuid, Uuid),
) -> Result<Vec<Uuid>, DbError> {
    let sql = "SELECT b.device_id FROM software_rollout_boxes b \
               JOIN devices d ON d.id = b.device_id \
               WHERE b.tenant_id = $1 AND b.rollout_id = $2 AND d.online = 1";
    fetch_all(tx, sql, params![tenant, rollout], |row| row.id("device_id")).await
}

/// The rollout whose update the box's RPC `request_id` carried, if it carried one.
pub async fn rollout_of_rpc(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    request_id: i64,
) -> Result<Option<Uuid>, DbError> {
    let sql = "SELECT b.rollout_id FROM software_rollout_boxes b \
               JOIN device_rpcs r ON r.id = b.rpc_id \
               WHERE b.tenant_id = $1 AND b.device_id = $2 AND r.tenant_id = $1 \
               AND r.device_id = $2 AND r.request_id = $3";
    let params = params![tenant, device, request_id];
    fetch_optional(tx, sql, params, |row| row.id("rollout_id")).await
}

/// A tenant's active boxes with the version each last reported, by name.
pub async fn active_boxes(
    tx: &mut Tx,
    tenant: Uuid,
) -> Result<Vec<(Uuid, Option<String>)>, DbError> {
    let sql = "SELECT id, software_version FROM devices WHERE tenant_id = $1 \
               AND status = 'active' ORDER BY name, id";
    fetch_all(tx, sql, params![tenant], |row| {
        Ok((row.id("id")?, row.optional_text("software_version")?))
    })
    .await
}

/// A box of a rollout still on its way (not final) in another running rollout of its
/// tenant: a box takes one update at a time.
pub async fn busy_box(tx: &mut Tx, tenant: Uuid, device: Uuid) -> Result<Option<Uuid>, DbError> {
    let sql = "SELECT b.rollout_id FROM software_rollout_boxes b \
               JOIN software_rollouts r ON r.id = b.rollout_id \
               WHERE b.tenant_id = $1 AND b.device_id = $2 AND r.state = 'running' \
               AND b.state NOT IN ('healthy', 'rolled_back', 'failed')";
    fetch_optional(tx, sql, params![tenant, device], |row| row.id("rollout_id")).await
}
