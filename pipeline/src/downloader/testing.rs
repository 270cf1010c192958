//! What the downloader's tests share: a camera simulator with one day of one-minute
//! recordings, a device talking to it, and a consumer that checks what arrives.

use std::time::Duration;

use futures::TryStreamExt;
use isapi::{
    Client, ClientConfig, Device, SearchQuery,
    sim::{DeviceConfig, SimConfig, Simulator, default_clips_dir},
};
use tokio::sync::mpsc;

use super::fetch::Event;

pub(super) const PASSWORD: &str = "fetch-pass";
const END: &str = "2026-11-24T16:00:00Z";

/// Simulated cameras with one day of one-minute recordings ending at [`END`].
pub(super) async fn simulator_of(
    cameras: usize,
    configure: impl Fn(&mut DeviceConfig),
) -> Simulator {
    let devices = (0..cameras)
        .map(|_| {
            let mut config = DeviceConfig::camera("admin", PASSWORD);
            config.end = Some(END.parse().expect("timestamp"));
            config.days = 1;
            config.recording_minutes = 1;
            configure(&mut config);
            config
        })
        .collect();
    Simulator::start(SimConfig {
        devices,
        clips_dir: default_clips_dir(),
    })
    .await
    .expect("simulator (run scripts/make-clips)")
}

/// One simulated camera.
pub(super) async fn simulator(configure: impl Fn(&mut DeviceConfig)) -> Simulator {
    simulator_of(1, configure).await
}

/// A client device for simulated device `index`, with short first-byte and stall timeouts.
pub(super) fn device(sim: &Simulator, index: usize, password: &str) -> Device {
    let client = Client::new(ClientConfig {
        stall_timeout: Duration::from_millis(500),
        first_byte_timeout: Duration::from_secs(1),
        ..ClientConfig::default()
    })
    .expect("client");
    client
        .device(&sim.devices()[index].base_url(), "admin", password)
        .expect("device")
}

/// The playback URIs of device `index`'s last `count` recordings, searched with the
/// right password.
pub(super) async fn recordings(sim: &Simulator, index: usize, count: usize) -> Vec<String> {
    let device = device(sim, index, PASSWORD);
    let end: jiff::Timestamp = END.parse().expect("timestamp");
    let search = device.search(SearchQuery {
        track: 101,
        start: end - jiff::SignedDuration::from_mins(i64::try_from(count).expect("count")),
        end,
    });
    let found: Vec<_> = search.try_collect().await.expect("search");
    assert_eq!(found.len(), count, "one recording a minute");
    found.into_iter().map(|r| r.playback_uri).collect()
}

/// Device 0 (talking with `password`) and its first recording.
pub(super) async fn first_recording(sim: &Simulator, password: &str) -> (Device, String) {
    let uri = recordings(sim, 0, 1).await.remove(0);
    (device(sim, 0, password), uri)
}

/// What a consumer saw: the bytes after the last restart, and the events by kind.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) crc: crc32fast::Hasher,
    pub(super) bytes: u64,
    pub(super) starts: u32,
    pub(super) restarts: u32,
    pub(super) done: Option<u64>,
}

impl Seen {
    pub(super) fn see(&mut self, event: Event) {
        match event {
            Event::Started { .. } => self.starts += 1,
            Event::Data(chunk) => {
                assert!(self.done.is_none(), "data after done");
                self.crc.update(&chunk);
                self.bytes += chunk.len() as u64;
            }
            Event::Restart { .. } => {
                self.restarts += 1;
                self.crc = crc32fast::Hasher::new();
                self.bytes = 0;
            }
            Event::Done { bytes } => self.done = Some(bytes),
        }
    }

    /// The bytes and CRC32 of what arrived since the last restart.
    pub(super) fn checksum(&self) -> (u64, u32) {
        (self.bytes, self.crc.clone().finalize())
    }
}

/// Reads every event, calling `on_data` after each chunk.
pub(super) async fn consume(mut events: mpsc::Receiver<Event>, mut on_data: impl FnMut()) -> Seen {
    let mut seen = Seen::default();
    while let Some(event) = events.recv().await {
        let data = matches!(event, Event::Data(_));
        seen.see(event);
        if data {
            on_data();
        }
    }
    seen
}

/// A fresh directory under the system temp dir, named after the test, removed on drop.
pub(super) fn temp_dir(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("dipper-{test}-"))
        .tempdir()
        .expect("create the test's temp dir")
}
