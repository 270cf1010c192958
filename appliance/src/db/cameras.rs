//! Camera rows: add, list, look up, change the password, delete.
//!
//! A password is sealed by `Secrets` before it leaves the caller's task and is opened only
//! by [`Database::camera_credentials`]; [`Camera`], the shape every other query returns and
//! the API serialises, has no password field. Names are unique: adding a second camera of
//! the same name is `DbErrorKind::Conflict`, naming it.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::Database;
use super::error::{DbError, DbErrorKind, SqlResultExt};

/// A camera or NVR the box searches, as stored (without its password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Camera {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) base_url: String,
    pub(crate) username: String,
    /// ISAPI track ids to search, e.g. 101 for channel 1's main stream.
    pub(crate) tracks: Vec<u32>,
    pub(crate) enabled: bool,
    /// When it was added, in milliseconds since the Unix epoch.
    pub(crate) created_at_ms: i64,
}

/// A change to a stored camera: each field given replaces the stored one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CameraChange {
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Whether it is searched.
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
    #[serde(default)]
    pub(crate) tracks: Option<Vec<u32>>,
}

/// A camera to add. `Debug` does not show the password.
#[derive(Clone)]
pub(crate) struct NewCamera {
    pub(crate) name: String,
    pub(crate) base_url: String,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) tracks: Vec<u32>,
}

impl std::fmt::Debug for NewCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCamera")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("tracks", &self.tracks)
            .finish()
    }
}

const CAMERA_COLUMNS: &str = "id, name, base_url, username, tracks, enabled, created_at_ms";

impl Database {
    /// Adds a camera, enabled; its password is stored encrypted.
    pub(crate) async fn add_camera(&self, camera: NewCamera) -> Result<Camera, DbError> {
        let sealed = self.secrets().encrypt(&camera.password);
        let tracks = tracks_to_json(&camera.tracks);
        let created_at_ms = now_ms();
        self.write(move |tx| {
            let context = format!("add camera {:?}", camera.name);
            let inserted = tx.execute(
                "INSERT INTO cameras (name, base_url, username, password, tracks, enabled, \
                 created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
                params![
                    camera.name,
                    camera.base_url,
                    camera.username,
                    sealed,
                    tracks,
                    created_at_ms
                ],
            );
            match inserted.purpose(&context) {
                Err(e) if *e.kind() == DbErrorKind::Conflict => {
                    return Err(DbError::new(
                        DbErrorKind::Conflict,
                        format!("{context}: a camera named {:?}", camera.name),
                    ));
                }
                other => other?,
            };
            Ok(Camera {
                id: tx.last_insert_rowid(),
                name: camera.name,
                base_url: camera.base_url,
                username: camera.username,
                tracks: camera.tracks,
                enabled: true,
                created_at_ms,
            })
        })
        .await
    }

    /// Every camera, by id.
    pub(crate) async fn cameras(&self) -> Result<Vec<Camera>, DbError> {
        self.read(|conn| {
            let context = "list cameras";
            let mut statement = conn
                .prepare_cached(&format!("SELECT {CAMERA_COLUMNS} FROM cameras ORDER BY id"))
                .purpose(context)?;
            let rows = statement
                .query_map([], camera_from_row)
                .purpose(context)?
                .collect::<Result<Vec<_>, _>>()
                .purpose(context)?;
            rows.into_iter().collect()
        })
        .await
    }

    /// The camera with `id`, if there is one.
    pub(crate) async fn camera(&self, id: i64) -> Result<Option<Camera>, DbError> {
        self.read(move |conn| {
            let context = format!("look up camera {id}");
            conn.query_row(
                &format!("SELECT {CAMERA_COLUMNS} FROM cameras WHERE id = ?1"),
                [id],
                camera_from_row,
            )
            .optional()
            .purpose(&context)?
            .transpose()
        })
        .await
    }

