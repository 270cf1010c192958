//! The face library: a tenant's people (name, notes, labels) and their enrolled photos.
//!
//! A photo is embedded on the relay by the box's own face stages (`crate::faces`): one usable
//! face or it is refused with the reason (not an image, no face, several faces, a face the
//! quality gate turns away); an ID photo whose face fills the picture is accepted. It is kept
//! as the embedding with its model id, and the photo itself in the object store. A search for
//! a person looks for all of their photos, and the best distance counts.
//!
//! Tenant admins and operators (on the whole tenant or on any area) manage the library;
//! viewers read it. Every change is audited (`person.create`, `person.update`,
//! `person.delete`, `person.photo.add`, `person.photo.delete`, target `person:{id}`). Another
//! tenant's person or photo answers 404.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::types::{Name, Page, rfc3339};
use super::{begin, begin_existing};
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{Mode, Tx};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::objects::{ContentType, ObjectKey};
use crate::state::AppState;
use crate::store::people::{self as store, NewPhoto, PersonRow, PhotoRow};

/// Longest notes, in characters.
const NOTES_MAX: usize = 2000;
/// Most labels a person carries.
const LABELS_MAX: usize = 20;
/// Most photos a person has.
const PHOTOS_MAX: i64 = 20;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub notes: String,
    pub labels: Vec<String>,
    pub photo_count: i64,
    /// The photos, oldest first (only when one person is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photos: Option<Vec<FacePhoto>>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonList {
    pub items: Vec<Person>,
}

/// An enrolled photo.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FacePhoto {
    pub id: Uuid,
    pub person_id: Uuid,
    /// The embedding model's id (`dlib-resnet-v1`): a box embedding with another model cannot
    /// search for it.
    pub model: String,
    /// The face in the upright photo: x, y, width, height in pixels.
    pub face_box: [f32; 4],
    /// The detector's score, 0 to 1.
    pub score: f64,
    pub content_type: String,
    pub bytes: i64,
    /// A time-limited URL of the photo itself.
    pub photo_url: String,
    pub photo_url_expires_at: String,
    pub created_at: String,
}

/// Checked notes: at most 2000 characters, no control characters but line breaks and tabs.
#[derive(Debug, Clone, Serialize)]
pub struct Notes(String);

impl<'de> Deserialize<'de> for Notes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.chars().count() > NOTES_MAX {
            return Err(serde::de::Error::custom(format!(
                "must be at most {NOTES_MAX} characters"
            )));
        }
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(serde::de::Error::custom(
                "must not contain control characters",
            ));
        }
        Ok(Notes(text))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePerson {
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub name: Name,
    /// Free text for the operators, up to 2000 characters.
    #[schema(value_type = Option<String>, max_length = 2000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub notes: Option<Notes>,
    /// Up to 20 labels (`resident`, `missing`...), each a name; repeats are dropped.
    #[schema(value_type = Option<Vec<String>>, max_items = 20)]
    pub labels: Option<Vec<Name>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePerson {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub name: Option<Name>,
    #[schema(value_type = Option<String>, max_length = 2000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub notes: Option<Notes>,
    /// Replaces the labels.
    #[schema(value_type = Option<Vec<String>>, max_items = 20)]
    pub labels: Option<Vec<Name>>,
}

/// Which people to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// Only people carrying this label.
    #[param(max_length = 200)]
    pub label: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<u32>,
}

/// The highest role the caller holds anywhere in its tenant: the library is the tenant's,
/// so an operator of any area manages it.
fn library_role(principal: &Principal) -> Option<Role> {
    if principal.platform_admin {
        return Some(Role::TenantAdmin);
    }
    principal.grants.iter().map(|g| g.role).max()
}

fn require_library(principal: &Principal, role: Role) -> Result<(), ApiError> {
    match library_role(principal) {
        Some(held) if held >= role => Ok(()),
        _ => Err(ApiError::forbidden(format!(
            "the face library needs the {} role in this tenant",
            role.as_str()
        ))),
    }
}

fn labels(given: Option<Vec<Name>>) -> Result<Vec<String>, ApiError> {
    let mut labels: Vec<String> = Vec::new();
    for label in given.unwrap_or_default() {
        if !labels.iter().any(|l| l == label.as_str()) {
            labels.push(label.as_str().to_owned());
        }
    }
    if labels.len() > LABELS_MAX {
        return Err(ApiError::invalid_field(
            "labels",
            format!("at most {LABELS_MAX} labels"),
        ));
    }
    Ok(labels)
}

