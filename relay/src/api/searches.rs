//! Remote searches: `POST /api/v1/tenants/{t}/searches` looks for a person of the face
//! library in the footage of every box of a scope (areas, each with the areas below it, and
//! devices) over a span, by sending each box a persistent `createSearch` RPC (the person's
//! embeddings and their model, never a photo); the boxes' answers and search events move
//! each box's part (`queued`, `sent`, `accepted`, `running`, then `done`, `failed`,
//! `cancelled` or `expired`) and bring the matches, stored once each (`crate::uplink`).
//! `GET` reads a search with every box's part and the first page of its results, merged in
//! time order; `.../results` pages through them with filters; `.../events` streams the same
//! as server-sent events; `DELETE` cancels it on every box.
//!
//! Operators start searches over the boxes of their areas, tenant admins over any; viewers
//! and operators read the searches all of whose boxes are in areas they see. Another
//! tenant's search answers 404, and another tenant's person, area or device in a body the
//! same 422 as one that does not exist. Every creation and cancellation is audited
//! (`search.create`, `search.cancel`, target `search:{id}`).

pub mod cancel;
pub mod create;
pub mod events;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::areas::visibility;
use super::types::{Page, rfc3339};
use super::{begin, begin_list};
use crate::auth::Principal;
use crate::db::{DbError, Mode, Tx};
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::objects::ObjectKey;
use crate::state::AppState;
use crate::store::searches::{
    self as store, ListedSearch, ResultFilter, StoredPart, StoredResult, StoredSearch,
};

/// Results a page holds by default, and at most.
const PAGE_DEFAULT: u32 = 100;
const PAGE_MAX: u32 = 500;

/// A search: its target, span and scope, where each box's part stands, and the first page of
/// its results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Search {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The person searched for; none once removed from the face library.
    pub person_id: Option<Uuid>,
    /// The span searched (RFC 3339).
    pub from: String,
    pub to: String,
    /// The scope as given.
    pub areas: Vec<Uuid>,
    pub devices: Vec<Uuid>,
    /// The largest distance that counts as a match; none: each box's default.
    pub max_distance: Option<f64>,
    /// A box that has not received the search by then never will.
    pub expires_at: String,
    /// `running` until every box's part has ended, then `done`; or `cancelled`.
    pub state: String,
    /// Who started it, as the audit log names them.
    pub created_by: String,
    pub created_at: String,
    pub cancelled_at: Option<String>,
    /// When every box's part had ended.
    pub finished_at: Option<String>,
    /// Every box's part, by device id.
    pub boxes: Vec<SearchBox>,
    /// Results stored from every box.
    pub result_count: i64,
    /// The first page of the results, by time.
    pub results: ResultPage,
}

/// One box's part of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchBox {
    pub device_id: Uuid,
    /// `queued` (not yet sent to the box), `sent`, `accepted` (the box answered with its
    /// task), `running` (progress or matches arrived), `done`, `failed` (see `reason`),
    /// `cancelled` or `expired` (the box did not get the search in time, or did not finish).
    pub state: String,
    /// The box's task for the search.
    pub task_id: Option<String>,
    /// Why the part failed, expired or was cancelled.
    pub reason: Option<BoxReason>,
    /// The box's last progress report.
    pub progress: Option<Progress>,
    /// Results stored from this box.
    pub results: i64,
    pub updated_at: String,
}

/// Why a part ended other than `done`: a code (the box's own, such as `model_mismatch`, or
/// the relay's: `not_delivered`, `not_finished`, `task_failed`, `cancelled`) and a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BoxReason {
    pub code: String,
    pub message: String,
}

/// A box's progress through the span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub recordings_total: i64,
    pub recordings_done: i64,
    pub recordings_failed: i64,
    /// Matches the box has found so far.
    pub matches: i64,
    pub eta_seconds: Option<i64>,
}

/// A face of the person seen by a box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    pub device_id: Uuid,
    /// The box's own id of the match.
    pub match_id: i64,
    /// When the face was seen (RFC 3339, milliseconds).
    pub time: String,
    /// The camera's name on the box.
    pub camera: String,
    /// The distance to the person (smaller is closer).
    pub distance: f64,
    /// The face in the frame: x, y, width, height in pixels.
    pub face_box: Vec<f64>,
    /// The match's snapshots once the box has uploaded them (none before, and in event
    /// streams): URLs that read them for `objects.get_url_seconds`.
    pub snapshots: Option<Snapshots>,
    #[serde(skip)]
    time_ms: i64,
    #[serde(skip)]
    uploaded: bool,
}

/// Time-limited URLs of a match's snapshots (JPEG).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Snapshots {
    /// The face, cropped.
    pub face_url: String,
    /// The whole frame.
    pub frame_url: String,
    /// Both URLs are refused after this.
    pub expires_at: String,
}

