//! Remote searches (`searches`), each box's part of one (`search_boxes`) and the matches the
//! boxes sent (`search_results`); and the two reads a search starts from: the target's
//! embeddings in the face library and the active boxes below an area.
//!
//! A part's state only moves forward (`queued` -> `sent` -> `accepted` -> `running` -> one
//! of the terminal states), each move a conditional update from the states it may leave, so
//! a replayed or late message, a second relay or the sweeper never moves it back. A result
//! is stored once per (search, device, match id); its number `n` among its box's results is
//! taken from the part's row, which the insert locks first, so the numbers of one box's
//! results are committed in order and an event stream that has seen `n` misses nothing
//! below it. Distances are integers in millionths, so both engines compare them exactly.

use uuid::Uuid;

use super::{Columns, execute, fetch_all, fetch_optional, scalar};
use crate::db::{DbError, Tx};

/// A part's states that end it.
pub const ENDED: [&str; 4] = ["done", "failed", "cancelled", "expired"];

/// The SQL list of [`ENDED`].
macro_rules! ended {
    () => {
        "('done', 'failed', 'cancelled', 'expired')"
    };
}

/// One search as stored; times in Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSearch {
    pub id: Uuid,
    pub tenant: Uuid,
    pub actor: String,
    pub person: Option<Uuid>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// The scope as given: JSON arrays of ids.
    pub areas: String,
    pub devices: String,
    pub max_distance_micros: Option<i64>,
    pub expires_at: i64,
    pub request_hash: Option<String>,
    /// `running`, `done` or `cancelled`.
    pub state: String,
    pub created_at: i64,
    pub cancelled_at: Option<i64>,
    pub finished_at: Option<i64>,
}

macro_rules! search_columns {
    () => {
        "SELECT s.id, s.tenant_id, s.actor, s.person_id, s.from_ms, s.to_ms, s.areas, \
         s.devices, s.max_distance_micros, s.expires_at, s.request_hash, s.state, \
         s.created_at, s.cancelled_at, s.finished_at "
    };
}

macro_rules! select_search {
    () => {
        concat!(search_columns!(), "FROM searches s ")
    };
}

fn read_search(row: Columns<'_>) -> Result<StoredSearch, DbError> {
    read_row! { row => StoredSearch { id: id("id"), tenant: id("tenant_id"),
    actor: text("actor"), person: optional_id("person_id"), from_ms: number("from_ms"),
    to_ms: number("to_ms"), areas: text("areas"), devices: text("devices"),
    max_distance_micros: number("max_distance_micros"), expires_at: number("expires_at"),
    request_hash: optional_text("request_hash"), state: text("state"),
    created_at: number("created_at"), cancelled_at: number("cancelled_at"),
    finished_at: number("finished_at") } }
}

/// A search to store, `running`.
#[derive(Debug)]
pub struct NewSearch<'a> {
    pub id: Uuid,
    pub actor: &'a str,
    pub person: Option<Uuid>,
    pub span_ms: (i64, i64),
    /// JSON arrays of the area and device ids as given.
    pub scope: (&'a str, &'a str),
    /// Millionths; 0 for none (each box's default).
    pub max_distance_micros: i64,
    pub expires_at: i64,
    /// The Idempotency-Key and the request's digest.
    pub idempotency: Option<(&'a str, &'a str)>,
    pub now: i64,
}

pub async fn insert(tx: &mut Tx, tenant: Uuid, search: &NewSearch<'_>) -> Result<(), DbError> {
    let sql = "INSERT INTO searches (id, tenant_id, actor, person_id, from_ms, to_ms, areas, \
               devices, max_distance_micros, expires_at, idempotency_key, request_hash, state, \
               created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, 0), $10, $11, \
               $12, 'running', $13)";
    let s = search;
    let (key, hash) = s.idempotency.unzip();
    let params = params![
        s.id,
        tenant,
        s.actor,
        s.person,
        s.span_ms.0,
        s.span_ms.1,
        s.scope.0,
        s.scope.1,
        s.max_distance_micros,
        s.expires_at,
        key,
        hash,
        s.now
    ];
    execute(tx, sql, params).await?;
    Ok(())
}