fn person(row: PersonRow, photos: Option<Vec<FacePhoto>>) -> Person {
    Person {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        notes: row.notes,
        labels: row.labels,
        photo_count: row.photo_count,
        photos,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

/// The person `id` of the caller's tenant, or 404.
async fn found(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<PersonRow, ApiError> {
    crate::store::find::<PersonRow>(tx, tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn photo_view(state: &AppState, row: PhotoRow) -> Result<FacePhoto, ApiError> {
    let key = ObjectKey::parse(&row.object_key)
        .map_err(|e| ApiError::internal_message(format!("a stored photo key: {e}")))?;
    let ttl = std::time::Duration::from_secs(state.config.objects.get_url_seconds);
    let url = state.objects.presign_get(&key, ttl).await?;
    Ok(FacePhoto {
        id: row.id,
        person_id: row.person_id,
        model: row.model,
        face_box: row.face_box,
        score: row.score,
        content_type: row.content_type,
        bytes: row.bytes,
        photo_url: url.url,
        photo_url_expires_at: rfc3339(url.expires_at_ms),
        created_at: rfc3339(row.created_at),
    })
}

/// The tenant's people, by name.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/people", tag = "face library", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), PeopleQuery),
    responses((status = 200, description = "People", body = PersonList)))]
pub async fn list_people(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PeopleQuery>,
) -> Result<Json<PersonList>, ApiError> {
    principal.tenant_for(tenant_id)?;
    require_library(&principal, Role::Viewer)?;
    if query
        .label
        .as_ref()
        .is_some_and(|l| l.chars().count() > 200)
    {
        let message = "label must be at most 200 characters";
        return Err(ApiError::invalid_query("label", message));
    }
    let page = Page {
        limit: query.limit,
        offset: query.offset,
    };
    let bounds = page.bounds()?;
    let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Read).await?;
    let rows = store::list(&mut tx, tenant, query.label.as_deref(), bounds).await?;
    tx.commit().await?;
    let items = rows.into_iter().map(|row| person(row, None)).collect();
    Ok(Json(PersonList { items }))
}

/// Adds a person to the library (their photos come next, one request each).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/people", tag = "face library", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = CreatePerson,
    responses((status = 201, description = "Created", body = Person)))]
pub async fn create_person(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<CreatePerson>,
) -> Result<(StatusCode, Json<Person>), ApiError> {
    let (action, target) = ("person.create", tenant_id.to_string());
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
        require_library(&principal, Role::Operator)?;
        let labels = labels(request.labels)?;
        let notes = request.notes.map(|n| n.0).unwrap_or_default();
        let id = Uuid::new_v4();
        let fields = (request.name.as_str(), notes.as_str(), labels.as_slice());
        store::insert(&mut tx, tenant, id, fields).await?;
        let row = found(&mut tx, tenant, id).await?;
        audit::commit(
            tx,
            &principal,
            Some(tenant),
            action,
            &format!("person:{id}"),
        )
        .await?;
        Ok((StatusCode::CREATED, Json(person(row, None))))
    })
    .await
}

/// One person with their photos.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/people/{person_id}", tag = "face library", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("person_id" = Uuid, Path)),
    responses((status = 200, description = "The person", body = Person)))]
pub async fn get_person(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, person_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Person>, ApiError> {
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    require_library(&principal, Role::Viewer)?;
    let row = found(&mut tx, tenant, person_id).await?;
    let photos = store::photos(&mut tx, tenant, person_id).await?;
    tx.commit().await?;
    let mut views = Vec::with_capacity(photos.len());
    for photo in photos {
        views.push(photo_view(&state, photo).await?);
    }
    Ok(Json(person(row, Some(views))))
}

/// Changes a person's name, notes or labels.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/people/{person_id}", tag = "face library", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("person_id" = Uuid, Path)),
    request_body = UpdatePerson,
    responses((status = 200, description = "Updated", body = Person)))]
pub async fn update_person(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, person_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<UpdatePerson>,
) -> Result<Json<Person>, ApiError> {
    let (action, target) = ("person.update", format!("person:{person_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        let mut row = found(&mut tx, tenant, person_id).await?;
        require_library(&principal, Role::Operator)?;
        if let Some(name) = request.name {
            row.name = name.as_str().to_owned();
        }
        if let Some(notes) = request.notes {
            row.notes = notes.0;
        }
        if request.labels.is_some() {
            row.labels = labels(request.labels)?;
        }
        store::update(&mut tx, &row).await?;
        let row = found(&mut tx, tenant, person_id).await?;
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        Ok(Json(person(row, None)))
    })
    .await
}

