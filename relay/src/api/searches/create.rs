//! `POST /api/v1/tenants/{t}/searches`: checks the request, the person, the scope and the
//! caller's roles, then stores in one transaction the search, one part per box in scope, one
//! persistent `createSearch` RPC per box and the audit record; sends the RPCs of the boxes
//! online at once (the others get theirs when they connect, until it expires). With an
//! `Idempotency-Key`, the same key from the same caller with the same body answers the
//! search it made (200); with another body, 409.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Search, micros, view};
use crate::api::areas::referenced;
use crate::api::begin_existing;
use crate::api::devices::Device;
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::config::SearchesConfig;
use crate::db::{DbError, Mode, Tx, now_ms};
use crate::error::{ApiError, ErrorCode};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::store::rpcs::{self, StoredRpc};
use crate::store::searches::{self as store, ActiveBox, NewSearch};
use protocol::search::{CreateSearch, WireEmbedding};

/// How far in the future a span may end: the caller's clock may be ahead of the relay's.
const CLOCK_ALLOWANCE_MS: i64 = 5 * 60_000;
/// How long a box that is away may take to get the search, by default and at most, seconds.
const DEFAULT_EXPIRES_IN: u64 = 86_400;
const MAX_EXPIRES_IN: u64 = 30 * 86_400;
/// How long a box has to answer a createSearch after the search stops waiting for it.
const ANSWER_GRACE_MS: i64 = 60_000;
/// The most areas and devices a scope names.
const MAX_AREAS: usize = 100;
const MAX_DEVICES: usize = 1000;

/// A time in a request: RFC 3339 with its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(jiff::Timestamp);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<jiff::Timestamp>().map(Time).map_err(|_| {
            serde::de::Error::custom(
                "must be an RFC 3339 time with its offset, such as 2026-11-25T08:00:00Z",
            )
        })
    }
}

impl Time {
    fn ms(self) -> i64 {
        self.0.as_millisecond()
    }
}

/// A search to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSearch {
    /// The person of the face library to look for (all their photos)...
    pub person_id: Option<Uuid>,
    /// ... or a one-off photo (JPEG or PNG, base64, up to `[faces] max_photo_bytes`) of one
    /// face, embedded by the relay and not kept; one of the two.
    #[schema(max_length = 14000000, pattern = r"^[A-Za-z0-9+/]*={0,2}$")]
    pub photo: Option<String>,
    /// The span searched, RFC 3339: from...
    #[schema(value_type = String, format = DateTime)]
    pub from: Time,
    /// ... to, after `from`, not in the future, at most `[searches] max_span_days` later.
    #[schema(value_type = String, format = DateTime)]
    pub to: Time,
    /// Areas whose boxes are searched, each with every area below it.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub areas: Vec<Uuid>,
    /// Boxes searched besides those of `areas`.
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub devices: Vec<Uuid>,
    /// The largest distance that counts as a match, above 0 and at most 2; each box's own
    /// default when absent.
    #[schema(exclusive_minimum = 0, maximum = 2)]
    pub max_distance: Option<f64>,
    /// How long a box that is offline may take to receive the search before its part
    /// expires, in seconds (1 to 2592000). Default 86400.
    #[schema(minimum = 1, maximum = 2592000)]
    pub expires_in_seconds: Option<u64>,
}

/// The request's values once checked, times in Unix ms.
#[derive(Debug)]
struct Checked {
    span_ms: (i64, i64),
    max_distance: Option<f64>,
    /// Millionths; 0 for none.
    max_distance_micros: i64,
    expires_in_ms: i64,
}

/// Starts a search of the scope's boxes for a person (operators of every box in scope).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/searches", tag = "searches", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200, pattern = r"^[!-~]+$",
        description = "A client-chosen key, 1 to 200 printable ASCII characters: a retry with the same key and body answers the same search")),
    request_body = StartSearch,
    responses(
        (status = 201, description = "Started", body = Search),
        (status = 200, description = "Started earlier by a request with the same key", body = Search)))]