/// The search `id` of `tenant`.
pub async fn find(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<Option<StoredSearch>, DbError> {
    let sql = concat!(select_search!(), "WHERE s.tenant_id = $1 AND s.id = $2");
    fetch_optional(tx, sql, params![tenant, id], read_search).await
}

/// The search `actor` made in `tenant` with the Idempotency-Key `key`.
pub async fn find_by_key(
    tx: &mut Tx,
    (tenant, actor): (Uuid, &str),
    key: &str,
) -> Result<Option<StoredSearch>, DbError> {
    let sql = concat!(
        select_search!(),
        "WHERE s.tenant_id = $1 AND s.actor = $2 AND s.idempotency_key = $3"
    );
    fetch_optional(tx, sql, params![tenant, actor, key], read_search).await
}

/// `WHERE` of the searches the caller sees (with `visible_areas!`, `$2` and `$3`): every box
/// of the search is in an area it sees.
macro_rules! visible_search {
    () => {
        "WHERE s.tenant_id = $1 AND ($3 = 1 OR NOT EXISTS (SELECT 1 FROM search_boxes vb \
         JOIN devices vd ON vd.id = vb.device_id AND vd.tenant_id = vb.tenant_id \
         WHERE vb.search_id = s.id AND vd.area_id NOT IN (SELECT id FROM visible))) "
    };
}

/// The search `id` of `tenant` if `(user, all)` sees every box of it.
pub async fn find_visible(
    tx: &mut Tx,
    tenant: Uuid,
    (user, all): super::Visibility,
    id: Uuid,
) -> Result<Option<StoredSearch>, DbError> {
    let sql = concat!(
        visible_areas!(),
        select_search!(),
        visible_search!(),
        "AND s.id = $4"
    );
    fetch_optional(tx, sql, params![tenant, user, all, id], read_search).await
}

/// A search in a list, with how many boxes it has, how many ended, how many results.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedSearch {
    pub search: StoredSearch,
    pub boxes: i64,
    pub boxes_ended: i64,
    pub results: i64,
}

/// A page of the searches of `tenant` that `(user, all)` sees, newest first.
pub async fn list_visible(
    tx: &mut Tx,
    tenant: Uuid,
    (user, all): super::Visibility,
    (limit, offset): (i64, i64),
) -> Result<Vec<ListedSearch>, DbError> {
    let sql = concat!(
        visible_areas!(),
        search_columns!(),
        ", (SELECT COUNT(*) FROM search_boxes b WHERE b.search_id = s.id) AS boxes, \
         (SELECT COUNT(*) FROM search_boxes b WHERE b.search_id = s.id AND b.state IN ",
        ended!(),
        ") AS boxes_ended, (SELECT CAST(COALESCE(SUM(b.results), 0) AS BIGINT) \
         FROM search_boxes b WHERE b.search_id = s.id) AS results FROM searches s ",
        visible_search!(),
        "ORDER BY s.created_at DESC, s.id DESC LIMIT $4 OFFSET $5"
    );
    let params = params![tenant, user, all, limit, offset];
    fetch_all(tx, sql, params, |row| {
        Ok(ListedSearch {
            search: read_search(row)?,
            boxes: row.number("boxes")?,
            boxes_ended: row.number("boxes_ended")?,
            results: row.number("results")?,
        })
    })
    .await
}

/// The box's last progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProgress {
    pub recordings_total: i64,
    pub recordings_done: i64,
    pub recordings_failed: i64,
    pub matches: i64,
    pub eta_seconds: Option<i64>,
}

/// One box's part of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    pub search: Uuid,
    pub device: Uuid,
    /// The device's area now.
    pub area: Uuid,
    pub state: String,
    pub rpc: Uuid,
    pub cancel_rpc: Option<Uuid>,
    pub task_id: Option<String>,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub progress: Option<StoredProgress>,
    pub results: i64,
    pub deadline_at: i64,
    pub updated_at: i64,
}

fn read_part(row: Columns<'_>) -> Result<StoredPart, DbError> {
    let progress = match row.number::<Option<i64>>("progress_seq")? {
        None => None,
        Some(_) => Some(StoredProgress {
            recordings_total: row.number("recordings_total")?,
            recordings_done: row.number("recordings_done")?,
            recordings_failed: row.number("recordings_failed")?,
            matches: row.number("box_matches")?,
            eta_seconds: row.number("eta_seconds")?,
        }),
    };
    Ok(StoredPart {
        search: row.id("search_id")?,
        device: row.id("device_id")?,
        area: row.id("area_id")?,
        state: row.text("state")?,
        rpc: row.id("rpc_id")?,
        cancel_rpc: row.optional_id("cancel_rpc_id")?,
        task_id: row.optional_text("task_id")?,
        reason_code: row.optional_text("reason_code")?,
        reason: row.optional_text("reason")?,
        progress,
        results: row.number("results")?,
        deadline_at: row.number("deadline_at")?,
        updated_at: row.number("updated_at")?,
    })
}