/// Fills in the snapshot URLs of the results of `search` whose snapshots were uploaded.
pub(crate) async fn with_snapshot_urls(
    state: &AppState,
    (tenant, search): (Uuid, Uuid),
    results: &mut [SearchResult],
) -> Result<(), crate::objects::ObjectError> {
    let ttl = std::time::Duration::from_secs(state.config.objects.get_url_seconds);
    for result in results.iter_mut().filter(|r| r.uploaded) {
        let (device, time_ms, match_id) = (result.device_id, result.time_ms, result.match_id);
        let (face, frame) = ObjectKey::snapshots(tenant, device, time_ms, search, match_id)?;
        let face = state.objects.presign_get(&face, ttl).await?;
        let frame = state.objects.presign_get(&frame, ttl).await?;
        result.snapshots = Some(Snapshots {
            expires_at: rfc3339(face.expires_at_ms.min(frame.expires_at_ms)),
            face_url: face.url,
            frame_url: frame.url,
        });
    }
    Ok(())
}

/// A page of results; `next` is the `after` of the following page, none on the last.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResultPage {
    pub items: Vec<SearchResult>,
    pub next: Option<String>,
}

/// A search in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchSummary {
    pub id: Uuid,
    pub person_id: Option<Uuid>,
    pub from: String,
    pub to: String,
    /// `running`, `done` or `cancelled`.
    pub state: String,
    pub created_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Boxes in the search, and how many of their parts have ended.
    pub boxes: i64,
    pub boxes_ended: i64,
    pub result_count: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchList {
    pub items: Vec<SearchSummary>,
}

/// Which results to list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultQuery {
    /// Only this box's results.
    pub device: Option<Uuid>,
    /// Only results at most this far from the person (0 to 2).
    #[param(minimum = 0, maximum = 2)]
    pub max_distance: Option<f64>,
    /// The `next` of the previous page.
    #[param(min_length = 1, max_length = 200)]
    pub after: Option<String>,
    /// At most this many (1 to 500). Default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A distance in millionths, as the relay stores them.
fn micros(distance: f64) -> i64 {
    // A checked distance is in [0, 2]: far inside i64 once scaled.
    (distance * 1e6).round() as i64
}

fn distance(micros: i64) -> f64 {
    micros as f64 / 1e6
}

impl From<StoredPart> for SearchBox {
    fn from(part: StoredPart) -> Self {
        SearchBox {
            device_id: part.device,
            state: part.state,
            task_id: part.task_id,
            reason: part.reason_code.map(|code| BoxReason {
                code,
                message: part.reason.unwrap_or_default(),
            }),
            progress: part.progress.map(|p| Progress {
                recordings_total: p.recordings_total,
                recordings_done: p.recordings_done,
                recordings_failed: p.recordings_failed,
                matches: p.matches,
                eta_seconds: p.eta_seconds,
            }),
            results: part.results,
            updated_at: rfc3339(part.updated_at),
        }
    }
}

impl From<StoredResult> for SearchResult {
    fn from(result: StoredResult) -> Self {
        SearchResult {
            device_id: result.device,
            match_id: result.match_id,
            time: rfc3339(result.time_ms),
            camera: result.camera,
            distance: distance(result.distance_micros),
            face_box: serde_json::from_str(&result.face_box).unwrap_or_default(),
            snapshots: None,
            time_ms: result.time_ms,
            uploaded: result.snapshots_at.is_some(),
        }
    }
}

fn ids(json: &str) -> Vec<Uuid> {
    serde_json::from_str(json).unwrap_or_default()
}

impl From<ListedSearch> for SearchSummary {
    fn from(listed: ListedSearch) -> Self {
        let s = listed.search;
        SearchSummary {
            id: s.id,
            person_id: s.person,
            from: rfc3339(s.from_ms),
            to: rfc3339(s.to_ms),
            state: s.state,
            created_by: s.actor,
            created_at: rfc3339(s.created_at),
            finished_at: s.finished_at.map(rfc3339),
            boxes: listed.boxes,
            boxes_ended: listed.boxes_ended,
            result_count: listed.results,
        }
    }
}

/// The search as the API shows it: with every box's part and the first page of results.
pub(crate) async fn view(tx: &mut Tx, search: StoredSearch) -> Result<Search, DbError> {
    let parts = store::parts(tx, search.tenant, search.id).await?;
    let result_count = parts.iter().map(|p| p.results).sum();
    let results = page(tx, &search, &ResultFilter::everything(), PAGE_DEFAULT).await?;
    Ok(Search {
        id: search.id,
        tenant_id: search.tenant,
        person_id: search.person,
        from: rfc3339(search.from_ms),
        to: rfc3339(search.to_ms),
        areas: ids(&search.areas),
        devices: ids(&search.devices),
        max_distance: search.max_distance_micros.map(distance),
        expires_at: rfc3339(search.expires_at),
        state: search.state,
        created_by: search.actor,
        created_at: rfc3339(search.created_at),
        cancelled_at: search.cancelled_at.map(rfc3339),
        finished_at: search.finished_at.map(rfc3339),
        boxes: parts.into_iter().map(SearchBox::from).collect(),
        result_count,
        results,
    })
}

impl ResultFilter {
    /// Every result, from the first.
    fn everything() -> ResultFilter {
        ResultFilter {
            device: None,
            max_distance_micros: i64::MAX,
            after: (i64::MIN, String::new(), i64::MIN),
        }
    }
}

