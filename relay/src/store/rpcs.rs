//! Server-side RPCs to boxes (`device_rpcs`), in ThingsBoard's persistent-RPC states: every
//! change of state is conditional on the state it leaves, so two relays (or a handler and
//! the sweeper) never both move one RPC.

use uuid::Uuid;

use super::{Columns, execute, fetch_all, fetch_optional, scalar};
use crate::db::{DbError, Tx};

/// One RPC as stored; times in Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRpc {
    pub id: Uuid,
    pub tenant: Uuid,
    pub device: Uuid,
    /// The id on the wire: `rpc/request/{request_id}`.
    pub request_id: i64,
    pub method: String,
    /// The params as JSON text.
    pub params: String,
    /// The id the params are stored under: the RPC's own, or shared by the RPCs of one
    /// request to many boxes ([`StoredRpc::sharing_params`]).
    pub params_id: Uuid,
    pub persistent: bool,
    pub state: String,
    pub timeout_ms: i64,
    pub expires_at: i64,
    pub answer_by: Option<i64>,
    pub actor: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// The box's answer as JSON text: `{"result": ...}` or `{"error": {...}}`.
    pub response: Option<String>,
}

impl StoredRpc {
    /// A new RPC, `queued`: `method` with `params` (JSON text) to the box `device` of `tenant`,
    /// to be answered within `timeout_ms` of being sent and not sent after `expires_at`. Its
    /// wire id is random below 2^53, so it stays exact in JavaScript too.
    pub fn queued(
        (tenant, device): (Uuid, Uuid),
        (method, params): (&str, String),
        persistent: bool,
        (timeout_ms, expires_at): (i64, i64),
        actor: &str,
        now: i64,
    ) -> StoredRpc {
        let id = Uuid::new_v4();
        StoredRpc {
            id,
            params_id: id,
            tenant,
            device,
            request_id: i64::try_from(rand::random::<u64>() >> 11).unwrap_or(1),
            method: method.to_owned(),
            params,
            persistent,
            state: "queued".to_owned(),
            timeout_ms,
            expires_at,
            answer_by: None,
            actor: actor.to_owned(),
            created_at: now,
            sent_at: None,
            completed_at: None,
            response: None,
        }
    }
}

impl StoredRpc {
    /// The same RPC with its params stored under `params_id`, which other RPCs with the same
    /// params share: [`insert`] stores them once.
    #[must_use]
    pub fn sharing_params(mut self, params_id: Uuid) -> StoredRpc {
        self.params_id = params_id;
        self
    }
}

macro_rules! select {
    () => {
        "SELECT id, tenant_id, device_id, request_id, method, params_id, \
         (SELECT p.params FROM rpc_params p WHERE p.id = device_rpcs.params_id) AS params, \
         persistent, state, timeout_ms, expires_at, answer_by, actor, created_at, sent_at, \
         completed_at, response FROM device_rpcs WHERE "
    };
}

fn read(row: Columns<'_>) -> Result<StoredRpc, DbError> {
    Ok(StoredRpc {
        id: row.id("id")?,
        tenant: row.id("tenant_id")?,
        device: row.id("device_id")?,
        request_id: row.number("request_id")?,
        method: row.text("method")?,
        params: row.text("params")?,
        params_id: row.id("params_id")?,
        persistent: row.flag("persistent")?,
        state: row.text("state")?,
        timeout_ms: row.number("timeout_ms")?,
        expires_at: row.number("expires_at")?,
        answer_by: row.number("answer_by")?,
        actor: row.text("actor")?,
        created_at: row.number("created_at")?,
        sent_at: row.number("sent_at")?,
        completed_at: row.number("completed_at")?,
        response: row.optional_text("response")?,
    })
}

/// Stores a new RPC as `queued`, and its params unless an RPC sharing them stored them.
pub async fn insert(tx: &mut Tx, rpc: &StoredRpc) -> Result<(), DbError> {
    let r = rpc;
    let sql = "INSERT INTO rpc_params (id, tenant_id, params) VALUES ($1, $2, $3) \
               ON CONFLICT (id) DO NOTHING";
    execute(tx, sql, params![r.params_id, r.tenant, r.params.as_str()]).await?;
    let sql = "INSERT INTO device_rpcs (id, tenant_id, device_id, request_id, method, params_id, \
               persistent, state, timeout_ms, expires_at, actor, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9, $10, $11)";
    let params = params![
        r.id,
        r.tenant,
        r.device,
        r.request_id,
        r.method.as_str(),
        r.params_id,
        i32::from(r.persistent),
        r.timeout_ms,
        r.expires_at,
        r.actor.as_str(),
        r.created_at
    ];
    execute(tx, sql, params).await?;
    Ok(())
}

/// The RPC `id` of the device `device` of `tenant`.
pub async fn find(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    id: Uuid,
) -> Result<Option<StoredRpc>, DbError> {
    let sql = concat!(select!(), "tenant_id = $1 AND device_id = $2 AND id = $3");
    fetch_optional(tx, sql, params![tenant, device, id], read).await
}

/// The RPCs of a box waiting to be sent, oldest first.
pub async fn queued(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
) -> Result<Vec<StoredRpc>, DbError> {
    let sql = concat!(
        select!(),
        "tenant_id = $1 AND device_id = $2 AND state = 'queued' ORDER BY created_at, id"
    );
    fetch_all(tx, sql, params![tenant, device], read).await
}

