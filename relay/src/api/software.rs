//! Box software updates (docs/design/0110): platform admins upload box packages, which the
//! relay signs, and roll one out to a tenant's boxes in waves; tenant admins read their
//! tenant's rollouts and each box's state.
//!
//! `POST /api/v1/software/packages` takes the `.deb` itself (a `dipper` package, read by
//! `dpkg-deb`); `GET` lists them with the relay's public key. `POST
//! /api/v1/tenants/{t}/software/rollouts` starts one (given boxes, or every active box of the
//! tenant), `GET .../rollouts[/{id}]` reads them. A box already in a running rollout is
//! refused (409): one update at a time.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::rfc3339;
use super::{begin_as_tenant_admin, begin_existing};
use crate::audit::{self, audited};
use crate::auth::Principal;
use crate::db::{Mode, Scope, now_ms};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::objects::{ContentType, ObjectKey};
use crate::software::{package, rollout};
use crate::state::AppState;
use crate::store::software::{self as store, StoredPackage, StoredRollout, StoredRolloutBox};
use protocol::software::{BOX_PACKAGE, DEFAULT_HEALTH_TIMEOUT_S, HEALTH_TIMEOUT_RANGE_S};

/// The largest package the relay takes (it holds one in memory while reading it).
pub const MAX_PACKAGE_BYTES: usize = 512 * 1024 * 1024;
/// The most boxes one rollout names.
const MAX_DEVICES: usize = 10_000;

/// A box package as stored and signed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Package {
    pub id: Uuid,
    /// The Debian package's name: `dipper`.
    pub name: String,
    pub version: String,
    /// SHA-256 of the `.deb`, hex.
    pub sha256: String,
    pub size: i64,
    /// The relay's Ed25519 signature of name, version, digest and size, base64.
    pub signature: String,
    pub uploaded_by: String,
    pub created_at: String,
}

impl From<StoredPackage> for Package {
    fn from(p: StoredPackage) -> Self {
        Package {
            id: p.id,
            name: p.name,
            version: p.version,
            sha256: p.sha256,
            size: p.size,
            signature: p.signature,
            uploaded_by: p.uploaded_by,
            created_at: rfc3339(p.created_at),
        }
    }
}

/// The packages, and the key boxes verify them with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PackageList {
    /// The relay's Ed25519 public key, base64: what boxes receive at activation.
    pub public_key: String,
    pub packages: Vec<Package>,
}

/// A rollout to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRollout {
    pub package_id: Uuid,
    /// The boxes, in the order their waves go; absent: every active box of the tenant, by
    /// name.
    pub device_ids: Option<Vec<Uuid>>,
    /// Boxes per wave; the next wave goes when every box of one is healthy. Default 1.
    #[schema(minimum = 1, maximum = 10000)]
    pub wave_size: Option<u32>,
    /// Install even where the box runs the same or a newer version. Default false.
    #[serde(default)]
    pub force: bool,
    /// How long a box has to report healthy on its new version before it rolls back, in
    /// seconds. Default 120.
    #[schema(minimum = 10, maximum = 3600)]
    pub health_timeout_s: Option<u32>,
}

/// One box of a rollout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RolloutBox {
    pub device_id: Uuid,
    pub device_name: String,
    pub wave: i64,
    /// `waiting`, `sent`, `downloading`, `staged`, `installing`, `healthy`, `rolled_back` or
    /// `failed`.
    pub state: String,
    /// Why, for `failed` and `rolled_back`, in the box's words.
    pub reason: Option<String>,
    pub version_before: Option<String>,
    /// What the box runs now, as it last said.
    pub software_version: Option<String>,
    pub updated_at: String,
}

impl From<StoredRolloutBox> for RolloutBox {
    fn from(b: StoredRolloutBox) -> Self {
        RolloutBox {
            device_id: b.device,
            device_name: b.device_name,
            wave: b.wave,
            state: b.state,
            reason: b.reason,
            version_before: b.version_before,
            software_version: b.software_version,
            updated_at: rfc3339(b.updated_at),
        }
    }
}

/// A rollout and its boxes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rollout {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub package_id: Uuid,
    pub version: String,
    pub wave_size: i64,
    pub force: bool,
    pub health_timeout_s: i64,
    /// `running`, `done` (every box healthy) or `halted` (a box rolled back or failed).
    pub state: String,
    /// The wave sent last (0: the first).
    pub wave: i64,
    pub created_by: String,
    pub created_at: String,
    pub ended_at: Option<String>,
    pub boxes: Vec<RolloutBox>,
}

fn rollout_view(r: StoredRollout, version: String, boxes: Vec<StoredRolloutBox>) -> Rollout {
    Rollout {
        id: r.id,
        tenant_id: r.tenant,
        package_id: r.package,
        version,
        wave_size: r.wave_size,
        force: r.force,
        health_timeout_s: r.health_timeout_s,
        state: r.state,
        wave: r.wave,
        created_by: r.created_by,
        created_at: rfc3339(r.created_at),
        ended_at: r.ended_at.map(rfc3339),
        boxes: boxes.into_iter().map(RolloutBox::from).collect(),
    }
}

