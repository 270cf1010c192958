//! The face library: a tenant's people and their enrolled photos (each kept as its face's
//! embedding, with the model that made it, and as the photo's key in the object store).

use uuid::Uuid;

use super::{Columns, TenantRow, execute, fetch_all, fetch_optional};
use crate::db::{DbError, Tx, now_ms};

/// A person as stored; `labels` is a JSON array of strings.
#[derive(Debug, Clone)]
pub struct PersonRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub notes: String,
    pub labels: Vec<String>,
    pub photo_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An enrolled photo as stored.
#[derive(Debug, Clone)]
pub struct PhotoRow {
    pub id: Uuid,
    pub person_id: Uuid,
    pub model: String,
    /// Base64 of the vector's little-endian `f32`s (`protocol::search::WireEmbedding`).
    pub embedding: String,
    pub object_key: String,
    pub content_type: String,
    pub bytes: i64,
    pub face_box: [f32; 4],
    pub score: f64,
    pub created_at: i64,
}

/// What a new photo row holds.
#[derive(Debug)]
pub struct NewPhoto<'a> {
    pub id: Uuid,
    pub person: Uuid,
    pub model: &'a str,
    pub embedding: &'a str,
    pub object_key: &'a str,
    pub content_type: &'a str,
    pub bytes: i64,
    pub face_box: [f32; 4],
    pub score: f64,
}

macro_rules! select_person {
    () => {
        "SELECT p.id, p.tenant_id, p.name, p.notes, p.labels, p.created_at, p.updated_at, \
         (SELECT COUNT(*) FROM face_photos f WHERE f.person_id = p.id) AS photo_count \
         FROM people p WHERE p.tenant_id = $1 "
    };
}

fn read_person(row: Columns<'_>) -> Result<PersonRow, DbError> {
    Ok(PersonRow {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        name: row.text("name")?,
        notes: row.text("notes")?,
        labels: serde_json::from_str(&row.text("labels")?).unwrap_or_default(),
        photo_count: row.number("photo_count")?,
        created_at: row.number("created_at")?,
        updated_at: row.number("updated_at")?,
    })
}

impl TenantRow for PersonRow {
    const BY_ID: &'static str = concat!(select_person!(), "AND p.id = $2");

    fn read(row: Columns<'_>) -> Result<Self, DbError> {
        read_person(row)
    }
}

fn labels_json(labels: &[String]) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "[]".to_owned())
}

pub async fn insert(
    tx: &mut Tx,
    tenant: Uuid,
    id: Uuid,
    (name, notes, labels): (&str, &str, &[String]),
) -> Result<(), DbError> {
    let sql = "INSERT INTO people (id, tenant_id, name, notes, labels, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $6)";
    let params = params![id, tenant, name, notes, labels_json(labels), now_ms()];
    execute(tx, sql, params).await?;
    Ok(())
}

/// Writes a person's name, notes and labels (all three, as the caller merged them).
pub async fn update(tx: &mut Tx, person: &PersonRow) -> Result<(), DbError> {
    let sql = "UPDATE people SET name = $1, notes = $2, labels = $3, updated_at = $4 \
               WHERE tenant_id = $5 AND id = $6";
    let params = params![
        person.name.as_str(),
        person.notes.as_str(),
        labels_json(&person.labels),
        now_ms(),
        person.tenant_id,
        person.id
    ];
    execute(tx, sql, params).await?;
    Ok(())
}