    /// The user name and decrypted password of camera `id`, if there is one.
    pub(crate) async fn camera_credentials(
        &self,
        id: i64,
    ) -> Result<Option<(String, String)>, DbError> {
        let sealed: Option<(String, Vec<u8>)> = self
            .read(move |conn| {
                conn.query_row(
                    "SELECT username, password FROM cameras WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .purpose(&format!("read the credentials of camera {id}"))
            })
            .await?;
        let Some((username, sealed)) = sealed else {
            return Ok(None);
        };
        let password = self.secrets().decrypt(&sealed).map_err(|e| {
            let context = format!("read the password of camera {id}");
            DbError::new(e.kind().clone(), context)
                .with_source(e)
                .at(self.path())
        })?;
        Ok(Some((username, password)))
    }

    /// Replaces the password of camera `id`; `NotFound` if there is no such camera.
    pub(crate) async fn set_camera_password(&self, id: i64, password: &str) -> Result<(), DbError> {
        let sealed = self.secrets().encrypt(password);
        self.write(move |tx| {
            let context = format!("set the password of camera {id}");
            let changed = tx
                .execute(
                    "UPDATE cameras SET password = ?1 WHERE id = ?2",
                    params![sealed, id],
                )
                .purpose(&context)?;
            some_camera_changed(changed, context)
        })
        .await
    }

    /// Changes camera `id`'s name, whether it is searched, and its tracks (each when
    /// given); `NotFound` if there is no such camera.
    pub(crate) async fn update_camera(&self, id: i64, change: CameraChange) -> Result<(), DbError> {
        let CameraChange {
            name,
            enabled,
            tracks,
        } = change;
        let tracks = tracks.map(|t| serde_json::to_string(&t).unwrap_or_else(|_| "[]".into()));
        self.write(move |tx| {
            let context = format!("change camera {id}");
            let changed = tx
                .execute(
                    "UPDATE cameras SET name = coalesce(?2, name), enabled = coalesce(?3, enabled),
                         tracks = coalesce(?4, tracks) WHERE id = ?1",
                    params![id, name, enabled, tracks],
                )
                .purpose(&context)?;
            some_camera_changed(changed, context)
        })
        .await
    }

    /// Deletes camera `id`; whether there was one.
    pub(crate) async fn delete_camera(&self, id: i64) -> Result<bool, DbError> {
        self.write(move |tx| {
            let deleted = tx
                .execute("DELETE FROM cameras WHERE id = ?1", [id])
                .purpose(&format!("delete camera {id}"))?;
            Ok(deleted > 0)
        })
        .await
    }
}

/// Reads a camera row; a `tracks` value that is not a JSON array of track ids is
/// `Corrupt` (the inner result), not a SQLite error.
fn camera_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Camera, DbError>> {
    let id: i64 = row.get(0)?;
    let tracks: String = row.get(4)?;
    let tracks = match serde_json::from_str::<Vec<u32>>(&tracks) {
        Ok(tracks) => tracks,
        Err(e) => {
            let context = format!("read the tracks of camera {id}: {tracks:?}");
            return Ok(Err(
                DbError::new(DbErrorKind::Corrupt, context).with_source(e)
            ));
        }
    };
    Ok(Ok(Camera {
        id,
        name: row.get(1)?,
        base_url: row.get(2)?,
        username: row.get(3)?,
        tracks,
        enabled: row.get(5)?,
        created_at_ms: row.get(6)?,
    }))
}

fn tracks_to_json(tracks: &[u32]) -> String {
    let items: Vec<String> = tracks.iter().map(u32::to_string).collect();
    format!("[{}]", items.join(","))
}

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// `NotFound`, as `context`, when a statement changed no camera.
fn some_camera_changed(changed: usize, context: String) -> Result<(), DbError> {
    if changed == 0 {
        return Err(DbError::new(DbErrorKind::NotFound, context));
    }
    Ok(())
}
