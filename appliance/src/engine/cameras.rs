//! Cameras as the engine sees them ([`Cameras`]): adding one checks it answers (and learns
//! its recording tracks), each camera's ISAPI device is made once from its stored
//! credentials (and forgotten when they change), and a task's camera list is resolved
//! against the stored cameras.

use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;
use pipeline::downloader::Downloader;
use rusqlite::Connection;
use serde::Serialize;

use crate::{
    db::{Camera, CameraChange, Database, DbError, NewCamera},
    engine::error::{EngineError, error_chain},
};

/// The stored cameras and their devices; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Cameras {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    client: isapi::Client,
    /// Told each device's download limit when the device is made.
    downloader: Downloader,
    /// Downloads at once from one camera.
    per_camera: usize,
    /// Devices by camera id, made from the stored credentials on first use.
    devices: Mutex<HashMap<i64, isapi::Device>>,
    /// Passwords devices rejected, not sent again (see [`super::probe`]).
    rejections: super::probe::Rejections,
}

/// How long adding or checking a camera waits for it.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// What `POST /cameras` takes.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCameraRequest {
    pub(crate) name: String,
    /// `http://host:port` of the camera or NVR.
    pub(crate) url: String,
    pub(crate) username: String,
    pub(crate) password: String,
    /// Recording tracks to search; default: every enabled main-stream track the device
    /// lists.
    #[serde(default)]
    pub(crate) tracks: Option<Vec<u32>>,
}

impl std::fmt::Debug for NewCameraRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCameraRequest")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What checking a camera found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CameraCheck {
    pub(crate) reachable: bool,
    pub(crate) model: Option<String>,
    pub(crate) serial: Option<String>,
    pub(crate) firmware: Option<String>,
    pub(crate) tracks: Vec<u32>,
    pub(crate) error: Option<String>,
}

/// The main-stream recording tracks of a discovered device (101, 201, ...).
pub(super) fn main_tracks(discovery: &isapi::Discovery) -> Vec<u32> {
    let mut tracks: Vec<u32> = discovery
        .tracks
        .iter()
        .filter(|t| t.enable != Some(false) && t.id % 100 == 1)
        .map(|t| t.id)
        .collect();
    tracks.sort_unstable();
    tracks.dedup();
    tracks
}

impl Cameras {
    pub(crate) fn new(
        db: Database,
        client: isapi::Client,
        downloader: Downloader,
        per_camera: usize,
    ) -> Cameras {
        Cameras {
            inner: Arc::new(Inner {
                db,
                client,
                downloader,
                per_camera,
                devices: Mutex::new(HashMap::new()),
                rejections: super::probe::Rejections::default(),
            }),
        }
    }

    /// The device of a camera, made once from its stored credentials.
    pub(crate) async fn device(&self, camera: i64) -> Result<isapi::Device, EngineError> {
        if let Some(device) = self.inner.devices.lock().get(&camera) {
            return Ok(device.clone());
        }
        let (row, user, password) = self.camera_with_credentials(camera).await?;
        let device = self
            .inner
            .client
            .device(&row.base_url, &user, &password)
            .map_err(|e| EngineError::Camera(format!("{}: {e}", row.name)))?;
        self.inner
            .downloader
            .set_device_limit(camera as u64, self.inner.per_camera);
        self.inner.devices.lock().insert(camera, device.clone());
        Ok(device)
    }

    /// Forgets a camera's device (its credentials or address changed, or it was removed).
    pub(crate) fn forget_device(&self, camera: i64) {
        self.inner.devices.lock().remove(&camera);
    }

    /// Checks the camera answers with these credentials, then stores it.
    pub(crate) async fn add_camera(
        &self,
        request: NewCameraRequest,
    ) -> Result<Camera, EngineError> {
        let name = request.name.trim().to_owned();
        if name.is_empty() || name.len() > 100 {
            return Err(EngineError::invalid("name", "must be 1 to 100 characters"));
        }
        if !(request.url.starts_with("http://") || request.url.starts_with("https://")) {
            return Err(EngineError::invalid(
                "url",
                "must start with http:// or https://",
            ));
        }
        let discovery = self
            .guarded_discover(&request.url, &request.username, &request.password)
            .await
            .map_err(|e| EngineError::Camera(format!("{name}: {e}")))?;
        let tracks = match request.tracks {
            Some(tracks) if tracks.is_empty() => {
                return Err(EngineError::invalid(
                    "tracks",
                    "give at least one track, or leave it out",
                ));
            }
            Some(tracks) => tracks,
            None => main_tracks(&discovery),
        };
        if tracks.is_empty() {
            return Err(EngineError::Camera(format!(
                "{name}: the device lists no recording tracks"
            )));
        }
        let camera = self
            .inner
            .db
            .add_camera(NewCamera {
                name,
                base_url: request.url,
                username: request.username,
                password: request.password,
                tracks,
            })
            .await?;
        Ok(camera)
    }

