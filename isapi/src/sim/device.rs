//! One running simulated device: its configuration, recordings, auth state, counters and
//! the limits and faults currently in force.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use md5::Digest as _;
use tokio::sync::watch;

use super::{
    DeviceConfig, DeviceKind, Faults, Limits,
    auth::DigestAuth,
    body::RecordingChecksum,
    catalog::{Catalog, RecordingId},
};

/// Checksums kept per device before the cache is emptied.
const CHECKSUM_CACHE_SIZE: usize = 4096;

/// A device as the simulator runs it.
#[derive(Debug, Clone)]
pub struct SimDevice {
    /// Its place in [`super::SimConfig::devices`].
    pub index: usize,
    pub addr: SocketAddr,
    /// The configuration it started with (limits and faults may have been switched since).
    pub config: DeviceConfig,
    pub(crate) state: Arc<DeviceState>,
}

impl SimDevice {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// What a device has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Requests to ISAPI paths, answered or not.
    pub requests: u64,
    /// 401s for wrong credentials (not first challenges, not stale nonces).
    pub auth_failures: u64,
    /// Searches answered (not the ones refused as busy).
    pub searches: u64,
    /// Downloads that started sending video.
    pub downloads_started: u64,
    /// Downloads holding a slot now.
    pub downloads_active: u64,
    pub peak_concurrent_downloads: u64,
    /// Video bytes handed to the HTTP server.
    pub bytes_sent: u64,
    /// `deviceBusy` answers (downloads and searches over their limits).
    pub busy_answers: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) auth_failures: AtomicU64,
    pub(crate) searches: AtomicU64,
    pub(crate) downloads_started: AtomicU64,
    pub(crate) downloads_active: AtomicU64,
    pub(crate) peak_concurrent_downloads: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) busy_answers: AtomicU64,
    pub(crate) searches_active: AtomicU64,
}

/// Everything a device's request handlers share.
#[derive(Debug)]
pub(crate) struct DeviceState {
    pub(crate) index: usize,
    pub(crate) config: DeviceConfig,
    pub(crate) catalog: Catalog,
    pub(crate) auth: DigestAuth,
    pub(crate) device_id: String,
    pub(crate) mac_address: String,
    pub(crate) counters: Counters,
    faults: RwLock<Faults>,
    limits: RwLock<Limits>,
    checksums: Mutex<HashMap<RecordingId, RecordingChecksum>>,
    shutdown: watch::Receiver<bool>,
    /// When the device started (its `deviceUpTime`).
    pub(crate) started: std::time::Instant,
}

impl DeviceState {
    pub(crate) fn new(
        index: usize,
        config: DeviceConfig,
        catalog: Catalog,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let digest = md5::Md5::digest(config.serial.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest);
        let device_id = uuid::Uuid::from_bytes(id).hyphenated().to_string();
        let mac_address = format!("44:19:b6:{:02x}:{:02x}:{:02x}", id[0], id[1], id[2]);
        let realm = match config.kind {
            DeviceKind::Camera => format!("IP Camera({})", config.serial),
            DeviceKind::Nvr => format!("NVR({})", config.serial),
        };
        DeviceState {
            index,
            auth: DigestAuth::new(realm, config.user.clone(), config.password.clone()),
            faults: RwLock::new(config.faults.clone()),
            limits: RwLock::new(config.limits.clone()),
            config,
            catalog,
            device_id,
            mac_address,
            counters: Counters::default(),
            checksums: Mutex::new(HashMap::new()),
            shutdown,
            started: std::time::Instant::now(),
        }
    }

    pub(crate) fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = faults;
    }

    pub(crate) fn set_limits(&self, limits: Limits) {
        *self.limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    pub(crate) fn stats(&self) -> DeviceStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DeviceStats {
            requests: get(&c.requests),
            auth_failures: get(&c.auth_failures),
            searches: get(&c.searches),
            downloads_started: get(&c.downloads_started),
            downloads_active: get(&c.downloads_active),
            peak_concurrent_downloads: get(&c.peak_concurrent_downloads),
            bytes_sent: get(&c.bytes_sent),
            busy_answers: get(&c.busy_answers),
        }
    }

    /// Resolves when the simulator shuts down.
    pub(crate) async fn shutting_down(&self) {
        let mut rx = self.shutdown.clone();
        // A dropped sender means the simulator is gone: shut down too.
        let _ = rx.wait_for(|&down| down).await;
    }

    /// Waits out a `slow_first_byte` fault's `delay`, when there is one; false when the
    /// simulator shut down meanwhile.
    pub(crate) async fn delay_first_byte(&self, delay: Option<Duration>) -> bool {
        let Some(delay) = delay else {
            return true;
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = self.shutting_down() => false,
        }
    }

    /// The checksum of a recording's whole body, computed once (reading the body through).
    pub(crate) fn checksum(&self, playback_uri: &str) -> Option<RecordingChecksum> {
        let id = self.catalog.find(playback_uri)?;
        let cached = self
            .checksums
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied();
        if let Some(sum) = cached {
            return Some(sum);
        }
        let sum = self.catalog.body(id)?.checksum();
        let mut cache = self
            .checksums
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CHECKSUM_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(id, sum);
        Some(sum)
    }

    /// Takes a download slot, or `None` when `max` are taken.
    pub(crate) fn try_download_slot(self: &Arc<Self>, max: Option<u32>) -> Option<Slot> {
        let slot = Slot::take(Arc::clone(self), SlotKind::Download, max.map(u64::from))?;
        self.counters
            .peak_concurrent_downloads
            .fetch_max(slot.taken_with, Ordering::Relaxed);
        Some(slot)
    }

    /// Takes a search slot, or `None` when `max` are taken.
    pub(crate) fn try_search_slot(self: &Arc<Self>, max: u32) -> Option<Slot> {
        Slot::take(Arc::clone(self), SlotKind::Search, Some(u64::from(max)))
    }
}

#[derive(Debug, Clone, Copy)]
enum SlotKind {
    Download,
    Search,
}

/// A download or search in progress; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    device: Arc<DeviceState>,
    kind: SlotKind,
    /// How many were active with this one.
    taken_with: u64,
}

impl Slot {
    fn counter(device: &DeviceState, kind: SlotKind) -> &AtomicU64 {
        match kind {
            SlotKind::Download => &device.counters.downloads_active,
            SlotKind::Search => &device.counters.searches_active,
        }
    }

    fn take(device: Arc<DeviceState>, kind: SlotKind, max: Option<u64>) -> Option<Slot> {
        let counter = Self::counter(&device, kind);
        let mut before = counter.load(Ordering::Acquire);
        loop {
            if max.is_some_and(|max| before >= max) {
                device.counters.busy_answers.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match counter.compare_exchange_weak(
                before,
                before + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => before = now,
            }
        }
        Some(Slot {
            device,
            kind,
            taken_with: before + 1,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        Self::counter(&self.device, self.kind).fetch_sub(1, Ordering::AcqRel);
    }
}