/// A page of `search`'s results under `filter`, with the cursor of the next.
async fn page(
    tx: &mut Tx,
    search: &StoredSearch,
    filter: &ResultFilter,
    limit: u32,
) -> Result<ResultPage, DbError> {
    let ids = (search.tenant, search.id);
    let mut rows = store::results(tx, ids, filter, i64::from(limit) + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = match rows.last() {
        Some(last) if more => Some(cursor(last)),
        _ => None,
    };
    Ok(ResultPage {
        items: rows.into_iter().map(SearchResult::from).collect(),
        next,
    })
}

/// The place after `result` in the list, as an opaque text.
fn cursor(result: &StoredResult) -> String {
    let place = format!("{}:{}:{}", result.time_ms, result.device, result.match_id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(place)
}

/// The place a cursor names; none if it is not one of ours.
fn place(cursor: &str) -> Option<(i64, String, i64)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, ':');
    let time = parts.next()?.parse().ok()?;
    let device: Uuid = parts.next()?.parse().ok()?;
    let match_id = parts.next()?.parse().ok()?;
    Some((time, device.to_string(), match_id))
}

/// The search `search_id` of the tenant, if the caller sees it (404 otherwise), in `tx`.
pub(crate) async fn visible(
    tx: &mut Tx,
    principal: &Principal,
    tenant: Uuid,
    search_id: Uuid,
) -> Result<StoredSearch, ApiError> {
    store::find_visible(tx, tenant, visibility(principal), search_id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Searches the caller sees, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/searches", tag = "searches", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), Page),
    responses((status = 200, description = "Searches", body = SearchList)))]
pub async fn list_searches(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<SearchList>, ApiError> {
    let caller = (&state, &principal);
    let (mut tx, tenant, bounds) = begin_list(caller, tenant_id, &page, None).await?;
    let found = store::list_visible(&mut tx, tenant, visibility(&principal), bounds).await?;
    tx.commit().await?;
    let items = found.into_iter().map(SearchSummary::from).collect();
    Ok(Json(SearchList { items }))
}

/// One search: every box's part and the first page of results.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/searches/{search_id}", tag = "searches", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("search_id" = Uuid, Path)),
    responses((status = 200, description = "The search", body = Search)))]
pub async fn get_search(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, search_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Search>, ApiError> {
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    let search = visible(&mut tx, &principal, tenant, search_id).await?;
    let mut search = view(&mut tx, search).await?;
    tx.commit().await?;
    let ids = (search.tenant_id, search.id);
    with_snapshot_urls(&state, ids, &mut search.results.items).await?;
    Ok(Json(search))
}

/// The filter and page size a query asks for; 400 naming the parameter at fault.
fn result_filter(query: &ResultQuery) -> Result<(ResultFilter, u32), ApiError> {
    let invalid = |field: &str, message: &str| ApiError::invalid_query(field, message);
    let limit = query.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(invalid("limit", "limit must be 1 to 500"));
    }
    let max_distance_micros = match query.max_distance {
        None => i64::MAX,
        Some(d) if d.is_finite() && (0.0..=2.0).contains(&d) => micros(d),
        Some(_) => return Err(invalid("max_distance", "max_distance must be 0 to 2")),
    };
    let after = match &query.after {
        None => ResultFilter::everything().after,
        Some(text) => place(text).filter(|_| text.len() <= 200).ok_or_else(|| {
            invalid(
                "after",
                "after must be the `next` of a page of this search's results",
            )
        })?,
    };
    let filter = ResultFilter {
        device: query.device,
        max_distance_micros,
        after,
    };
    Ok((filter, limit))
}

/// A page of a search's results by time (then device and match id), filtered by box and
/// distance.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/searches/{search_id}/results", tag = "searches", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("search_id" = Uuid, Path), ResultQuery),
    responses((status = 200, description = "Results", body = ResultPage)))]
pub async fn list_results(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, search_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(query): ApiQuery<ResultQuery>,
) -> Result<Json<ResultPage>, ApiError> {
    principal.tenant_for(tenant_id)?;
    let (filter, limit) = result_filter(&query)?;
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    let search = visible(&mut tx, &principal, tenant, search_id).await?;
    let mut results = page(&mut tx, &search, &filter, limit).await?;
    tx.commit().await?;
    with_snapshot_urls(&state, (tenant, search.id), &mut results.items).await?;
    Ok(Json(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_names_the_place_after_a_result() {
        let device = Uuid::from_u128(7);
        let result = StoredResult {
            device,
            match_id: 42,
            n: 1,
            time_ms: 1_764_000_000_123,
            camera: "Gate".to_owned(),
            distance_micros: 400_000,
            face_box: "[1,2,3,4]".to_owned(),
            snapshots_at: None,
        };
        let text = cursor(&result);
        assert_eq!(
            place(&text),
            Some((1_764_000_000_123, device.to_string(), 42))
        );
        for bad in ["", "x", "bm90IGEgcGxhY2U", "MTox"] {
            assert_eq!(place(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn distances_round_trip_in_millionths() {
        assert_eq!(micros(0.4), 400_000);
        assert_eq!(distance(micros(1.234_567)), 1.234_567);
    }
}