pub async fn create_search(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Search>), ApiError> {
    // A body that is not a request is refused before anything is audited, as the other
    // routes' extractors refuse theirs.
    let request: StartSearch = json_body(&state, &headers, body).await?;
    audited(&state.db, &principal, "search.create", "searches", async {
        let key = idempotency_key(&headers)?;
        let idempotency = key.map(|key| (key, request_hash(&request)));
        principal.tenant_for(tenant_id)?;
        let photo = one_off_photo(&state, &request).await?;
        match start(
            &state,
            &principal,
            tenant_id,
            (&request, photo),
            idempotency.as_ref(),
        )
        .await
        {
            Err(NoNewSearch::Before(search)) => Ok((StatusCode::OK, Json(*search))),
            Err(NoNewSearch::Refused(error)) => Err(error),
            Ok((search, rpcs)) => {
                send(&state, &rpcs).await;
                let (mut tx, tenant) =
                    begin_existing(&state, &principal, tenant_id, Mode::Read).await?;
                let found = store::find(&mut tx, tenant, search).await?;
                let found = view(&mut tx, found.ok_or_else(ApiError::not_found)?).await?;
                tx.commit().await?;
                Ok((StatusCode::CREATED, Json(found)))
            }
        }
    })
    .await
}

/// The request's JSON body, which may carry a one-off photo: up to the API's body limit or,
/// when larger, a photo of `[faces] max_photo_bytes` in base64 and the rest.
async fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<T, ApiError> {
    crate::extract::require_json(headers)?;
    let photo = state.config.faces.max_photo_bytes.saturating_mul(4) / 3;
    let limit = state.config.server.max_body_bytes.max(photo + 64 * 1024);
    let bytes = crate::extract::body_up_to(body, limit, || {
        "the request body is larger than the relay accepts".to_owned()
    })
    .await?;
    crate::extract::parse_json(&bytes)
}

/// The embedding of the request's one-off photo, if it has one; 422 when it has both a
/// person and a photo, or neither, or a photo the face stages refuse.
async fn one_off_photo(
    state: &AppState,
    request: &StartSearch,
) -> Result<Option<WireEmbedding>, ApiError> {
    let photo = match (&request.person_id, &request.photo) {
        (Some(_), None) => return Ok(None),
        (None, Some(photo)) => photo,
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "photo",
                "give a person_id or a photo, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid_field(
                "person_id",
                "a person_id or a photo is required",
            ));
        }
    };
    let max = state.config.faces.max_photo_bytes;
    if photo.len() > max.saturating_mul(4) / 3 + 4 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!("a photo may be at most {max} bytes"),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(photo)
        .map_err(|_| ApiError::invalid_field("photo", "the photo is not base64"))?;
    Ok(Some(state.faces.enrol(bytes).await?.embedding))
}

/// Why no search was made.
enum NoNewSearch {
    /// The key's earlier request made this one.
    Before(Box<Search>),
    Refused(ApiError),
}

impl<E: Into<ApiError>> From<E> for NoNewSearch {
    fn from(error: E) -> Self {
        NoNewSearch::Refused(error.into())
    }
}

/// The Idempotency-Key header, if any; 400 when it is not 1 to 200 printable ASCII
/// characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidHeader,
                "an Idempotency-Key header must be 1 to 200 printable ASCII characters",
            )
            .with_field("Idempotency-Key")
        })
}