/// A page of the tenant's people by name, those with `label` only when one is given.
pub async fn list(
    tx: &mut Tx,
    tenant: Uuid,
    label: Option<&str>,
    (limit, offset): (i64, i64),
) -> Result<Vec<PersonRow>, DbError> {
    // Labels are a JSON array of strings; `"label"` with its quotes finds one whole label.
    let sql = concat!(
        select_person!(),
        "AND ($2 IS NULL OR p.labels LIKE $2 ESCAPE '\\') ORDER BY p.name, p.id \
         LIMIT $3 OFFSET $4"
    );
    let pattern = label.map(|l| {
        let quoted = serde_json::Value::from(l).to_string();
        let escaped = quoted
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    fetch_all(
        tx,
        sql,
        params![tenant, pattern, limit, offset],
        read_person,
    )
    .await
}

/// Deletes a person and their photos; the object keys of the photos, to remove from the
/// store once the deletion is committed.
pub async fn delete(tx: &mut Tx, tenant: Uuid, person: Uuid) -> Result<Vec<String>, DbError> {
    let keys = photos(tx, tenant, person).await?;
    let sql = "DELETE FROM face_photos WHERE tenant_id = $1 AND person_id = $2";
    execute(tx, sql, params![tenant, person]).await?;
    let sql = "DELETE FROM people WHERE tenant_id = $1 AND id = $2";
    execute(tx, sql, params![tenant, person]).await?;
    Ok(keys.into_iter().map(|p| p.object_key).collect())
}

/// Every photo of the tenant's people, for deleting the tenant's library.
pub async fn all_photo_keys(tx: &mut Tx, tenant: Uuid) -> Result<Vec<String>, DbError> {
    let sql = "SELECT object_key FROM face_photos WHERE tenant_id = $1";
    fetch_all(tx, sql, params![tenant], |row| row.text("object_key")).await
}

/// Deletes the tenant's whole library (its people and photos).
pub async fn delete_all(tx: &mut Tx, tenant: Uuid) -> Result<(), DbError> {
    execute(
        tx,
        "DELETE FROM face_photos WHERE tenant_id = $1",
        params![tenant],
    )
    .await?;
    execute(
        tx,
        "DELETE FROM people WHERE tenant_id = $1",
        params![tenant],
    )
    .await?;
    Ok(())
}

macro_rules! select_photo {
    () => {
        "SELECT id, person_id, model, embedding, object_key, content_type, bytes, face_box, \
         score, created_at FROM face_photos WHERE tenant_id = $1 AND person_id = $2 "
    };
}

fn read_photo(row: Columns<'_>) -> Result<PhotoRow, DbError> {
    let face_box: Vec<f32> = serde_json::from_str(&row.text("face_box")?).unwrap_or_default();
    Ok(PhotoRow {
        id: row.id("id")?,
        person_id: row.id("person_id")?,
        model: row.text("model")?,
        embedding: row.text("embedding")?,
        object_key: row.text("object_key")?,
        content_type: row.text("content_type")?,
        bytes: row.number("bytes")?,
        face_box: <[f32; 4]>::try_from(face_box.as_slice()).unwrap_or_default(),
        score: row.number("score")?,
        created_at: row.number("created_at")?,
    })
}

/// A person's photos, oldest first.
pub async fn photos(tx: &mut Tx, tenant: Uuid, person: Uuid) -> Result<Vec<PhotoRow>, DbError> {
    let sql = concat!(select_photo!(), "ORDER BY created_at, id");
    fetch_all(tx, sql, params![tenant, person], read_photo).await
}

pub async fn photo(
    tx: &mut Tx,
    tenant: Uuid,
    (person, photo): (Uuid, Uuid),
) -> Result<Option<PhotoRow>, DbError> {
    let sql = concat!(select_photo!(), "AND id = $3");
    fetch_optional(tx, sql, params![tenant, person, photo], read_photo).await
}

pub async fn insert_photo(tx: &mut Tx, tenant: Uuid, photo: &NewPhoto<'_>) -> Result<(), DbError> {
    let sql = "INSERT INTO face_photos (id, tenant_id, person_id, model, embedding, object_key, \
               content_type, bytes, face_box, score, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    let face_box = serde_json::to_string(&photo.face_box).unwrap_or_else(|_| "[]".to_owned());
    let params = params![
        photo.id,
        tenant,
        photo.person,
        photo.model,
        photo.embedding,
        photo.object_key,
        photo.content_type,
        photo.bytes,
        face_box,
        photo.score,
        now_ms()
    ];
    execute(tx, sql, params).await?;
    let sql = "UPDATE people SET updated_at = $1 WHERE tenant_id = $2 AND id = $3";
    execute(tx, sql, params![now_ms(), tenant, photo.person]).await?;
    Ok(())
}

pub async fn delete_photo(
    tx: &mut Tx,
    tenant: Uuid,
    (person, photo): (Uuid, Uuid),
) -> Result<(), DbError> {
    let sql = "DELETE FROM face_photos WHERE tenant_id = $1 AND person_id = $2 AND id = $3";
    execute(tx, sql, params![tenant, person, photo]).await?;
    Ok(())
}