    /// A stored camera with its user name and decrypted password.
    async fn camera_with_credentials(
        &self,
        id: i64,
    ) -> Result<(Camera, String, String), EngineError> {
        let not_found = || EngineError::not_found("camera", id);
        let camera = self.inner.db.camera(id).await?.ok_or_else(not_found)?;
        let (user, password) = self
            .inner
            .db
            .camera_credentials(id)
            .await?
            .ok_or_else(not_found)?;
        Ok((camera, user, password))
    }

    /// Checks a stored camera answers.
    pub(crate) async fn check_camera(&self, id: i64) -> Result<CameraCheck, EngineError> {
        let (camera, user, password) = self.camera_with_credentials(id).await?;
        Ok(
            match self
                .guarded_discover(&camera.base_url, &user, &password)
                .await
            {
                Ok(d) => CameraCheck {
                    reachable: true,
                    model: Some(d.info.model.clone()),
                    serial: Some(d.info.serial_number.clone()),
                    firmware: d.info.firmware_version.clone(),
                    tracks: main_tracks(&d),
                    error: None,
                },
                Err(e) => CameraCheck {
                    reachable: false,
                    model: None,
                    serial: None,
                    firmware: None,
                    tracks: Vec::new(),
                    error: Some(e),
                },
            },
        )
    }

    /// Checks the camera answers with the new password, then stores it.
    pub(crate) async fn set_camera_password(
        &self,
        id: i64,
        password: &str,
    ) -> Result<(), EngineError> {
        let not_found = || EngineError::not_found("camera", id);
        let camera = self.inner.db.camera(id).await?.ok_or_else(not_found)?;
        self.guarded_discover(&camera.base_url, &camera.username, password)
            .await
            .map_err(|e| EngineError::Camera(format!("{}: {e}", camera.name)))?;
        self.inner.db.set_camera_password(id, password).await?;
        self.forget_device(id);
        Ok(())
    }

    /// Discovers the device behind the guard that keeps it from locking the box out: a password
    /// the device rejected is not sent again, nor any other at its last attempt.
    async fn guarded_discover(
        &self,
        url: &str,
        user: &str,
        password: &str,
    ) -> Result<isapi::Discovery, String> {
        let now = crate::access::now_ms();
        let rejections = &self.inner.rejections;
        if let Some(problem) = rejections.refuse(url, user, password, now) {
            return Err(problem.message);
        }
        let device = self.inner.client.device(url, user, password)?;
        match tokio::time::timeout(CHECK_TIMEOUT, device.discover()).await {
            Ok(Ok(discovery)) => {
                rejections.accepted(url, user);
                Ok(discovery)
            }
            Ok(Err(e)) => {
                let problem = super::probe::classify(&e, now);
                if problem.problem == "wrong_password" {
                    rejections.rejected(url, user, password, problem.attempts_left, now);
                }
                Err(error_chain(&e))
            }
            Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        }
    }

    /// Tries a device before it is stored (see [`super::probe`]).
    pub(crate) async fn probe(
        &self,
        url: &str,
        user: &str,
        password: &str,
    ) -> super::probe::ProbeAnswer {
        super::probe::probe(
            &self.inner.client,
            &self.inner.rejections,
            url,
            user,
            password,
        )
        .await
    }

    /// Renames, enables or disables a camera, or changes its tracks.
    pub(crate) async fn update_camera(
        &self,
        id: i64,
        change: CameraChange,
    ) -> Result<Camera, EngineError> {
        let name = match change.name {
            Some(name) => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.len() > 100 {
                    return Err(EngineError::invalid("name", "must be 1 to 100 characters"));
                }
                Some(name)
            }
            None => None,
        };
        if change.tracks.as_ref().is_some_and(Vec::is_empty) {
            return Err(EngineError::invalid("tracks", "give at least one track"));
        }
        let change = CameraChange { name, ..change };
        self.inner.db.update_camera(id, change).await?;
        self.forget_device(id);
        self.inner
            .db
            .camera(id)
            .await?
            .ok_or_else(|| EngineError::not_found("camera", id))
    }

    pub(crate) async fn delete_camera(&self, id: i64) -> Result<(), EngineError> {
        if !self.inner.db.delete_camera(id).await? {
            return Err(EngineError::not_found("camera", id));
        }
        self.forget_device(id);
        Ok(())
    }
}

/// The cameras a task searches: the ones asked for (each must exist), or every enabled
/// camera when none is named.
pub(crate) fn resolve(
    conn: &Connection,
    wanted: &[i64],
) -> Result<Result<Vec<i64>, EngineError>, DbError> {
    let mut statement = conn.prepare_cached("SELECT id, enabled FROM cameras ORDER BY id")?;
    let known: Vec<(i64, bool)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if wanted.is_empty() {
        let all: Vec<i64> = known.iter().filter(|c| c.1).map(|c| c.0).collect();
        if all.is_empty() {
            return Ok(Err(EngineError::invalid(
                "cameras",
                "the box has no enabled camera; add one first",
            )));
        }
        return Ok(Ok(all));
    }
    let mut ids = wanted.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in &ids {
        if !known.iter().any(|c| c.0 == *id) {
            return Ok(Err(EngineError::invalid(
                "cameras",
                format!("no camera {id}"),
            )));
        }
    }
    Ok(Ok(ids))
}