/// Removes a person and their photos from the library.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/people/{person_id}", tag = "face library", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("person_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_person(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, person_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let (action, target) = ("person.delete", format!("person:{person_id}"));
    let keys = audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        found(&mut tx, tenant, person_id).await?;
        require_library(&principal, Role::Operator)?;
        let keys = store::delete(&mut tx, tenant, person_id).await?;
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        Ok(keys)
    })
    .await?;
    remove_objects(&state, keys).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes photos from the object store once their rows are gone; a failure leaves an object
/// no row names (logged), never a row without its object.
pub(crate) async fn remove_objects(state: &AppState, keys: Vec<String>) {
    for key in keys {
        let removed = match ObjectKey::parse(&key) {
            Ok(parsed) => state
                .objects
                .delete(&parsed)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = removed {
            tracing::warn!(%key, %error, "a deleted photo's object stays in the store");
        }
    }
}

/// The photo's content type, from the request's header: JPEG or PNG.
fn photo_type(headers: &HeaderMap) -> Result<ContentType, ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = given.split(';').next().unwrap_or("");
    ContentType::parse(essence).map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the photo itself as the body, with Content-Type image/jpeg or image/png",
        )
    })
}

/// Reads the body up to `limit` bytes; 413 past it.
async fn photo_bytes(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || format!("a photo may be at most {limit} bytes");
    let bytes = crate::extract::body_up_to(body, limit, too_large).await?;
    if bytes.is_empty() {
        return Err(ApiError::invalid_field("photo", "the body holds no photo"));
    }
    Ok(bytes.to_vec())
}

/// Enrols a photo of the person: the body is the photo (JPEG or PNG, up to
/// `faces.max_photo_bytes`), which must show one usable face.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/people/{person_id}/photos", tag = "face library", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("person_id" = Uuid, Path)),
    request_body(content(
        (Vec<u8> = "image/jpeg"),
        (Vec<u8> = "image/png"),
    ), description = "The photo itself"),
    responses((status = 201, description = "Enrolled", body = FacePhoto)))]
pub async fn add_photo(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, person_id)): ApiPath<(Uuid, Uuid)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FacePhoto>), ApiError> {
    let (action, target) = ("person.photo.add", format!("person:{person_id}"));
    let row = audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
        let existing = found(&mut tx, tenant, person_id).await?;
        tx.commit().await?;
        require_library(&principal, Role::Operator)?;
        if existing.photo_count >= PHOTOS_MAX {
            return Err(ApiError::invalid_field(
                "photo",
                format!("a person has at most {PHOTOS_MAX} photos; delete one first"),
            ));
        }
        let content_type = photo_type(&headers)?;
        let photo = photo_bytes(body, state.config.faces.max_photo_bytes).await?;
        let face = state.faces.enrol(photo.clone()).await?;
        let id = Uuid::new_v4();
        let key = ObjectKey::face_photo(tenant, person_id, id, content_type);
        let size = photo.len() as i64;
        state.objects.put(&key, photo.into(), content_type).await?;
        let new = NewPhoto {
            id,
            person: person_id,
            model: &face.embedding.model,
            embedding: &face.embedding.vector,
            object_key: key.as_str(),
            content_type: content_type.as_str(),
            bytes: size,
            face_box: face.face_box,
            score: f64::from(face.score),
        };
        let stored = async {
            let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
            // The person may have gone while the photo was embedded.
            found(&mut tx, tenant, person_id).await?;
            store::insert_photo(&mut tx, tenant, &new).await?;
            let row = store::photo(&mut tx, tenant, (person_id, id)).await?;
            let row = row.ok_or_else(ApiError::not_found)?;
            let target = format!("person:{person_id}");
            audit::commit(tx, &principal, Some(tenant), action, &target).await?;
            Ok::<_, ApiError>(row)
        }
        .await;
        if stored.is_err() {
            remove_objects(&state, vec![key.as_str().to_owned()]).await;
        }
        stored
    })
    .await?;
    Ok((StatusCode::CREATED, Json(photo_view(&state, row).await?)))
}

/// Removes one photo of the person.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/people/{person_id}/photos/{photo_id}", tag = "face library", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("person_id" = Uuid, Path), ("photo_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_photo(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, person_id, photo_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let (action, target) = ("person.photo.delete", format!("person:{person_id}"));
    let key = audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        let photo = store::photo(&mut tx, tenant, (person_id, photo_id)).await?;
        let photo = photo.ok_or_else(ApiError::not_found)?;
        require_library(&principal, Role::Operator)?;
        store::delete_photo(&mut tx, tenant, (person_id, photo_id)).await?;
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        Ok(photo.object_key)
    })
    .await?;
    remove_objects(&state, vec![key]).await;
    Ok(StatusCode::NO_CONTENT)
}