/// Every box's part of the search `search`, by device id.
pub async fn parts(tx: &mut Tx, tenant: Uuid, search: Uuid) -> Result<Vec<StoredPart>, DbError> {
    let sql = "SELECT b.search_id, b.device_id, d.area_id, b.state, b.rpc_id, b.cancel_rpc_id, \
               b.task_id, b.reason_code, b.reason, b.progress_seq, b.recordings_total, \
               b.recordings_done, b.recordings_failed, b.box_matches, b.eta_seconds, b.results, \
               b.deadline_at, b.updated_at FROM search_boxes b \
               JOIN devices d ON d.id = b.device_id AND d.tenant_id = b.tenant_id \
               WHERE b.tenant_id = $1 AND b.search_id = $2 ORDER BY b.device_id";
    fetch_all(tx, sql, params![tenant, search], read_part).await
}

/// Adds the box `device` to `search`, `queued`, its createSearch RPC `rpc`.
pub async fn insert_part(
    tx: &mut Tx,
    tenant: Uuid,
    (search, device): (Uuid, Uuid),
    rpc: Uuid,
    (deadline_at, now): (i64, i64),
) -> Result<(), DbError> {
    let sql = "INSERT INTO search_boxes (search_id, tenant_id, device_id, state, rpc_id, \
               deadline_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $5, $6)";
    let params = params![search, tenant, device, rpc, deadline_at, now];
    execute(tx, sql, params).await?;
    Ok(())
}

/// The createSearch RPC `rpc` was handed to the broker: its part `queued` -> `sent`. The
/// part's search, if one moved.
pub async fn mark_sent(
    tx: &mut Tx,
    tenant: Uuid,
    rpc: Uuid,
    now: i64,
) -> Result<Option<Uuid>, DbError> {
    let sql = "UPDATE search_boxes SET state = 'sent', updated_at = $1 \
               WHERE tenant_id = $2 AND rpc_id = $3 AND state = 'queued' RETURNING search_id";
    let moved: Option<String> = scalar(tx, sql, params![now, tenant, rpc]).await?;
    moved.as_deref().map(crate::db::parse_id).transpose()
}

/// The publish of `rpc` failed: its part `sent` -> `queued` again.
pub async fn mark_unsent(tx: &mut Tx, tenant: Uuid, rpc: Uuid, now: i64) -> Result<(), DbError> {
    let sql = "UPDATE search_boxes SET state = 'queued', updated_at = $1 \
               WHERE tenant_id = $2 AND rpc_id = $3 AND state = 'sent'";
    execute(tx, sql, params![now, tenant, rpc]).await?;
    Ok(())
}

/// The search whose createSearch RPC to `device` has the wire id `request_id`, if any.
pub async fn search_of_request(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    request_id: i64,
) -> Result<Option<Uuid>, DbError> {
    let sql = "SELECT b.search_id FROM search_boxes b \
               JOIN device_rpcs r ON r.id = b.rpc_id AND r.tenant_id = b.tenant_id \
               WHERE b.tenant_id = $1 AND b.device_id = $2 AND r.request_id = $3";
    let found: Option<String> = scalar(tx, sql, params![tenant, device, request_id]).await?;
    found.as_deref().map(crate::db::parse_id).transpose()
}

/// The box answered createSearch with its task: its part `queued`/`sent` -> `accepted`
/// (one that already reported progress keeps its state); the task is kept either way.
pub async fn accept(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    task_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE search_boxes SET task_id = COALESCE(task_id, $1), updated_at = $2, \
               state = CASE WHEN state IN ('queued', 'sent') THEN 'accepted' ELSE state END \
               WHERE tenant_id = $3 AND search_id = $4 AND device_id = $5";
    let params = params![task_id, now, tenant, search, device];
    Ok(execute(tx, sql, params).await? == 1)
}

