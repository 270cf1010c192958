//! A simulator of Hikvision cameras and NVRs speaking ISAPI over HTTP with Digest auth.
//!
//! Each simulated device listens on its own port and answers as a device does: discovery
//! (`deviceInfo`, `time`, streaming channels, NVR input channels, record tracks, the search
//! profile), recording search and streamed download, all behind Digest auth with the
//! failed-login lockout (`sim/auth.rs`). Errors are `ResponseStatus` XML with the codes
//! devices use. Ordinary clients (`curl --digest`, ffprobe on a downloaded body) work
//! unchanged.
//!
//! Recordings are virtual: a year of hour-long recordings costs no disk. Each is made on
//! the fly from one real clip made by `scripts/make-clips` ([`default_clips_dir`]); the
//! byte layout (padding packet per repetition, continuous timestamps) is described in
//! `sim/body.rs`. [`Simulator::checksum`] (and `GET /sim/checksum?playbackURI=...` on each
//! device, unauthenticated, for other processes: `{"bytes":N,"crc32":N}`, 404 when
//! unknown) gives the size and CRC-32 of the exact body an undamaged download returns.
//!
//! Limits (download and search concurrency, page size, rate, search shapes, download
//! methods, lockout, nonce lifetime) and faults (slow first byte, stall, truncation,
//! corruption, 503, XML refusal) are set per device and can be switched while running.
//! A recording may be made from a clip of its own ([`DeviceConfig::recording_clips`], e.g.
//! the face clips of `scripts/make-face-clips`), the same way; [`Simulator::recording_span`]
//! says when it starts, so a test knows when something in its clip happened.
//!
//! The simulator never touches disk after start and keeps no per-download copies of a
//! recording: downloads share the clip bytes and stream 64 KiB chunks.

mod auth;
mod body;
mod catalog;
mod checksum;
mod clip;
mod config;
mod device;
mod download;
mod error;
mod mpeg_ps;
mod routes;
mod search;

#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use body::RecordingChecksum;
pub use config::{
    Codec, Container, DeviceConfig, DeviceKind, DownloadMethods, FOREIGN_ITEM_EVERY, Faults,
    Limits, ProfileStyle, Quirks, RecordingClip, SearchShape, SimConfig, TimeSpanStyle,
};
pub use device::{DeviceStats, SimDevice};
pub use error::SimError;

use catalog::{Catalog, RecordingId};
use clip::{Clip, VideoCodec};
use device::DeviceState;

/// How long [`Simulator::shutdown`] lets connections finish before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the clips are: `$DIPPER_CLIPS_DIR`, else `<repo>/.cache/clips`.
pub fn default_clips_dir() -> PathBuf {
    match std::env::var_os("DIPPER_CLIPS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/clips")),
    }
}

/// Running simulated devices. Dropping it (or [`Simulator::shutdown`]) stops them.
#[derive(Debug)]
pub struct Simulator {
    devices: Vec<SimDevice>,
    shutdown: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

impl Simulator {
    /// Starts every device on its own random port of 127.0.0.1.
    pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
        Self::start_at(config, 0).await
    }

