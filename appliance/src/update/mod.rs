//! Software updates of the box (docs/design/0110), in two halves that never share a
//! process:
//! - the daemon's ([`fetch`]): a `softwareUpdate` RPC is checked (the relay's signature with
//!   the key activation stored, a newer version unless forced, one update at a time), then
//!   the package is fetched through its presigned URL into `<data_dir>/updates/`, checked
//!   (its size and SHA-256, and `dpkg-deb`'s name and version against the signed ones) and
//!   staged;
//! - the installer's ([`install`], `dipper update install`, run as root by
//!   `dipper-update.service` when `dipper-update.path` sees a staged update): everything is
//!   checked again against the key it pinned, the running package is kept (`dpkg-repack`),
//!   the new one installed (`dpkg -i`), the box restarted and watched for the update's
//!   `health_timeout_s`; a version that does not report healthy in time is replaced by the
//!   kept one.
//!
//! Each step's state is written to `updates/state.json` ([`state`]) by the half that took it;
//! the daemon reports the file's content in its client attributes whenever it changes,
//! through the outbox, so the relay learns every outcome, also the ones decided while the
//! daemon was being replaced.

mod dpkg;
mod fetch;
mod install;
mod state;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub(crate) use fetch::Updater;
pub(crate) use install::{Outcome, install};
pub(crate) use state::read as read_state;

/// Where a package of the box records its version (`packaging/build` writes it).
const VERSION_FILE: &str = "usr/lib/dipper/version";

/// `[update]` in `box.toml`. Read by the installer from the file only: `setConfig` cannot
/// set these keys (they choose what root runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct UpdateConfig {
    /// The root the box's package is installed under (`dpkg --root`). Default `/`; tests
    /// install into a folder.
    pub(crate) root: PathBuf,
    /// Run after `dpkg -i` to restart the box. Default: nothing, as the package's own
    /// scripts restart `dipper.service`.
    pub(crate) restart_command: Vec<String>,
    /// The installer's own folder (root's): the pinned key and the package kept for a
    /// rollback. Default `/var/lib/dipper-update` (`dipper-update.service`'s state).
    pub(crate) installer_dir: PathBuf,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            root: PathBuf::from("/"),
            restart_command: Vec::new(),
            installer_dir: PathBuf::from("/var/lib/dipper-update"),
        }
    }
}

static RUNNING: OnceLock<String> = OnceLock::new();

/// Reads the version this box runs, once, at the daemon's start.
pub(crate) fn init(config: &UpdateConfig) {
    let _ = RUNNING.set(installed_version(&config.root));
}

/// The version this box runs: its package's, else the crate's (a build from source).
pub(crate) fn running_version() -> &'static str {
    RUNNING
        .get()
        .map_or(env!("CARGO_PKG_VERSION"), String::as_str)
}

/// The version of the package installed under `root`, as its version file says.
fn installed_version(root: &Path) -> String {
    std::fs::read_to_string(root.join(VERSION_FILE))
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|version| protocol::software::valid_version(version))
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned())
}

/// The files of an update in `<data_dir>/updates/` (the daemon's folder).
#[derive(Debug, Clone)]
pub(crate) struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub(crate) fn new(data_dir: &Path) -> Staging {
        Staging {
            dir: data_dir.join("updates"),
        }
    }

    /// The package while it downloads.
    fn partial(&self) -> PathBuf {
        self.dir.join("staged.deb.part")
    }

    /// The package, checked, waiting for the installer.
    fn package(&self) -> PathBuf {
        self.dir.join("staged.deb")
    }

    /// The update it came with ([`Staged`]); written last, so its presence starts the
    /// installer (`dipper-update.path`).
    fn request(&self) -> PathBuf {
        self.dir.join("staged.json")
    }

    /// The relay's key, as the daemon holds it, for the installer to pin at its first run.
    fn key(&self) -> PathBuf {
        self.dir.join("software.key")
    }

    /// The latest update's state ([`state`]).
    fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Forgets the staged update (the state stays).
    fn clear(&self) {
        for path in [self.partial(), self.package(), self.request()] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A staged update: the RPC's parameters and the version it replaces.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Staged {
    update: protocol::software::SoftwareUpdate,
    from_version: String,
}

/// Writes `bytes` to `path` whole or not at all (a temporary file, synced, renamed).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests;
