//! The box of the outage: the real daemon (`dipper run`) with one simulated camera whose last
//! day is already indexed (`appliance::synthetic::fill`, about `entries` faces), activated on
//! the relay through its own API (`POST /api/v1/uplink/activate`, as `dipper uplink
//! activate` does), and a remote search over that day made to match every face
//! (`max_distance` 1.99: any two unit vectors), so that its matches become search events in
//! the outbox by the real code, one a face.

use std::path::Path;

use appliance::synthetic::{self, Face, Footage};
use isapi::sim::{DeviceConfig, SimConfig, Simulator};
use pipeline::index::EmbeddingIndex;
use protocol::search::{CreateSearch, WireEmbedding};
use serde_json::Value;

use super::site::{Registered, Site};
use crate::BoxError;
use crate::daemon::{Daemon, get};

const DAY_MS: i64 = 86_400_000;
/// A big outbox quota (the outage's search events are never dropped anyway, and no telemetry
/// is thinned while they wait), and reconnection retried at least every second (plus
/// jitter), not every minute: the replay's time is the replay's, not the backoff's.
pub(super) const CONFIG: &str = "[index]\nbackground = false\n[disk]\nmin_free_mib = 64\n\
    [uplink]\noutbox_quota_kib = 4194304\nreconnect_max_ms = 1000\n";

/// The box's daemon and what it searches.
pub(crate) struct OutageBox {
    pub(crate) daemon: Daemon,
    /// The camera it was filled for; the box's own downloads of it never start.
    _sim: Simulator,
    pub(crate) device: String,
    search: CreateSearch,
    pub(super) entries: u64,
}

impl OutageBox {
    /// A filled, activated, connected box (seen online by the relay).
    pub(crate) async fn start(
        site: &Site,
        registered: &Registered,
        entries: u64,
    ) -> Result<OutageBox, BoxError> {
        OutageBox::start_in(site, registered, entries, tempfile::tempdir()?).await
    }

    /// [`OutageBox::start`] on the empty data directory `dir` (a file system of its own, say).
    pub(crate) async fn start_in(
        site: &Site,
        registered: &Registered,
        entries: u64,
        dir: tempfile::TempDir,
    ) -> Result<OutageBox, BoxError> {
        let mut camera = DeviceConfig::camera("admin", "bench-pass");
        camera.serial = "BENCH-OUTAGE-0".to_owned();
        camera.days = 1;
        let sim = Simulator::start(SimConfig::new(vec![camera])).await?;
        let daemon = Daemon::start_in(dir, CONFIG).await?;
        daemon
            .add_camera("gate", &sim.device(0).base_url(), ("admin", "bench-pass"))
            .await?;
        let dir = daemon.stop().await?;
        let (model, dims) = index_model(dir.path())?;
        let tracks = 1.0; // a camera added through the API indexes its main stream only
        let footage = Footage {
            end_ms: jiff::Timestamp::now().as_millisecond(),
            days: 1,
            faces_per_minute: entries as f64 / (tracks * 1440.0),
            model: model.clone(),
            faces: (0..64).map(|_| random_face(dims)).collect(),
            known_share: 1.0,
        };
        let filled = synthetic::fill(dir.path(), &footage).await?;
        let daemon = Daemon::start_in(dir, CONFIG).await?;
        site.activate_box(&daemon, registered).await?;
        let search = CreateSearch {
            search_id: uuid::Uuid::new_v4(),
            embedding: WireEmbedding::new(&model, &footage.faces[0].vector),
            from_ms: footage.end_ms - DAY_MS,
            to_ms: footage.end_ms,
            cameras: Vec::new(),
            max_distance: Some(1.99),
            more_embeddings: Vec::new(),
        };
        Ok(OutageBox {
            daemon,
            _sim: sim,
            device: registered.id.clone(),
            search,
            entries: filled.entries,
        })
    }

    /// Starts the search through the relay (`createSearch`, a two-way RPC); its task id.
    pub(super) async fn create_search(&self, site: &Site) -> Result<String, BoxError> {
        let params = serde_json::to_value(&self.search)?;
        let answer = site
            .call(&self.device, "createSearch", params, 30_000)
            .await?;
        match answer["result"]["task_id"].as_str() {
            Some(task) if answer["state"] == "successful" => Ok(task.to_owned()),
            _ => Err(format!("createSearch was not accepted: {answer}").into()),
        }
    }

    /// `kill -9` and a start on the same data directory, as after a power cut.
    pub(crate) async fn killed_and_restarted(self) -> Result<OutageBox, BoxError> {
        let OutageBox {
            daemon,
            _sim,
            device,
            search,
            entries,
        } = self;
        let dir = daemon.kill().await?;
        let daemon = Daemon::start_in(dir, CONFIG).await?;
        Ok(OutageBox {
            daemon,
            _sim,
            device,
            search,
            entries,
        })
    }

    /// The end of the box's indexed footage (its day), Unix ms.
    pub(crate) fn footage_end_ms(&self) -> i64 {
        self.search.to_ms
    }

    pub(super) fn search_id(&self) -> uuid::Uuid {
        self.search.search_id
    }

    /// `GET /api/v1/uplink/status` of the box.
    pub(crate) async fn uplink_status(&self) -> Result<Value, BoxError> {
        let url = format!("{}/uplink/status", self.daemon.base);
        get(&self.daemon.http(), &url).await
    }
}

/// The embedding model and dimensions of the index in the data directory `dir`.
fn index_model(dir: &Path) -> Result<(String, usize), BoxError> {
    let index = EmbeddingIndex::open(dir.join("index"))?;
    Ok((index.model().to_owned(), index.dims()))
}

/// A random unit vector, the shape of a face embedding.
fn random_face(dims: usize) -> Face {
    let mut vector: Vec<f32> = (0..dims).map(|_| rand::random::<f32>() - 0.5).collect();
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|v| *v /= norm);
    Face {
        vector,
        face_box: [0.4, 0.3, 0.08, 0.12],
    }
}