/// Ends a part that has not ended as `state` (`done`, `failed`, `cancelled`, `expired`),
/// with the reason; false when it had ended.
pub async fn end_part(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    state: &str,
    (reason_code, reason): (Option<&str>, Option<&str>),
    now: i64,
) -> Result<bool, DbError> {
    let sql = concat!(
        "UPDATE search_boxes SET state = $1, reason_code = $2, reason = $3, updated_at = $4 \
         WHERE tenant_id = $5 AND search_id = $6 AND device_id = $7 AND state NOT IN ",
        ended!()
    );
    let params = params![state, reason_code, reason, now, tenant, search, device];
    Ok(execute(tx, sql, params).await? == 1)
}

/// The search was cancelled: a part that has not ended becomes `cancelled`, with the
/// cancelSearch RPC sent to its box if there is one.
pub async fn cancel_part(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    cancel_rpc: Option<Uuid>,
    now: i64,
) -> Result<bool, DbError> {
    let sql = concat!(
        "UPDATE search_boxes SET state = 'cancelled', cancel_rpc_id = $1, \
         reason_code = 'cancelled', reason = 'the search was cancelled', updated_at = $2 \
         WHERE tenant_id = $3 AND search_id = $4 AND device_id = $5 AND state NOT IN ",
        ended!()
    );
    let params = params![cancel_rpc, now, tenant, search, device];
    Ok(execute(tx, sql, params).await? == 1)
}

/// A progress report of the box, applied unless one with a higher `seq` was; a part not yet
/// running is then `running`. Whether the part changed.
pub async fn set_progress(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    (seq, progress): (i64, &StoredProgress),
    now: i64,
) -> Result<bool, DbError> {
    let running = "UPDATE search_boxes SET state = 'running', updated_at = $1 \
                   WHERE tenant_id = $2 AND search_id = $3 AND device_id = $4 \
                   AND state IN ('queued', 'sent', 'accepted')";
    let started = execute(tx, running, params![now, tenant, search, device]).await?;
    let sql = "UPDATE search_boxes SET progress_seq = $1, recordings_total = $2, \
               recordings_done = $3, recordings_failed = $4, box_matches = $5, \
               eta_seconds = NULLIF($6, -1), updated_at = $7 \
               WHERE tenant_id = $8 AND search_id = $9 AND device_id = $10 \
               AND (progress_seq IS NULL OR progress_seq < $1)";
    let p = progress;
    let params = params![
        seq,
        p.recordings_total,
        p.recordings_done,
        p.recordings_failed,
        p.matches,
        p.eta_seconds.unwrap_or(-1),
        now,
        tenant,
        search,
        device
    ];
    let newer = execute(tx, sql, params).await?;
    Ok(started + newer > 0)
}

/// A match as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResult {
    pub device: Uuid,
    pub match_id: i64,
    /// Its number among its box's results.
    pub n: i64,
    pub time_ms: i64,
    pub camera: String,
    pub distance_micros: i64,
    /// `[x, y, width, height]` as JSON.
    pub face_box: String,
    /// When the box said its snapshots were uploaded; none while they are not.
    pub snapshots_at: Option<i64>,
}

fn read_result(row: Columns<'_>) -> Result<StoredResult, DbError> {
    read_row! { row => StoredResult { device: id("device_id"), match_id: number("match_id"),
    n: number("n"), time_ms: number("time_ms"), camera: text("camera"),
    distance_micros: number("distance_micros"), face_box: text("face_box"),
    snapshots_at: number("snapshots_at") } }
}

/// A result whose snapshots are still to be uploaded, as the upload grants need it.
#[derive(Debug, Clone)]
pub struct PendingSnapshots {
    pub tenant: Uuid,
    pub device: Uuid,
    pub search: Uuid,
    pub match_id: i64,
    pub time_ms: i64,
}

/// Up to `limit` results, of boxes online, whose snapshots are not uploaded and whose box
/// was never sent a grant for them or last before `granted_before`, and which were granted
/// fewer than `max_grants` times: oldest first. Across tenants (the relay's own work).
pub async fn pending_snapshots(
    tx: &mut Tx,
    granted_before: i64,
    max_grants: i64,
    limit: i64,
) -> Result<Vec<PendingSnapshots>, DbError> {
    let sql = "SELECT r.tenant_id, r.device_id, r.search_id, r.match_id, r.time_ms \
               FROM search_results r JOIN devices d ON d.id = r.device_id \
               WHERE r.snapshots_at IS NULL AND r.grants < $2 \
               AND (r.granted_at IS NULL OR r.granted_at < $1) \
               AND d.online = 1 AND d.status = 'active' \
               ORDER BY r.received_at, r.device_id, r.match_id LIMIT $3";
    fetch_all(tx, sql, params![granted_before, max_grants, limit], |row| {
        Ok(PendingSnapshots {
            tenant: row.id("tenant_id")?,
            device: row.id("device_id")?,
            search: row.id("search_id")?,
            match_id: row.number("match_id")?,
            time_ms: row.number("time_ms")?,
        })
    })
    .await
}

