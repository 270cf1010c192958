//! The daemon's half: a `softwareUpdate` checked and accepted, its package fetched, checked
//! and staged for the installer.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use protocol::rpc::RpcError;
use protocol::software::{BOX_PACKAGE, SoftwareUpdate, UpdateAccepted, UpdateState};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::{Staged, Staging, dpkg, state};

/// Takes updates for the daemon; one at a time.
#[derive(Debug)]
pub(crate) struct Updater {
    staging: Staging,
    /// An update is being fetched.
    busy: Arc<AtomicBool>,
    http: reqwest::Client,
}

impl Updater {
    pub(crate) fn new(data_dir: &Path, http: reqwest::Client) -> Updater {
        Updater {
            staging: Staging::new(data_dir),
            busy: Arc::new(AtomicBool::new(false)),
            http,
        }
    }

    /// Accepts `update` (its signature already verified with `key`, the relay's key in
    /// base64) and fetches it in the background; refused when it is not the box's package,
    /// not newer than what runs (unless forced), or while another update is under way.
    pub(crate) fn begin(
        &self,
        update: SoftwareUpdate,
        key: String,
    ) -> Result<UpdateAccepted, RpcError> {
        let running = super::running_version();
        let package = &update.package;
        if package.name != BOX_PACKAGE {
            return Err(RpcError::new(
                "not_this_box",
                format!("{} is not the box's package ({BOX_PACKAGE})", package.name),
            ));
        }
        let newer = dpkg::newer(&package.version, running)
            .map_err(|e| RpcError::new("internal", e.to_string()))?;
        if !newer && !update.force {
            return Err(RpcError::new(
                "not_newer",
                format!(
                    "{} is not newer than the running {running}: a downgrade or a reinstall must be forced",
                    package.version
                ),
            ));
        }
        if self.staging.request().exists() {
            return Err(RpcError::new(
                "busy",
                "an update is staged and waits for the installer",
            ));
        }
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(RpcError::new("busy", "another update is being fetched"));
        }
        let accepted = UpdateAccepted {
            rollout_id: update.rollout_id,
            from_version: running.to_owned(),
        };
        let (staging, busy, http) = (
            self.staging.clone(),
            Arc::clone(&self.busy),
            self.http.clone(),
        );
        tokio::spawn(async move {
            let (rollout, version) = (update.rollout_id, update.package.version.clone());
            let staged = stage(&http, &staging, update, &key).await;
            let (state, reason) = match staged {
                Ok(()) => (UpdateState::Staged, None),
                Err(reason) => {
                    tracing::warn!(%rollout, %version, %reason, "software update failed before its install");
                    staging.clear();
                    (UpdateState::Failed, Some(reason))
                }
            };
            if let Err(e) = state::write(&staging, rollout, &version, state, reason) {
                tracing::error!(error = %e, "cannot record the software update's state");
            }
            busy.store(false, Ordering::Release);
        });
        Ok(accepted)
    }
}

/// Fetches, checks and stages the package: the request file, which starts the installer,
/// is written last.
async fn stage(
    http: &reqwest::Client,
    staging: &Staging,
    update: SoftwareUpdate,
    key: &str,
) -> Result<(), String> {
    let package = &update.package;
    std::fs::create_dir_all(&staging.dir)
        .map_err(|e| format!("cannot make {}: {e}", staging.dir.display()))?;
    state::write(
        staging,
        update.rollout_id,
        &package.version,
        UpdateState::Downloading,
        None,
    )
    .map_err(|e| format!("cannot record the state: {e}"))?;
    tracing::info!(rollout = %update.rollout_id, version = %package.version, "fetching a software update");
    let (size, sha256) = download(http, &update.url, package.size, &staging.partial()).await?;
    package
        .check_bytes(size, &sha256)
        .map_err(|e| e.to_string())?;
    let (name, version) = dpkg::fields(&staging.partial()).map_err(|e| e.to_string())?;
    if (name.as_str(), version.as_str()) != (package.name.as_str(), package.version.as_str()) {
        return Err(format!(
            "the package says it is {name} {version}, not the signed {} {}",
            package.name, package.version
        ));
    }
    let io = |what: &str, e: std::io::Error| format!("cannot write the {what}: {e}");
    super::write_atomically(&staging.key(), key.as_bytes()).map_err(|e| io("key", e))?;
    std::fs::rename(staging.partial(), staging.package()).map_err(|e| io("package", e))?;
    let staged = Staged {
        from_version: super::running_version().to_owned(),
        update,
    };
    let bytes = serde_json::to_vec_pretty(&staged).map_err(|e| e.to_string())?;
    super::write_atomically(&staging.request(), &bytes).map_err(|e| io("request", e))?;
    tracing::info!(version = %staged.update.package.version, "software update staged for the installer");
    Ok(())
}

/// Streams `url` to `path`, never more than `limit` bytes; its size and SHA-256 (hex).
async fn download(
    http: &reqwest::Client,
    url: &str,
    limit: u64,
    path: &Path,
) -> Result<(u64, String), String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch the package: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "the object store answered {status} to the package's URL"
        ));
    }
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let (mut size, mut hash) = (0u64, Sha256::new());
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("the package's download broke off: {e}"))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(format!(
                "the package is larger than the signed {limit} bytes"
            ));
        }
        hash.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    file.sync_all()
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((size, hex(&hash.finalize())))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
