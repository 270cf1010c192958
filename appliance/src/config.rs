//! The daemon's settings: `box.toml`, then environment overrides.
//!
//! Every key is optional and its default is written on its field. Unknown keys are refused,
//! and a bad value fails at start with the key and the reason. Environment variables
//! override the file: `DIPPER_DATA_DIR`, `DIPPER_LISTEN`, `DIPPER_MODELS_DIR`,
//! `DIPPER_WORKERS`, `DIPPER_LOG_FORMAT` (the same keys as below, flattened).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use pipeline::motion::GateConfig;
use serde::{Deserialize, Serialize};

pub(crate) use crate::uplink::UplinkConfig;

/// `box.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BoxConfig {
    /// Where the database, key file, embedding index, snapshots and download cache live.
    /// Default: `/var/lib/dipper`.
    pub(crate) data_dir: PathBuf,
    /// Where the local page and API listen. Default: `0.0.0.0:7380`, so an installer's laptop
    /// or phone on the box's LAN reaches the page; every route but the first boot's step
    /// and the health probe needs the administrator's session or the local token.
    pub(crate) listen: SocketAddr,
    /// Where the face models are found; default: the usual search path
    /// (`$DIPPER_MODELS_DIR`, the workspace's `.cache/models`, `/usr/share/dipper/models`).
    pub(crate) models_dir: Option<PathBuf>,
    /// Logs as text or one JSON object a line. Default: `text` (`--log-format` wins).
    pub(crate) log_format: LogFormat,
    pub(crate) search: SearchConfig,
    pub(crate) index: IndexConfig,
    pub(crate) motion: MotionConfig,
    pub(crate) downloads: DownloadsConfig,
    pub(crate) disk: DiskConfig,
    pub(crate) shutdown: ShutdownConfig,
    pub(crate) uplink: UplinkConfig,
    /// Software updates: where the package is installed and how the box restarts.
    pub(crate) update: crate::update::UpdateConfig,
    /// The file's own table, as read (before defaults and the environment), so keys set
    /// remotely (`setConfig`) are merged over it and checked the same way.
    #[serde(skip)]
    pub(crate) source: toml::Table,
}

impl Default for BoxConfig {
    fn default() -> Self {
        BoxConfig {
            data_dir: PathBuf::from("/var/lib/dipper"),
            listen: SocketAddr::from(([0, 0, 0, 0], 7380)),
            models_dir: None,
            log_format: LogFormat::Text,
            search: SearchConfig::default(),
            index: IndexConfig::default(),
            motion: MotionConfig::default(),
            downloads: DownloadsConfig::default(),
            disk: DiskConfig::default(),
            shutdown: ShutdownConfig::default(),
            uplink: UplinkConfig::default(),
            update: crate::update::UpdateConfig::default(),
            source: toml::Table::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// How searches run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SearchConfig {
    /// Threads detecting and embedding faces (the CPU-heavy stage), and recordings decoded at
    /// once. Default: 0 = one per core.
    pub(crate) workers: usize,
    /// Size keyframes are decoded to before detection. Faces need about 20 px between the
    /// eyes; at 640x360 a face across a room has less. Default 1280x720.
    pub(crate) frame_width: u32,
    pub(crate) frame_height: u32,
    /// Recordings one task works on at once (download, decode and faces overlap). Default 4.
    pub(crate) recordings_per_task: usize,
    /// Tasks running at once; more wait in the queue by priority. Default 4.
    pub(crate) tasks_at_once: usize,
    /// Recordings asked of a camera per search page (the camera may cap it). Default 64.
    pub(crate) page_size: u32,
    /// Recordings of footage background indexing has covered that a task searches together,
    /// with one index query and one transaction. Default 4096 (almost three days of a
    /// camera's one-minute recordings).
    pub(crate) indexed_batch: u32,
    /// Default match threshold, as a distance between normalised embeddings (lower is
    /// stricter). Default: the face stages' `MATCH_DISTANCE` (0.37).
    pub(crate) match_distance: f32,
    /// Width of the frame snapshot stored beside each face. Default 640.
    pub(crate) snapshot_width: u32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            workers: 0,
            frame_width: 1280,
            frame_height: 720,
            recordings_per_task: 4,
            tasks_at_once: 4,
            page_size: 64,
            indexed_batch: 4096,
            match_distance: pipeline::faces::MATCH_DISTANCE,
            snapshot_width: 640,
        }
    }
}

impl SearchConfig {
    /// `workers`, with 0 resolved to the number of cores.
    pub(crate) fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(2, usize::from)
        }
    }
}