/// The SHA-256 of the request as the relay reads it (defaults filled in), in hex.
fn request_hash(request: &StartSearch) -> String {
    let canonical = serde_json::json!({
        "person_id": request.person_id,
        "photo_sha256": request.photo.as_deref().map(|p| {
            Sha256::digest(p.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        }),
        "from_ms": request.from.ms(),
        "to_ms": request.to.ms(),
        "areas": request.areas,
        "devices": request.devices,
        "max_distance": request.max_distance,
        "expires_in_seconds": request.expires_in_seconds.unwrap_or(DEFAULT_EXPIRES_IN),
    });
    Sha256::digest(canonical.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The search made earlier with this key, if its body was the same; 409 if another.
async fn made_before(
    tx: &mut Tx,
    (tenant, actor): (Uuid, &str),
    (key, hash): &(String, String),
) -> Result<Option<Search>, ApiError> {
    let Some(before) = store::find_by_key(tx, (tenant, actor), key).await? else {
        return Ok(None);
    };
    if before.request_hash.as_deref() != Some(hash.as_str()) {
        return Err(ApiError::conflict(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used for a search with another body",
        )
        .with_field("Idempotency-Key"));
    }
    Ok(Some(view(tx, before).await?))
}

/// Checks and stores the search with its parts, RPCs and audit record; the search and its
/// RPCs with whether each box was online.
async fn start(
    state: &AppState,
    principal: &Principal,
    tenant_id: Uuid,
    (request, photo): (&StartSearch, Option<WireEmbedding>),
    idempotency: Option<&(String, String)>,
) -> Result<(Uuid, Vec<(StoredRpc, bool)>), NoNewSearch> {
    let (mut tx, tenant) = begin_existing(state, principal, tenant_id, Mode::Write).await?;
    if let Some(idempotency) = idempotency
        && let Some(before) = made_before(&mut tx, (tenant, &principal.actor), idempotency).await?
    {
        tx.commit().await?;
        return Err(NoNewSearch::Before(Box::new(before)));
    }
    may_start(principal)?;
    if crate::store::tenants::status(&mut tx, tenant)
        .await?
        .as_deref()
        != Some("enabled")
    {
        return Err(ApiError::tenant_disabled().into());
    }
    crate::dunning::standing::refuse_if_suspended(&mut tx, tenant).await?;
    let checked = check(&state.config.searches, request, now_ms())?;
    let target = match (photo, request.person_id) {
        (Some(embedding), _) => searched(vec![embedding], &checked, "photo")?,
        (None, Some(person)) => target(&mut tx, tenant, person, &checked).await?,
        (None, None) => return Err(ApiError::invalid_field("person_id", "required").into()),
    };
    let boxes = scope(&mut tx, principal, tenant, request).await?;
    if state.uplink.is_none() {
        return Err(ApiError::no_broker().into());
    }
    let plan = Plan {
        search: Uuid::new_v4(),
        tenant,
        request,
        checked,
        target,
        boxes,
        idempotency,
        finish_within_ms: i64::try_from(state.config.searches.finish_within_seconds)
            .unwrap_or(i64::MAX / 2_000)
            .saturating_mul(1000),
    };
    let rpcs = store_all(&mut tx, principal, &plan)
        .await
        .map_err(|e| match e {
            // Another request with this key is being stored: its answer is the one to give.
            DbError::Constraint(_) if idempotency.is_some() => NoNewSearch::Refused(
                ApiError::conflict(
                    ErrorCode::CreationInProgress,
                    "a search with this Idempotency-Key is being started; retry shortly to read it",
                )
                .with_retry_after(1),
            ),
            other => other.into(),
        })?;
    crate::metering::search_started(&mut tx, tenant, now_ms()).await?;
    let target = format!("search:{}", plan.search);
    audit::commit(tx, principal, Some(tenant), "search.create", &target).await?;
    Ok((plan.search, rpcs))
}

/// Viewers may not start searches: the caller must operate some area (or the tenant).
fn may_start(principal: &Principal) -> Result<(), ApiError> {
    let operator = |role: Role| role >= Role::Operator;
    if principal.tenant_role().is_some_and(operator)
        || principal.grants.iter().any(|g| operator(g.role))
    {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "starting a search needs the operator role on the boxes it searches",
        ))
    }
}

/// The request's values, or 422 naming the field at fault.
fn check(config: &SearchesConfig, request: &StartSearch, now: i64) -> Result<Checked, ApiError> {
    let (from, to) = (request.from.ms(), request.to.ms());
    if from >= to {
        return Err(ApiError::invalid_field("to", "must be after `from`"));
    }
    if to > now.saturating_add(CLOCK_ALLOWANCE_MS) {
        return Err(ApiError::invalid_field(
            "to",
            "must not be in the future: a box holds only footage already recorded",
        ));
    }
    let days = config.max_span_days;
    if to - from > i64::from(days) * 86_400_000 {
        return Err(ApiError::invalid_field(
            "from",
            format!("must be at most {days} days before `to` (the boxes' retention)"),
        ));
    }
    let max_distance_micros = match request.max_distance {
        None => 0,
        Some(d) if d.is_finite() && d > 0.0 && d <= 2.0 => micros(d).max(1),
        Some(_) => {
            let message = "must be above 0 and at most 2";
            return Err(ApiError::invalid_field("max_distance", message));
        }
    };
    let expires_in = request.expires_in_seconds.unwrap_or(DEFAULT_EXPIRES_IN);
    if !(1..=MAX_EXPIRES_IN).contains(&expires_in) {
        let message = format!("must be 1 to {MAX_EXPIRES_IN}");
        return Err(ApiError::invalid_field("expires_in_seconds", message));
    }
    if request.areas.len() > MAX_AREAS {
        let message = format!("must name at most {MAX_AREAS} areas");
        return Err(ApiError::invalid_field("areas", message));
    }
    if request.devices.len() > MAX_DEVICES {
        let message = format!("must name at most {MAX_DEVICES} devices");
        return Err(ApiError::invalid_field("devices", message));
    }
    Ok(Checked {
        span_ms: (from, to),
        max_distance: request.max_distance,
        max_distance_micros,
        expires_in_ms: i64::try_from(expires_in * 1000).unwrap_or(i64::MAX),
    })
}

/// The `createSearch` the boxes get (its search id set when stored): every photo's embedding
/// of the person, the first as `embedding`. 422 for another tenant's person or none, a person
/// without photos, or photos whose embeddings do not go together.
async fn target(
    tx: &mut Tx,
    tenant: Uuid,
    person: Uuid,
    checked: &Checked,
) -> Result<CreateSearch, ApiError> {
    let embeddings = store::person_embeddings(tx, tenant, person)
        .await?
        .ok_or_else(|| ApiError::invalid_field("person_id", "no such person"))?;
    if embeddings.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::PersonWithoutPhotos,
            "this person has no photo in the face library: add one before searching",
        )
        .with_field("person_id"));
    }
    let embeddings = embeddings
        .into_iter()
        .map(|(model, vector)| WireEmbedding { model, vector })
        .collect();
    searched(embeddings, checked, "person_id")
}