    /// Starts device `i` on 127.0.0.1 port `base_port + i` (random ports when 0).
    pub async fn start_at(config: SimConfig, base_port: u16) -> Result<Simulator, SimError> {
        Self::start_on(
            config,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), base_port),
        )
        .await
    }

    /// Starts device `i` on `listen`'s address, port `listen.port() + i` (random when 0).
    /// Playback URIs name this address (127.0.0.1 when it is unspecified).
    pub async fn start_on(config: SimConfig, listen: SocketAddr) -> Result<Simulator, SimError> {
        let clips = load_clips(&config)?;
        let own_clips = load_own_clips(&config)?;
        let clips_dir = config.clips_dir.clone();
        let now = jiff::Timestamp::now();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut devices = Vec::with_capacity(config.devices.len());
        let mut servers = Vec::with_capacity(config.devices.len());
        for (index, device_config) in config.devices.into_iter().enumerate() {
            let (listener, addr) = bind_device(listen, index, &device_config).await?;
            let clip_for =
                |codec: VideoCodec| clips.get(&(codec, device_config.container)).cloned();
            let catalog = Catalog::new(
                &device_config,
                clip_for,
                |path| own_clips.get(&clips_dir.join(path)).cloned(),
                playback_authority(addr),
                now,
            )
            .map_err(|reason| SimError::config(index, &device_config, reason))?;
            let state = Arc::new(DeviceState::new(
                index,
                device_config.clone(),
                catalog,
                shutdown_rx.clone(),
            ));
            servers.push(serve_device(listener, Arc::clone(&state)));
            tracing::debug!(device = index, %addr, serial = %device_config.serial, "simulated device listening");
            devices.push(SimDevice {
                index,
                addr,
                config: device_config,
                state,
            });
        }
        Ok(Simulator {
            devices,
            shutdown,
            servers,
        })
    }

    pub fn devices(&self) -> &[SimDevice] {
        &self.devices
    }

    /// Device `device`. Panics when there is no such device.
    pub fn device(&self, device: usize) -> &SimDevice {
        match self.devices.get(device) {
            Some(d) => d,
            None => panic!(
                "no simulated device {device} (there are {})",
                self.devices.len()
            ),
        }
    }

    /// Switches a device's faults; requests arriving from now on see them.
    pub fn set_faults(&self, device: usize, faults: Faults) {
        self.device(device).state.set_faults(faults);
    }

    /// Switches a device's limits; requests arriving from now on see them.
    pub fn set_limits(&self, device: usize, limits: Limits) {
        self.device(device).state.set_limits(limits);
    }

    pub fn stats(&self, device: usize) -> DeviceStats {
        self.device(device).state.stats()
    }

    /// How many recordings a track has (0 for a track the device does not have).
    pub fn recordings(&self, device: usize, track: u32) -> usize {
        let catalog = &self.device(device).state.catalog;
        match catalog.track(track) {
            Some(_) => usize::try_from(catalog.count()).unwrap_or(usize::MAX),
            None => 0,
        }
    }

    /// The playback URI of a track's `index`th recording (0 is the oldest).
    pub fn playback_uri(&self, device: usize, track: u32, index: usize) -> Option<String> {
        let index = u64::try_from(index).ok()?;
        let catalog = &self.device(device).state.catalog;
        (index < catalog.count())
            .then(|| catalog.playback_uri(RecordingId { track, index }))
            .flatten()
    }

    /// The real start and end of a track's `index`th recording (0 is the oldest): its
    /// wall-clock span through the device's zone. A moment `s` seconds into the recording's
    /// clip (its first repetition) happened at `start + s`. `None` when the device has no
    /// such recording.
    pub fn recording_span(
        &self,
        device: usize,
        track: u32,
        index: usize,
    ) -> Option<(jiff::Timestamp, jiff::Timestamp)> {
        let catalog = &self.device(device).state.catalog;
        catalog.track(track)?;
        catalog.instants(u64::try_from(index).ok()?)
    }

    /// Size and CRC-32 of the body an undamaged download of `playback_uri` returns; `None`
    /// when the device has no such recording. Cheap: the first call for a clip and
    /// recording length reads the clip's repetitions once (about 70 ms per hour), later
    /// calls only combine CRCs (`sim/checksum.rs`).
    pub fn checksum(&self, device: usize, playback_uri: &str) -> Option<RecordingChecksum> {
        self.device(device).state.checksum(playback_uri)
    }

    /// Stops every device: no new connections, streaming downloads end, and connections
    /// still open after a grace period are dropped.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        for server in std::mem::take(&mut self.servers) {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                tracing::warn!("simulated device did not stop in time; dropping its connections");
                abort.abort();
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// Listens for device `index` on `listen`'s address, port `listen.port() + index` (random
/// when 0); returns the listener and the address it got.
async fn bind_device(
    listen: SocketAddr,
    index: usize,
    config: &DeviceConfig,
) -> Result<(TcpListener, SocketAddr), SimError> {
    let port = if listen.port() == 0 {
        0
    } else {
        u16::try_from(index)
            .ok()
            .and_then(|i| listen.port().checked_add(i))
            .ok_or_else(|| {
                SimError::config(
                    index,
                    config,
                    format!("no port {} + {index}", listen.port()),
                )
            })?
    };
    let addr = SocketAddr::new(listen.ip(), port);
    let bind_error = |source| SimError::Bind {
        device: index,
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

/// The `host:port` playback URIs name for a device listening on `addr` (127.0.0.1 when the
/// address is unspecified).
fn playback_authority(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        addr.ip()
    };
    SocketAddr::new(host, addr.port()).to_string()
}

/// Serves one device's routes on `listener` until the simulator shuts down.
fn serve_device(listener: TcpListener, state: Arc<DeviceState>) -> JoinHandle<()> {
    let index = state.index;
    let router = routes::router(Arc::clone(&state));
    tokio::spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { state.shutting_down().await })
        .await;
        if let Err(e) = served {
            tracing::error!(device = index, error = %e, "simulated device stopped serving");
        }
    })
}

/// Loads each clip of [`DeviceConfig::recording_clips`] once, by its path under the clips
/// folder.
fn load_own_clips(config: &SimConfig) -> Result<HashMap<PathBuf, Arc<Clip>>, SimError> {
    let mut clips = HashMap::new();
    for (index, device) in config.devices.iter().enumerate() {
        let config_error = |reason: String| SimError::config(index, device, reason);
        if device.container != Container::Ps && !device.recording_clips.is_empty() {
            return Err(config_error(format!(
                "recording clips need the PS container, not {:?} (first: {})",
                device.container,
                device.recording_clips[0].path.display()
            )));
        }
        for own in &device.recording_clips {
            let path = config.clips_dir.join(&own.path);
            if let std::collections::hash_map::Entry::Vacant(slot) = clips.entry(path) {
                let clip = Clip::load_ps(slot.key()).map_err(|e| {
                    config_error(format!(
                        "recording clip of track {} recording {}: {e}",
                        own.track, own.index
                    ))
                })?;
                slot.insert(Arc::new(clip));
            }
        }
    }
    Ok(clips)
}

/// Loads each clip the devices need once.
fn load_clips(config: &SimConfig) -> Result<HashMap<(VideoCodec, Container), Arc<Clip>>, SimError> {
    let mut clips = HashMap::new();
    for (index, device) in config.devices.iter().enumerate() {
        let codecs: &[VideoCodec] = match device.codec {
            Codec::H264 => &[VideoCodec::H264],
            Codec::H265 => &[VideoCodec::H265],
            Codec::Mixed if device.channels >= 2 => &[VideoCodec::H264, VideoCodec::H265],
            Codec::Mixed => &[VideoCodec::H264],
        };
        for &codec in codecs {
            if Clip::file_name(codec, device.container).is_none() {
                return Err(SimError::config(
                    index,
                    device,
                    format!(
                        "there is no {} clip in {:?}; use the PS container",
                        codec.isapi_name(),
                        device.container
                    ),
                ));
            }
            if let std::collections::hash_map::Entry::Vacant(slot) =
                clips.entry((codec, device.container))
            {
                slot.insert(Arc::new(Clip::load(
                    &config.clips_dir,
                    codec,
                    device.container,
                )?));
            }
        }
    }
    Ok(clips)
}