/// Background indexing: every enabled camera track indexed from its newest recordings
/// backwards, then forwards as new recordings close, whenever searches leave capacity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct IndexConfig {
    /// Whether the box indexes in the background. Default true.
    pub(crate) background: bool,
    /// How far back footage is indexed, in days; older recordings are retired (their index
    /// entries dropped, their snapshots removed). Default 30.
    pub(crate) keep_days: u32,
    /// The most the embedding index and the snapshots may take, in MiB; past it the oldest
    /// recordings are retired first. Default 0: no quota (keep_days alone).
    pub(crate) quota_mib: u64,
    /// Footage searched on a camera at once going backwards, in minutes. Default 60.
    pub(crate) window_minutes: u32,
    /// How often each camera is asked for recordings closed since, in seconds. Default 60.
    pub(crate) poll_seconds: u64,
    /// Recordings indexed at once in the background, all cameras together; searches go
    /// first. Default 0 = one per face worker.
    pub(crate) recordings_at_once: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            background: true,
            keep_days: 30,
            quota_mib: 0,
            window_minutes: 60,
            poll_seconds: 60,
            recordings_at_once: 0,
        }
    }
}

/// The motion gates (`[motion]`, `[motion.gates]`): which keyframes are decoded at all,
/// and which parts of a decoded keyframe go to the face detector (see
/// `docs/design/0025-motion-gates.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MotionConfig {
    /// Whether keyframes are gated. Default true; false decodes every keyframe and sends it
    /// whole to the detector.
    pub(crate) enabled: bool,
    /// The gates' thresholds; every default is on `pipeline::motion::GateConfig`.
    pub(crate) gates: GateConfig,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            enabled: true,
            gates: GateConfig::default(),
        }
    }
}

/// The downloader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DownloadsConfig {
    /// Bytes of downloaded video held in memory at once, all downloads together. Default 64 MiB.
    pub(crate) memory_budget_mib: usize,
    /// Downloads at once from one camera. Default 4.
    pub(crate) per_camera: usize,
    /// Disk cache of whole recordings, in MiB; 0 turns it off. Default 0 (the embedding
    /// index already spares a second search the download).
    pub(crate) cache_mib: u64,
}

impl Default for DownloadsConfig {
    fn default() -> Self {
        DownloadsConfig {
            memory_budget_mib: 64,
            per_camera: 4,
            cache_mib: 0,
        }
    }
}

/// Free-space rules for `data_dir`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DiskConfig {
    /// Below this many free MiB no new download starts, and the health says `disk_full`.
    /// Default 256.
    pub(crate) min_free_mib: u64,
    /// How often free space is checked, in milliseconds. Default 1000.
    pub(crate) check_interval_ms: u64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            min_free_mib: 256,
            check_interval_ms: 1000,
        }
    }
}

/// Stopping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ShutdownConfig {
    /// How long running work may take to stop after SIGTERM before the daemon exits
    /// anyway (unfinished recordings resume at the next start). Default 10 s.
    pub(crate) drain_seconds: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { drain_seconds: 10 }
    }
}

impl ShutdownConfig {
    pub(crate) fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }
}

/// A config that could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?}: {reason}")]
    Env {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("{key}: {reason}")]
    Override { key: String, reason: String },
}

/// Sets `a.b.c` in `table`, making the tables on the way; a key through a value that is
/// not a table is refused.
fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts
        .pop()
        .filter(|p| !p.is_empty())
        .ok_or("an empty key")?;
    let mut here = table;
    for part in parts {
        let next = here
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = next
            .as_table_mut()
            .ok_or_else(|| format!("{part} is not a table"))?;
    }
    here.insert(last.to_owned(), value);
    Ok(())
}