/// The `createSearch` for `embeddings` (at least one), the first as `embedding`; 422 naming
/// `field` when they do not go together.
fn searched(
    embeddings: Vec<WireEmbedding>,
    checked: &Checked,
    field: &str,
) -> Result<CreateSearch, ApiError> {
    let mut embeddings = embeddings.into_iter();
    let Some(embedding) = embeddings.next() else {
        return Err(ApiError::invalid_field(field, "nothing to search for"));
    };
    let search = CreateSearch {
        search_id: Uuid::nil(),
        embedding,
        from_ms: checked.span_ms.0,
        to_ms: checked.span_ms.1,
        cameras: Vec::new(),
        max_distance: checked.max_distance.map(|d| d as f32),
        more_embeddings: embeddings.collect(),
    };
    search.validated().map_err(|e| {
        ApiError::invalid_field(field, format!("these photos cannot be searched: {e}"))
    })
}

/// The active boxes of the scope: every area's (with the areas below it) and the devices
/// named. 422 for an area or device that is not the tenant's, or that the caller does not
/// operate and cannot see (403 if it sees it); 422 `empty_scope` when no box is active.
async fn scope(
    tx: &mut Tx,
    principal: &Principal,
    tenant: Uuid,
    request: &StartSearch,
) -> Result<Vec<ActiveBox>, ApiError> {
    let mut boxes = BTreeMap::new();
    for (i, &area) in request.areas.iter().enumerate() {
        let field = format!("areas[{i}]");
        referenced(tx, tenant, area, &field).await?;
        operates(tx, principal, (tenant, area), (&field, "no such area")).await?;
        for found in store::active_boxes_below(tx, tenant, area).await? {
            boxes.insert(found.device, found);
        }
    }
    for (i, &device) in request.devices.iter().enumerate() {
        let field = format!("devices[{i}]");
        let found = crate::store::find::<Device>(tx, tenant, device).await?;
        let found = found.ok_or_else(|| ApiError::invalid_field(&field, "no such device"))?;
        operates(
            tx,
            principal,
            (tenant, found.area_id),
            (&field, "no such device"),
        )
        .await?;
        if found.status == "active" {
            let online = found.online;
            boxes.insert(device, ActiveBox { device, online });
        }
    }
    if boxes.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::EmptyScope,
            "no active box is in the search's areas and devices",
        ));
    }
    Ok(boxes.into_values().collect())
}

/// 403 unless the caller is an operator of `area`; an area it cannot see at all is the 422
/// `(field, absent)` of one that does not exist.
async fn operates(
    tx: &mut Tx,
    principal: &Principal,
    (tenant, area): (Uuid, Uuid),
    (field, absent): (&str, &str),
) -> Result<(), ApiError> {
    let held = principal.require_area_role(tx, tenant, area, Role::Operator);
    held.await.map_err(|e| {
        if e.status() == StatusCode::NOT_FOUND {
            ApiError::invalid_field(field, absent)
        } else {
            e
        }
    })
}

/// A checked search, ready to store.
struct Plan<'a> {
    search: Uuid,
    tenant: Uuid,
    request: &'a StartSearch,
    checked: Checked,
    target: CreateSearch,
    boxes: Vec<ActiveBox>,
    idempotency: Option<&'a (String, String)>,
    finish_within_ms: i64,
}