fn refused(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_field(field, message)
}

/// The body, a `.deb` of at most [`MAX_PACKAGE_BYTES`].
async fn package_bytes(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    if !matches!(
        essence.as_deref(),
        Some("application/vnd.debian.binary-package" | "application/octet-stream")
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the package with Content-Type: application/vnd.debian.binary-package",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!("a package is at most {MAX_PACKAGE_BYTES} bytes"),
        )
    };
    match Limited::new(body, MAX_PACKAGE_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadBody,
            "the request body could not be read",
        )),
    }
}

/// Uploads a box package (platform admins): the `.deb` itself. The relay reads its name and
/// version with `dpkg-deb`, stores it in the object store and signs it.
#[utoipa::path(post, path = "/api/v1/software/packages", tag = "software", security(("bearer" = [])),
    request_body(content(
        (Vec<u8> = "application/vnd.debian.binary-package"),
        (Vec<u8> = "application/octet-stream"),
    ), description = "The package itself"),
    responses((status = 201, description = "Stored and signed", body = Package)))]
pub async fn upload_package(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Package>), ApiError> {
    let action = "software.package.upload";
    audited(&state.db, &principal, action, "software", async {
        principal.require_platform_admin()?;
        let bytes = package_bytes(&headers, body).await?;
        let facts = package::read(bytes.clone()).await.map_err(|e| match e {
            package::PackageError::NotAPackage(_) => refused("package", e.to_string()),
            package::PackageError::Tool(why) => {
                ApiError::internal_message(format!("dpkg-deb could not be run: {why}"))
            }
        })?;
        if facts.name != BOX_PACKAGE {
            return Err(refused(
                "package",
                format!(
                    "boxes install only {BOX_PACKAGE:?}; this package is {:?}",
                    facts.name
                ),
            ));
        }
        if !protocol::software::valid_version(&facts.version) {
            return Err(refused("package", "its version is not one boxes accept"));
        }
        let id = Uuid::new_v4();
        let key = ObjectKey::software_package(id);
        let signed = state
            .software
            .sign(&facts.name, &facts.version, &facts.sha256, facts.size);
        let stored = StoredPackage {
            id,
            name: facts.name,
            version: facts.version,
            sha256: facts.sha256,
            size: i64::try_from(facts.size).unwrap_or(i64::MAX),
            signature: signed.signature,
            object_key: key.as_str().to_owned(),
            uploaded_by: principal.actor.clone(),
            created_at: now_ms(),
        };
        let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
        let exists = store::packages(&mut tx)
            .await?
            .into_iter()
            .any(|p| p.name == stored.name && p.version == stored.version);
        tx.commit().await?;
        if exists {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                format!("version {} is uploaded already", stored.version),
            ));
        }
        state.objects.put(&key, bytes, ContentType::Deb).await?;
        let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
        store::insert_package(&mut tx, &stored).await?;
        let target = format!("software_package:{id}");
        audit::commit(tx, &principal, None, action, &target).await?;
        Ok((StatusCode::CREATED, Json(Package::from(stored))))
    })
    .await
}

/// The box packages, newest first, with the relay's public key (platform admins).
#[utoipa::path(get, path = "/api/v1/software/packages", tag = "software", security(("bearer" = [])),
    responses((status = 200, description = "The packages", body = PackageList)))]
pub async fn list_packages(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<PackageList>, ApiError> {
    principal.require_platform_admin()?;
    let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
    let packages = store::packages(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(PackageList {
        public_key: state.software.public_key(),
        packages: packages.into_iter().map(Package::from).collect(),
    }))
}

/// Starts rolling a package out to a tenant's boxes (platform admins).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/software/rollouts", tag = "software", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = StartRollout,
    responses((status = 201, description = "Started: the first wave is on its way", body = Rollout)))]