/// Notes that the box was just sent a grant for the result's snapshots.
pub async fn granted(tx: &mut Tx, pending: &PendingSnapshots, now: i64) -> Result<(), DbError> {
    let sql = "UPDATE search_results SET granted_at = $1, grants = grants + 1 \
               WHERE tenant_id = $2 AND search_id = $3 AND device_id = $4 AND match_id = $5";
    let p = pending;
    let params = params![now, p.tenant, p.search, p.device, p.match_id];
    execute(tx, sql, params).await?;
    Ok(())
}

/// The box uploaded a result's snapshots; whether that is news.
pub async fn snapshots_uploaded(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    match_id: i64,
    now: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE search_results SET snapshots_at = $1 WHERE tenant_id = $2 \
               AND search_id = $3 AND device_id = $4 AND match_id = $5 AND snapshots_at IS NULL";
    let params = params![now, tenant, search, device, match_id];
    Ok(execute(tx, sql, params).await? > 0)
}

/// The box asks for a new grant for a result's snapshots (its last one expired or was
/// refused): it is granted again at once; whether there was such a result still waiting.
pub async fn snapshots_wanted(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    match_id: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE search_results SET granted_at = NULL WHERE tenant_id = $1 \
               AND search_id = $2 AND device_id = $3 AND match_id = $4 AND snapshots_at IS NULL";
    let params = params![tenant, search, device, match_id];
    Ok(execute(tx, sql, params).await? > 0)
}

/// Stores a match of the box's part, unless the part does not exist or the match was stored
/// before; whether it was stored. A part not yet running is then `running`.
pub async fn add_result(
    tx: &mut Tx,
    (tenant, search): (Uuid, Uuid),
    result: &StoredResult,
    (seq, now): (i64, i64),
) -> Result<bool, DbError> {
    // The part's row first: its lock orders the numbers of one box's results.
    let number = "UPDATE search_boxes SET results = results + 1, updated_at = $1, \
                  state = CASE WHEN state IN ('queued', 'sent', 'accepted') THEN 'running' \
                  ELSE state END \
                  WHERE tenant_id = $2 AND search_id = $3 AND device_id = $4 RETURNING results";
    let r = result;
    let n: Option<i64> = scalar(tx, number, params![now, tenant, search, r.device]).await?;
    let Some(n) = n else {
        return Ok(false);
    };
    let sql = "INSERT INTO search_results (search_id, tenant_id, device_id, match_id, n, \
               time_ms, camera, distance_micros, face_box, seq, received_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
               ON CONFLICT (search_id, device_id, match_id) DO NOTHING";
    let params = params![
        search,
        tenant,
        r.device,
        r.match_id,
        n,
        r.time_ms,
        r.camera.as_str(),
        r.distance_micros,
        r.face_box.as_str(),
        seq,
        now
    ];
    if execute(tx, sql, params).await? == 1 {
        return Ok(true);
    }
    let undo = "UPDATE search_boxes SET results = results - 1 \
                WHERE tenant_id = $1 AND search_id = $2 AND device_id = $3";
    execute(tx, undo, params![tenant, search, r.device]).await?;
    Ok(false)
}

/// Which results a page holds: one device's or every one (`None`), at most this distance
/// (millionths), after this place (time, device, match id) in the order of the list.
#[derive(Debug, Clone)]
pub struct ResultFilter {
    pub device: Option<Uuid>,
    pub max_distance_micros: i64,
    pub after: (i64, String, i64),
}