/// The RPCs still `queued` for boxes online and active, stored at or before `before`
/// (a platform-scoped transaction): at most `limit`, by tenant, box and age. The API sends an
/// RPC to a box online right after storing it, and a box coming online gets what waits for
/// it, so these are the ones whose send was cut (the relay or its database stopped in
/// between).
pub async fn stranded(tx: &mut Tx, before: i64, limit: i64) -> Result<Vec<StoredRpc>, DbError> {
    let sql = concat!(
        select!(),
        "state = 'queued' AND created_at <= $1 AND device_id IN \
         (SELECT d.id FROM devices d WHERE d.online = 1 AND d.status = 'active') \
         ORDER BY tenant_id, device_id, created_at, id LIMIT $2"
    );
    fetch_all(tx, sql, params![before, limit], read).await
}

/// `queued` -> `sent`, answer due by `answer_by`; false if another took it (or it left
/// `queued`).
pub async fn mark_sent(
    tx: &mut Tx,
    tenant: Uuid,
    id: Uuid,
    (now, answer_by): (i64, i64),
) -> Result<bool, DbError> {
    let sql = "UPDATE device_rpcs SET state = 'sent', sent_at = $1, answer_by = $2 \
               WHERE tenant_id = $3 AND id = $4 AND state = 'queued'";
    Ok(execute(tx, sql, params![now, answer_by, tenant, id]).await? == 1)
}

/// `sent` -> `queued` again (the publish failed before reaching the broker).
pub async fn unsend(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<(), DbError> {
    let sql = "UPDATE device_rpcs SET state = 'queued', sent_at = NULL, answer_by = NULL \
               WHERE tenant_id = $1 AND id = $2 AND state = 'sent'";
    execute(tx, sql, params![tenant, id]).await?;
    Ok(())
}

/// `sent` -> `delivered`: the broker acknowledged the request.
pub async fn mark_delivered(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    request_id: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE device_rpcs SET state = 'delivered' WHERE tenant_id = $1 \
               AND device_id = $2 AND request_id = $3 AND state = 'sent'";
    Ok(execute(tx, sql, params![tenant, device, request_id]).await? == 1)
}

/// The box answered: `sent`/`delivered` -> `successful` or `failed`, with its answer.
/// False when the RPC is unknown or no longer waits (timed out, answered before).
pub async fn complete(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    request_id: i64,
    (state, response): (&str, &str),
    now: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE device_rpcs SET state = $1, response = $2, completed_at = $3 \
               WHERE tenant_id = $4 AND device_id = $5 AND request_id = $6 \
               AND state IN ('sent', 'delivered')";
    let params = params![state, response, now, tenant, device, request_id];
    Ok(execute(tx, sql, params).await? == 1)
}

/// Ends one RPC as `state` (`timeout`, `expired`, `failed`) if it is still waiting
/// (`queued`, `sent` or `delivered`); false otherwise.
pub async fn end(
    tx: &mut Tx,
    tenant: Uuid,
    id: Uuid,
    state: &str,
    now: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE device_rpcs SET state = $1, completed_at = $2 WHERE tenant_id = $3 \
               AND id = $4 AND state IN ('queued', 'sent', 'delivered')";
    Ok(execute(tx, sql, params![state, now, tenant, id]).await? == 1)
}

/// Expires one RPC that is still `queued` (never sent); false if it left `queued`.
pub async fn expire_queued(tx: &mut Tx, tenant: Uuid, id: Uuid, now: i64) -> Result<bool, DbError> {
    let sql = "UPDATE device_rpcs SET state = 'expired', completed_at = $1 WHERE tenant_id = $2 \
               AND id = $3 AND state = 'queued'";
    Ok(execute(tx, sql, params![now, tenant, id]).await? == 1)
}

/// Every queued RPC past its expiry becomes `expired`, every sent one past its answer time
/// `timeout` (a platform-scoped transaction); how many of each.
pub async fn sweep(tx: &mut Tx, now: i64) -> Result<(u64, u64), DbError> {
    let expire = "UPDATE device_rpcs SET state = 'expired', completed_at = $1 \
                  WHERE state = 'queued' AND expires_at <= $1";
    let expired = execute(tx, expire, params![now]).await?;
    let time_out = "UPDATE device_rpcs SET state = 'timeout', completed_at = $1 \
                    WHERE state IN ('sent', 'delivered') AND answer_by <= $1";
    let timed_out = execute(tx, time_out, params![now]).await?;
    Ok((expired, timed_out))
}

/// Whether `device` of `tenant` has an RPC of `method` with exactly `params` that is on its
/// way or was answered successfully.
pub async fn has_live_or_answered(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    (method, params): (&str, &str),
) -> Result<bool, DbError> {
    let sql = "SELECT COUNT(*) FROM device_rpcs r JOIN rpc_params p ON p.id = r.params_id \
               WHERE r.tenant_id = $1 AND r.device_id = $2 AND r.method = $3 \
               AND r.state IN ('queued', 'sent', 'delivered', 'successful') AND p.params = $4";
    let found: Option<i64> = scalar(tx, sql, params![tenant, device, method, params]).await?;
    Ok(found.unwrap_or(0) > 0)
}