pub async fn start_rollout(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<StartRollout>,
) -> Result<(StatusCode, Json<Rollout>), ApiError> {
    let action = "software.rollout.start";
    let target = format!("tenant:{tenant_id}");
    audited(&state.db, &principal, action, &target, async {
        // Another tenant's id answers as a made-up one does, before the role is asked.
        principal.tenant_for(tenant_id)?;
        principal.require_platform_admin()?;
        let wave_size = request.wave_size.unwrap_or(1);
        if !(1..=MAX_DEVICES as u32).contains(&wave_size) {
            return Err(refused("wave_size", format!("between 1 and {MAX_DEVICES}")));
        }
        let health = request.health_timeout_s.unwrap_or(DEFAULT_HEALTH_TIMEOUT_S);
        if !HEALTH_TIMEOUT_RANGE_S.contains(&health) {
            let (low, high) = (HEALTH_TIMEOUT_RANGE_S.start(), HEALTH_TIMEOUT_RANGE_S.end());
            return Err(refused(
                "health_timeout_s",
                format!("between {low} and {high}"),
            ));
        }
        let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
        let package = store::package(&mut tx, request.package_id).await?;
        let package = package.ok_or_else(|| refused("package_id", "no such package"))?;
        let boxes = chosen_boxes(&mut tx, tenant, request.device_ids.as_deref()).await?;
        let now = now_ms();
        let stored = StoredRollout {
            id: Uuid::new_v4(),
            tenant,
            package: package.id,
            wave_size: i64::from(wave_size),
            force: request.force,
            health_timeout_s: i64::from(health),
            state: "running".to_owned(),
            wave: 0,
            created_by: principal.actor.clone(),
            created_at: now,
            ended_at: None,
        };
        store::insert_rollout(&mut tx, &stored).await?;
        for (i, (device, version)) in boxes.iter().enumerate() {
            let wave = i64::try_from(i / wave_size as usize).unwrap_or(i64::MAX);
            let ids = (tenant, stored.id);
            store::insert_box(&mut tx, ids, (*device, wave), version.as_deref(), now).await?;
        }
        let actor = principal.actor.clone();
        let pair = (&stored, &package);
        let queued = rollout::queue_wave(&mut tx, &state.objects, pair, 0, (&actor, now))
            .await
            .map_err(rollout_error)?;
        let listed = store::boxes(&mut tx, (tenant, stored.id)).await?;
        let target = format!("software_rollout:{}", stored.id);
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        if let Some(uplink) = &state.uplink {
            uplink.send_to_online(&queued, "softwareUpdate").await;
        }
        let view = rollout_view(stored, package.version, listed);
        Ok((StatusCode::CREATED, Json(view)))
    })
    .await
}

fn rollout_error(error: rollout::RolloutError) -> ApiError {
    match error {
        rollout::RolloutError::Db(e) => e.into(),
        rollout::RolloutError::Objects(e) => e.into(),
    }
}

/// The boxes a rollout goes to, each with its version: the ones named (active boxes of the
/// tenant, none twice, none in another running rollout), or every active box.
async fn chosen_boxes(
    tx: &mut crate::db::Tx,
    tenant: Uuid,
    named: Option<&[Uuid]>,
) -> Result<Vec<(Uuid, Option<String>)>, ApiError> {
    let active = store::active_boxes(tx, tenant).await?;
    let chosen: Vec<(Uuid, Option<String>)> = match named {
        None => active,
        Some(ids) => {
            if ids.len() > MAX_DEVICES {
                return Err(refused(
                    "device_ids",
                    format!("at most {MAX_DEVICES} boxes"),
                ));
            }
            let mut chosen = Vec::with_capacity(ids.len());
            for id in ids {
                if chosen.iter().any(|(c, _)| c == id) {
                    return Err(refused("device_ids", format!("box {id} is named twice")));
                }
                let Some(found) = active.iter().find(|(a, _)| a == id) else {
                    return Err(refused(
                        "device_ids",
                        format!("box {id} is no active box of this tenant"),
                    ));
                };
                chosen.push(found.clone());
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return Err(refused(
            "device_ids",
            "the tenant has no active box to update",
        ));
    }
    for (device, _) in &chosen {
        if let Some(other) = store::busy_box(tx, tenant, *device).await? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                format!("box {device} is being updated by rollout {other}"),
            ));
        }
    }
    Ok(chosen)
}

/// A tenant's rollouts, newest first (platform admins and the tenant's admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/software/rollouts", tag = "software", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "The rollouts", body = Vec<Rollout>)))]
pub async fn list_rollouts(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<Vec<Rollout>>, ApiError> {
    let (mut tx, tenant) = begin_as_tenant_admin(&state, &principal, tenant_id, Mode::Read).await?;
    let mut views = Vec::new();
    for r in store::rollouts(&mut tx, tenant).await? {
        views.push(read_rollout(&mut tx, r).await?);
    }
    tx.commit().await?;
    Ok(Json(views))
}

/// One rollout with each box's state (platform admins and the tenant's admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/software/rollouts/{rollout_id}", tag = "software", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("rollout_id" = Uuid, Path)),
    responses((status = 200, description = "The rollout", body = Rollout)))]
pub async fn get_rollout(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, rollout_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Rollout>, ApiError> {
    let (mut tx, tenant) = begin_as_tenant_admin(&state, &principal, tenant_id, Mode::Read).await?;
    let found = store::rollout(&mut tx, tenant, rollout_id).await?;
    let found = found.ok_or_else(ApiError::not_found)?;
    let view = read_rollout(&mut tx, found).await?;
    tx.commit().await?;
    Ok(Json(view))
}

async fn read_rollout(tx: &mut crate::db::Tx, r: StoredRollout) -> Result<Rollout, ApiError> {
    let version = store::package(tx, r.package)
        .await?
        .map(|p| p.version)
        .unwrap_or_default();
    let boxes = store::boxes(tx, (r.tenant, r.id)).await?;
    Ok(rollout_view(r, version, boxes))
}
