//! The box at a glance, for the local page's landing view (`GET /api/v1/status` and its
//! live stream): cameras online or not with their indexing lag, the disk and retention, the
//! download queue, the uplink, versions, and the last problems logged.

mod cameras;
mod recent;

use serde::Serialize;

pub(crate) use cameras::CameraWatch;
use recent::Problem;
pub(crate) use recent::RecentProblems;

use crate::engine::{DiskStatus, Engine, EngineError};
use crate::uplink::{Uplink, UplinkStatus};

/// Problems shown on the status view.
const PROBLEMS_SHOWN: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatusView {
    pub(crate) version: &'static str,
    pub(crate) uptime_seconds: u64,
    /// The box's IANA time zone (the page shows times in it).
    pub(crate) time_zone: String,
    pub(crate) now_ms: i64,
    pub(crate) models: Models,
    pub(crate) cameras: Vec<CameraStatus>,
    pub(crate) disk: DiskStatus,
    pub(crate) retention: Retention,
    pub(crate) downloads: Downloads,
    pub(crate) uplink: UplinkStatus,
    pub(crate) tasks_running: usize,
    pub(crate) index_entries: u64,
    /// The last warnings and errors logged, newest first.
    pub(crate) errors: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Models {
    /// The face model the box embeds with (searches must match it).
    pub(crate) face: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CameraStatus {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// Null until the first check (disabled cameras are not checked).
    pub(crate) online: Option<bool>,
    pub(crate) last_error: Option<String>,
    pub(crate) checked_at_ms: Option<i64>,
    /// The largest lag of its tracks' background indexing; null when nothing is indexed.
    pub(crate) lag_seconds: Option<f64>,
    /// Why indexing does not progress, when it does not.
    pub(crate) indexing_problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Retention {
    pub(crate) keep_days: u32,
    pub(crate) quota_mib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Downloads {
    pub(crate) queued: usize,
    pub(crate) active: usize,
}

/// The box's IANA time zone name, or `UTC` when the system does not say.
pub(crate) fn time_zone_name() -> String {
    jiff::tz::TimeZone::system()
        .iana_name()
        .unwrap_or("UTC")
        .to_owned()
}

/// The status now.
pub(crate) async fn status(
    engine: &Engine,
    uplink: &Uplink,
    watch: &CameraWatch,
    retention: Retention,
    started: std::time::Instant,
) -> Result<StatusView, EngineError> {
    let now_ms = crate::access::now_ms();
    let coverage = engine.coverage(None).await?;
    let cameras = engine
        .db()
        .cameras()
        .await?
        .into_iter()
        .map(|camera| {
            let tracks: Vec<_> = coverage
                .iter()
                .filter(|c| c.camera_id == camera.id)
                .collect();
            let lag_seconds = tracks
                .iter()
                .filter(|c| c.recordings_indexed > 0 || c.covered_to_ms > c.covered_from_ms)
                .map(|c| c.lag_seconds(now_ms))
                .reduce(f64::max);
            let indexing_problem = tracks.iter().find_map(|c| c.problem.clone());
            let seen = watch.get(camera.id);
            CameraStatus {
                id: camera.id,
                name: camera.name,
                enabled: camera.enabled,
                online: seen.as_ref().map(|s| s.online),
                last_error: seen.as_ref().and_then(|s| s.error.clone()),
                checked_at_ms: seen.map(|s| s.checked_at_ms),
                lag_seconds,
                indexing_problem,
            }
        })
        .collect();
    let scheduler = engine.downloader().scheduler();
    Ok(StatusView {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: started.elapsed().as_secs(),
        time_zone: time_zone_name(),
        now_ms,
        models: Models {
            face: engine.model().to_string(),
        },
        cameras,
        disk: engine.disk().status(),
        retention,
        downloads: Downloads {
            queued: scheduler.queue_depths().iter().sum(),
            active: scheduler.active().iter().sum(),
        },
        uplink: uplink.status().await?,
        tasks_running: engine.running_tasks(),
        index_entries: engine.index_entries(),
        errors: recent::newest(PROBLEMS_SHOWN),
    })
}

pub(crate) use recent::log_lines;

/// Whether the kernel's clock is synchronised by NTP (any client: timesyncd, chrony, ntpd):
/// `adjtimex` in read-only mode, else timesyncd's flag file; null when neither can tell
/// (systemd's `ProtectClock=` forbids `adjtimex` even for reading).
pub(crate) fn clock_synchronized() -> Option<bool> {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    {
        // SAFETY: a zeroed `timex` with `modes = 0` asks only to read the clock's state;
        // the kernel writes into the struct we own and changes nothing.
        let mut timex: libc::timex = unsafe { std::mem::zeroed() };
        let state = unsafe { libc::adjtimex(&mut timex) };
        if state >= 0 {
            return Some(state != libc::TIME_ERROR && timex.status & libc::STA_UNSYNC == 0);
        }
    }
    if std::path::Path::new("/run/systemd/timesync/synchronized").exists() {
        return Some(true);
    }
    None
}