/// Stores the search, one createSearch RPC and one part per box; the RPCs, each with whether
/// its box was online.
async fn store_all(
    tx: &mut Tx,
    principal: &Principal,
    plan: &Plan<'_>,
) -> Result<Vec<(StoredRpc, bool)>, DbError> {
    let now = now_ms();
    let checked = &plan.checked;
    let expires_at = now.saturating_add(checked.expires_in_ms);
    let areas = serde_json::to_string(&plan.request.areas).unwrap_or_default();
    let devices = serde_json::to_string(&plan.request.devices).unwrap_or_default();
    let search = NewSearch {
        id: plan.search,
        actor: &principal.actor,
        person: plan.request.person_id,
        span_ms: checked.span_ms,
        scope: (&areas, &devices),
        max_distance_micros: checked.max_distance_micros,
        expires_at,
        idempotency: plan.idempotency.map(|(k, h)| (k.as_str(), h.as_str())),
        now,
    };
    store::insert(tx, plan.tenant, &search).await?;
    let mut target = plan.target.clone();
    target.search_id = plan.search;
    let params = serde_json::to_string(&target).unwrap_or_default();
    // The box may get it until it expires; an answer arriving a little later still counts.
    let timing = (
        checked.expires_in_ms.saturating_add(ANSWER_GRACE_MS),
        expires_at,
    );
    let deadline = expires_at.saturating_add(plan.finish_within_ms);
    let mut rpcs = Vec::with_capacity(plan.boxes.len());
    // Every box gets the same params (the embeddings): stored once.
    let shared = Uuid::new_v4();
    for found in &plan.boxes {
        let call = ("createSearch", params.clone());
        let ids = (plan.tenant, found.device);
        let rpc = StoredRpc::queued(ids, call, true, timing, &principal.actor, now)
            .sharing_params(shared);
        rpcs::insert(tx, &rpc).await?;
        let part = (plan.search, found.device);
        store::insert_part(tx, plan.tenant, part, rpc.id, (deadline, now)).await?;
        rpcs.push((rpc, found.online));
    }
    Ok(rpcs)
}

/// Sends the RPCs of the boxes online; the others wait for their box to connect.
async fn send(state: &AppState, rpcs: &[(StoredRpc, bool)]) {
    if let Some(uplink) = &state.uplink {
        uplink.send_to_online(rpcs, "createSearch").await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(json: &str) -> Result<i64, String> {
        serde_json::from_str::<Time>(json)
            .map(Time::ms)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn times_are_rfc_3339_with_their_offset() {
        assert_eq!(time("\"2026-11-25T08:00:00Z\""), Ok(1_795_593_600_000));
        assert_eq!(
            time("\"2026-11-25T10:00:00.5+02:00\""),
            Ok(1_795_593_600_500)
        );
        for bad in ["\"2026-11-25T08:00:00\"", "\"yesterday\"", "\"\"", "17"] {
            assert!(time(bad).is_err(), "{bad}");
        }
        let refused = time("\"2026-11-25\"").expect_err("a date alone");
        assert!(refused.starts_with("must be an RFC 3339 time"), "{refused}");
    }

    fn request(from: &str, to: &str) -> StartSearch {
        let body = serde_json::json!({"person_id": Uuid::nil(), "from": from, "to": to});
        serde_json::from_value(body).expect("a request")
    }

    #[test]
    fn a_span_is_ordered_in_the_past_and_bounded() {
        let config = SearchesConfig::default();
        let now = 1_795_600_000_000;
        let check = |from: &str, to: &str| {
            check(&config, &request(from, to), now).map_err(|e| e.message().to_owned())
        };
        let span = check("2026-11-25T08:00:00Z", "2026-11-25T09:00:00Z").expect("an hour");
        assert_eq!(span.span_ms.1 - span.span_ms.0, 3_600_000);
        assert_eq!(span.expires_in_ms, 86_400_000);
        assert!(check("2026-11-25T09:00:00Z", "2026-11-25T09:00:00Z").is_err());
        let future = check("2026-11-25T08:00:00Z", "2026-11-25T10:00:00Z");
        assert!(future.is_err_and(|m| m.contains("future")));
        let long = check("2026-10-25T08:00:00Z", "2026-11-25T08:00:00Z");
        assert!(long.is_err_and(|m| m.contains("30 days")));
    }
}
