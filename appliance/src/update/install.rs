//! The installer's half, `dipper update install`, run as root (`dipper-update.service`):
//! the staged package checked again (the staging folder is the daemon's, so nothing in it
//! is taken on trust but the key pinned at the first update), the running package kept,
//! the new one installed, the box watched; a version that does not report healthy in time
//! is replaced by the kept one. Whatever the outcome, the staged files go, so the path
//! unit does not start the installer again for the same update.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use protocol::software::{BOX_PACKAGE, UpdateState};
use sha2::{Digest, Sha256};

use super::{Staged, Staging, UpdateConfig, dpkg, state};
use crate::BoxError;

/// What `dipper update install` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing was staged.
    Nothing,
    /// The new version runs and reports healthy.
    Healthy { version: String },
    /// The new version did not; the previous one runs again.
    RolledBack { to: String, reason: String },
}

/// Installs the update staged in `data_dir`, if any.
pub(crate) fn install(data_dir: &Path, config: &UpdateConfig) -> Result<Outcome, BoxError> {
    let staging = Staging::new(data_dir);
    let Ok(bytes) = std::fs::read(staging.request()) else {
        return Ok(Outcome::Nothing);
    };
    let result = serde_json::from_slice::<Staged>(&bytes)
        .map_err(|e| format!("the staged update does not read: {e}"))
        .and_then(|staged| {
            let outcome = install_staged(&staging, config, data_dir, &staged);
            if let Err(reason) = &outcome {
                let (rollout, version) = (staged.update.rollout_id, &staged.update.package.version);
                let _ = state::write(
                    &staging,
                    rollout,
                    version,
                    UpdateState::Failed,
                    Some(reason.clone()),
                );
            }
            outcome
        });
    staging.clear();
    Ok(result?)
}

fn install_staged(
    staging: &Staging,
    config: &UpdateConfig,
    data_dir: &Path,
    staged: &Staged,
) -> Result<Outcome, String> {
    let update = &staged.update;
    let (rollout, version) = (update.rollout_id, update.package.version.as_str());
    check_again(staging, config, staged)?;
    let record = |state, reason| {
        state::write(staging, rollout, version, state, reason)
            .map_err(|e| format!("cannot record the state: {e}"))
    };
    record(UpdateState::Installing, None)?;
    let root = &config.root;
    let previous = dpkg::installed(root, BOX_PACKAGE)
        .ok_or_else(|| format!("{BOX_PACKAGE} is not installed here: nothing to update"))?;
    let kept = dpkg::repack(root, BOX_PACKAGE, &config.installer_dir.join("previous"))
        .map_err(|e| format!("cannot keep the running {previous} for a rollback: {e}"))?;
    let timeout = Duration::from_secs(u64::from(update.health_timeout_s));
    let installed = dpkg::install(root, &staging.package());
    let problem = match installed {
        Ok(()) => {
            restart(config);
            match wait_healthy(data_dir, version, timeout) {
                Ok(()) => {
                    record(UpdateState::Healthy, None)?;
                    return Ok(Outcome::Healthy {
                        version: version.to_owned(),
                    });
                }
                Err(seen) => format!(
                    "{version} did not report healthy within {} s ({seen})",
                    timeout.as_secs()
                ),
            }
        }
        Err(e) => e.to_string(),
    };
    // Back to the kept package.
    dpkg::install(root, &kept)
        .map_err(|e| format!("{problem}; and reinstalling the previous {previous} failed: {e}"))?;
    restart(config);
    wait_healthy(data_dir, &previous, timeout).map_err(|seen| {
        format!("{problem}; the previous {previous}, installed again, did not report healthy either ({seen})")
    })?;
    record(UpdateState::RolledBack, Some(problem.clone()))?;
    Ok(Outcome::RolledBack {
        to: previous,
        reason: problem,
    })
}

/// The staged package is the one the relay signed, under the key the installer trusts.
fn check_again(staging: &Staging, config: &UpdateConfig, staged: &Staged) -> Result<(), String> {
    let package = &staged.update.package;
    let key = trusted_key(staging, &config.installer_dir)?;
    let key = protocol::software::decode_key(&key).map_err(|e| e.to_string())?;
    package.verify(&key).map_err(|e| e.to_string())?;
    let path = staging.package();
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let sha256 = super::fetch::hex(&Sha256::digest(&bytes));
    package
        .check_bytes(bytes.len() as u64, &sha256)
        .map_err(|e| e.to_string())?;
    let (name, version) = dpkg::fields(&path).map_err(|e| e.to_string())?;
    if name != BOX_PACKAGE || version != package.version {
        return Err(format!(
            "the staged package is {name} {version}, not the signed {BOX_PACKAGE} {}",
            package.version
        ));
    }
    Ok(())
}

/// The relay's key as the installer first saw it (pinned in its own folder, which the
/// daemon cannot write); a different key staged later is refused.
fn trusted_key(staging: &Staging, installer_dir: &Path) -> Result<String, String> {
    let pinned: PathBuf = installer_dir.join("software.key");
    let staged = std::fs::read_to_string(staging.key())
        .map_err(|e| format!("the daemon staged no key: {e}"))?;
    match std::fs::read_to_string(&pinned) {
        Ok(pinned_text) => {
            if pinned_text.trim() != staged.trim() {
                return Err(format!(
                    "the update is signed for another key than the one pinned in {} (remove that file to trust the box's new relay)",
                    pinned.display()
                ));
            }
            Ok(pinned_text)
        }
        Err(_) => {
            std::fs::create_dir_all(installer_dir)
                .and_then(|()| super::write_atomically(&pinned, staged.trim().as_bytes()))
                .map_err(|e| format!("cannot pin the key in {}: {e}", pinned.display()))?;
            Ok(staged)
        }
    }
}

/// Runs the configured restart command, if any (a failure is logged: the health check
/// decides).
fn restart(config: &UpdateConfig) {
    let Some((program, args)) = config.restart_command.split_first() else {
        return;
    };
    match std::process::Command::new(program).args(args).status() {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!(%status, "the restart command failed"),
        Err(e) => tracing::warn!(error = %e, "cannot run the restart command"),
    }
}

/// Waits until the box's health route answers with `version` and a working database; else
/// what it last saw.
fn wait_healthy(data_dir: &Path, version: &str, timeout: Duration) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + timeout;
        let mut seen = "no answer".to_owned();
        while Instant::now() < deadline {
            if let Some(health) = health(&http, data_dir).await {
                if health["version"] == version && health["database"] == "ok" {
                    return Ok(());
                }
                seen = format!(
                    "last seen: version {}, database {}",
                    health["version"], health["database"]
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(seen)
    })
}

/// The box's `/api/v1/health`, at the address the running daemon wrote.
async fn health(http: &reqwest::Client, data_dir: &Path) -> Option<serde_json::Value> {
    let address = std::fs::read_to_string(data_dir.join("api.addr")).ok()?;
    let url = format!("http://{}/api/v1/health", address.trim());
    let response = http.get(url).send().await.ok()?;
    response.json().await.ok()
}