/// A page of the results of `search` by time (then device, then match id).
pub async fn results(
    tx: &mut Tx,
    (tenant, search): (Uuid, Uuid),
    filter: &ResultFilter,
    limit: i64,
) -> Result<Vec<StoredResult>, DbError> {
    let sql = "SELECT device_id, match_id, n, time_ms, camera, distance_micros, face_box, \
               snapshots_at FROM search_results WHERE tenant_id = $1 AND search_id = $2 \
               AND ($3 = '' OR device_id = $3) AND distance_micros <= $4 \
               AND (time_ms > $5 OR (time_ms = $5 AND (device_id > $6 \
               OR (device_id = $6 AND match_id > $7)))) \
               ORDER BY time_ms, device_id, match_id LIMIT $8";
    let f = filter;
    let device = f.device.map(|d| d.to_string()).unwrap_or_default();
    let params = params![
        tenant,
        search,
        device,
        f.max_distance_micros,
        f.after.0,
        f.after.1.as_str(),
        f.after.2,
        limit
    ];
    fetch_all(tx, sql, params, read_result).await
}

/// The results of the box `device` numbered above `after_n`, in their order, at most
/// `limit`: what an event stream has not sent yet.
pub async fn results_after(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    after_n: i64,
    limit: i64,
) -> Result<Vec<StoredResult>, DbError> {
    let sql = "SELECT device_id, match_id, n, time_ms, camera, distance_micros, face_box, \
               snapshots_at FROM search_results WHERE tenant_id = $1 AND search_id = $2 \
               AND device_id = $3 AND n > $4 ORDER BY n LIMIT $5";
    let params = params![tenant, search, device, after_n, limit];
    fetch_all(tx, sql, params, read_result).await
}

/// Up to `limit` results of the search whose snapshots were uploaded at `since` or after,
/// in the order they were uploaded.
pub async fn uploaded_since(
    tx: &mut Tx,
    (tenant, search): (Uuid, Uuid),
    since: i64,
    limit: i64,
) -> Result<Vec<StoredResult>, DbError> {
    let sql = "SELECT device_id, match_id, n, time_ms, camera, distance_micros, face_box, \
               snapshots_at FROM search_results WHERE tenant_id = $1 AND search_id = $2 \
               AND snapshots_at >= $3 ORDER BY snapshots_at, device_id, n LIMIT $4";
    let params = params![tenant, search, since, limit];
    fetch_all(tx, sql, params, read_result).await
}

/// Holds a box's end of its part (`event`, the `finished` event's body as JSON) until the
/// part holds `results` results: true when held; false when it holds them already or has
/// ended, and the event applies now. Takes the part's row lock, as storing a result does,
/// so a result stored at the same time sees the hold or makes it needless.
pub async fn hold_finish(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
    (results, event): (i64, &str),
    now: i64,
) -> Result<bool, DbError> {
    let sql = concat!(
        "UPDATE search_boxes SET finish_results = $1, finish_event = $2, updated_at = $3 \
         WHERE tenant_id = $4 AND search_id = $5 AND device_id = $6 AND results < $1 \
         AND state NOT IN ",
        ended!()
    );
    let params = params![results, event, now, tenant, search, device];
    Ok(execute(tx, sql, params).await? == 1)
}

/// The part's held end (see [`hold_finish`]), taken once the part holds the results it
/// counts; `None` while it does not, or when nothing is held. Called after storing a result,
/// whose update holds the part's row lock.
pub async fn take_held_finish(
    tx: &mut Tx,
    (tenant, search, device): (Uuid, Uuid, Uuid),
) -> Result<Option<String>, DbError> {
    let sql = "SELECT finish_event FROM search_boxes \
               WHERE tenant_id = $1 AND search_id = $2 AND device_id = $3 \
               AND finish_results IS NOT NULL AND results >= finish_results";
    let held: Option<String> = scalar(tx, sql, params![tenant, search, device]).await?;
    if held.is_some() {
        let sql = "UPDATE search_boxes SET finish_results = NULL, finish_event = NULL \
                   WHERE tenant_id = $1 AND search_id = $2 AND device_id = $3";
        execute(tx, sql, params![tenant, search, device]).await?;
    }
    Ok(held)
}

/// `running` -> `done` once every part has ended; whether it moved.
pub async fn finish_if_ended(
    tx: &mut Tx,
    (tenant, search): (Uuid, Uuid),
    now: i64,
) -> Result<bool, DbError> {
    let sql = concat!(
        "UPDATE searches SET state = 'done', finished_at = $1 \
         WHERE tenant_id = $2 AND id = $3 AND state = 'running' AND NOT EXISTS \
         (SELECT 1 FROM search_boxes b WHERE b.search_id = searches.id AND b.state NOT IN ",
        ended!(),
        ")"
    );
    Ok(execute(tx, sql, params![now, tenant, search]).await? == 1)
}