impl BoxConfig {
    /// Reads `path` (all defaults when `None`), applies the environment, and checks it.
    pub(crate) fn load(path: Option<&Path>) -> Result<BoxConfig, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::parse(&text).map_err(|message| ConfigError::Parse {
                    path: path.to_owned(),
                    message,
                })?
            }
            None => BoxConfig::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML; the message names the key and line.
    pub(crate) fn parse(text: &str) -> Result<BoxConfig, String> {
        let source: toml::Table =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        Self::from_table(source)
    }

    fn from_table(source: toml::Table) -> Result<BoxConfig, String> {
        let mut config: BoxConfig = source
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string().trim_end().to_owned())?;
        config.source = source;
        Ok(config)
    }

    /// This config with `overrides` (dotted keys, JSON values) merged over its file, the
    /// environment applied again and the whole checked: what a remote change would make.
    /// The error names the key at fault.
    pub(crate) fn with_overrides(
        &self,
        overrides: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<BoxConfig, ConfigError> {
        let mut table = self.source.clone();
        for (key, value) in overrides {
            let invalid = |reason: String| ConfigError::Override {
                key: key.clone(),
                reason,
            };
            let value = toml::Value::try_from(value).map_err(|e| invalid(e.to_string()))?;
            set_dotted(&mut table, key, value).map_err(invalid)?;
        }
        let mut config = Self::from_table(table).map_err(|reason| ConfigError::Override {
            key: overrides.keys().cloned().collect::<Vec<_>>().join(", "),
            reason,
        })?;
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn apply_env(
        &mut self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        fn parsed<T: std::str::FromStr>(name: &'static str, value: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| ConfigError::Env {
                name,
                reason: e.to_string(),
                value,
            })
        }
        if let Some(v) = var("DIPPER_DATA_DIR").filter(|v| !v.is_empty()) {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("DIPPER_LISTEN").filter(|v| !v.is_empty()) {
            self.listen = parsed("DIPPER_LISTEN", v)?;
        }
        if let Some(v) = var("DIPPER_MODELS_DIR").filter(|v| !v.is_empty()) {
            self.models_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var("DIPPER_WORKERS").filter(|v| !v.is_empty()) {
            self.search.workers = parsed("DIPPER_WORKERS", v)?;
        }
        if let Some(v) = var("DIPPER_LOG_FORMAT").filter(|v| !v.is_empty()) {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Env {
                        name: "DIPPER_LOG_FORMAT",
                        value: v,
                        reason: "expected text or json".to_owned(),
                    });
                }
            };
        }
        Ok(())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        let s = &self.search;
        if !(64..=8192).contains(&s.frame_width) || !(64..=8192).contains(&s.frame_height) {
            return invalid(
                "search.frame_width/frame_height",
                "must be 64..=8192 pixels",
            );
        }
        if s.recordings_per_task == 0 {
            return invalid("search.recordings_per_task", "must be at least 1");
        }
        if s.tasks_at_once == 0 {
            return invalid("search.tasks_at_once", "must be at least 1");
        }
        if s.page_size == 0 {
            return invalid("search.page_size", "must be at least 1");
        }
        if s.indexed_batch == 0 {
            return invalid("search.indexed_batch", "must be at least 1");
        }
        if !(s.match_distance > 0.0 && s.match_distance < 2.0) {
            return invalid("search.match_distance", "must be between 0 and 2");
        }
        if !(64..=4096).contains(&s.snapshot_width) {
            return invalid("search.snapshot_width", "must be 64..=4096 pixels");
        }
        let index = &self.index;
        if !(1..=3650).contains(&index.keep_days) {
            return invalid("index.keep_days", "must be 1..=3650");
        }
        if !(1..=1440).contains(&index.window_minutes) {
            return invalid("index.window_minutes", "must be 1..=1440");
        }
        if index.poll_seconds == 0 {
            return invalid("index.poll_seconds", "must be at least 1");
        }
        if let Err((key, reason)) = self.motion.gates.validate() {
            return invalid("motion.gates", &format!("{key} {reason}"));
        }
        if self.downloads.memory_budget_mib == 0 {
            return invalid("downloads.memory_budget_mib", "must be at least 1");
        }
        if self.downloads.per_camera == 0 {
            return invalid("downloads.per_camera", "must be at least 1");
        }
        if self.disk.check_interval_ms == 0 {
            return invalid("disk.check_interval_ms", "must be at least 1");
        }
        if let Err((key, reason)) = self.uplink.validate() {
            return invalid(key, &reason);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let config = BoxConfig::parse("").expect("parses");
        assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 7380)));
        assert_eq!(config.search.frame_width, 1280);
        assert_eq!(config.disk.min_free_mib, 256);
        assert!(config.index.background);
        assert_eq!(config.index.keep_days, 30);
        config.validate().expect("defaults are valid");
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let err = BoxConfig::parse("[search]\nworkerz = 3\n").expect_err("unknown key");
        assert!(err.contains("workerz"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = BoxConfig::parse("listen = 12\n").expect_err("wrong type");
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut config =
            BoxConfig::parse("data_dir = \"/a\"\nlisten = \"127.0.0.1:1\"\n").expect("parses");
        config
            .apply_env(|name| match name {
                "DIPPER_DATA_DIR" => Some("/b".to_owned()),
                "DIPPER_WORKERS" => Some("3".to_owned()),
                _ => None,
            })
            .expect("applies");
        assert_eq!(config.data_dir, PathBuf::from("/b"));
        assert_eq!(config.search.workers, 3);
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 1)));
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let mut config = BoxConfig::default();
        let err = config
            .apply_env(|name| (name == "DIPPER_LISTEN").then(|| "nowhere".to_owned()))
            .expect_err("bad address");
        assert!(err.to_string().contains("DIPPER_LISTEN"), "{err}");
    }

    #[test]
    fn overrides_merge_over_the_file_and_are_checked() {
        let config = BoxConfig::parse("[search]\ntasks_at_once = 2\n").expect("parses");
        let values = [(
            "uplink.telemetry_interval_ms".to_owned(),
            serde_json::json!(5000),
        )];
        let changed = config
            .with_overrides(&values.into_iter().collect())
            .expect("valid");
        assert_eq!(changed.uplink.telemetry_interval_ms, 5000);
        assert_eq!(changed.search.tasks_at_once, 2, "the file's keys stay");
        let bad = [("search.tasks_at_once".to_owned(), serde_json::json!(0))];
        let err = config
            .with_overrides(&bad.into_iter().collect())
            .expect_err("invalid");
        assert!(err.to_string().contains("tasks_at_once"), "{err}");
        let unknown = [("search.nonsense".to_owned(), serde_json::json!(1))];
        let err = config
            .with_overrides(&unknown.into_iter().collect())
            .expect_err("unknown");
        assert!(err.to_string().contains("nonsense"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let config = BoxConfig::parse("[search]\nrecordings_per_task = 0\n").expect("parses");
        let err = config.validate().expect_err("invalid");
        assert!(err.to_string().contains("recordings_per_task"), "{err}");
    }
}