/// `running` -> `cancelled`; false when it had ended or was cancelled before.
pub async fn cancel(
    tx: &mut Tx,
    (tenant, search): (Uuid, Uuid),
    now: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE searches SET state = 'cancelled', cancelled_at = $1, finished_at = $1 \
               WHERE tenant_id = $2 AND id = $3 AND state = 'running'";
    Ok(execute(tx, sql, params![now, tenant, search]).await? == 1)
}

/// What one sweep changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Parts whose createSearch RPC expired or was never answered.
    pub undelivered: u64,
    /// Parts past their deadline.
    pub unfinished: u64,
    /// Searches whose every part has now ended.
    pub finished: u64,
}

/// Expires the parts whose box never got the search (its RPC expired unsent, or was sent and
/// never answered) and those not finished by their deadline, then ends the searches whose
/// parts have all ended (a platform-scoped transaction).
pub async fn sweep(tx: &mut Tx, now: i64) -> Result<Swept, DbError> {
    let undelivered = "UPDATE search_boxes SET state = 'expired', reason_code = 'not_delivered', \
                       reason = 'the box did not get the search before it expired', \
                       updated_at = $1 WHERE state IN ('queued', 'sent') AND EXISTS \
                       (SELECT 1 FROM device_rpcs r WHERE r.id = search_boxes.rpc_id \
                       AND r.state IN ('expired', 'timeout'))";
    let undelivered = execute(tx, undelivered, params![now]).await?;
    let unfinished = concat!(
        "UPDATE search_boxes SET state = 'expired', reason_code = 'not_finished', \
         reason = 'the box did not finish its part in time', updated_at = $1 \
         WHERE deadline_at <= $1 AND state NOT IN ",
        ended!()
    );
    let unfinished = execute(tx, unfinished, params![now]).await?;
    let finished = concat!(
        "UPDATE searches SET state = 'done', finished_at = $1 WHERE state = 'running' \
         AND NOT EXISTS (SELECT 1 FROM search_boxes b WHERE b.search_id = searches.id \
         AND b.state NOT IN ",
        ended!(),
        ")"
    );
    let finished = execute(tx, finished, params![now]).await?;
    Ok(Swept {
        undelivered,
        unfinished,
        finished,
    })
}

/// The embeddings of the person `person` of `tenant`, oldest photo first, as
/// `(model, base64 vector)`: `None` when there is no such person, empty when it has no photo.
pub async fn person_embeddings(
    tx: &mut Tx,
    tenant: Uuid,
    person: Uuid,
) -> Result<Option<Vec<(String, String)>>, DbError> {
    let sql = "SELECT f.model, f.embedding FROM people p LEFT JOIN face_photos f \
               ON f.person_id = p.id AND f.tenant_id = p.tenant_id \
               WHERE p.tenant_id = $1 AND p.id = $2 ORDER BY f.created_at, f.id";
    let rows = fetch_all(tx, sql, params![tenant, person], |row| {
        Ok((row.optional_text("model")?, row.optional_text("embedding")?))
    })
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|(model, vector)| model.zip(vector))
            .collect(),
    ))
}

/// An active box a search may reach, and whether it is online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveBox {
    pub device: Uuid,
    pub online: bool,
}

/// The active boxes of `tenant` in `area` and every area below it.
pub async fn active_boxes_below(
    tx: &mut Tx,
    tenant: Uuid,
    area: Uuid,
) -> Result<Vec<ActiveBox>, DbError> {
    let sql = "WITH RECURSIVE below(id) AS ( \
                   SELECT id FROM areas WHERE tenant_id = $1 AND id = $2 \
                   UNION \
                   SELECT a.id FROM areas a JOIN below b ON a.parent_id = b.id \
                   WHERE a.tenant_id = $1 \
               ) SELECT id, online FROM devices WHERE tenant_id = $1 AND status = 'active' \
               AND area_id IN (SELECT id FROM below) ORDER BY id";
    fetch_all(tx, sql, params![tenant, area], |row| {
        Ok(ActiveBox {
            device: row.id("id")?,
            online: row.flag("online")?,
        })
    })
    .await
}
