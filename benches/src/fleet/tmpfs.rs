//! A small disk of its own for a real box's data directory: a tmpfs of a given size mounted
//! on a new temporary directory (`mount -t tmpfs`, so the bench must run as root), unmounted
//! when dropped (lazily: a daemon still holding files in it does not keep it mounted), also
//! when the run fails. The `fill-disk` fault fills this disk, never the machine's.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BoxError;

/// A mounted tmpfs; unmounted (and its directory removed) when dropped.
pub(super) struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB on a new temporary directory; that directory, empty, for
    /// a data directory (its own removal fails harmlessly while mounted: the mount's guard
    /// removes it after unmounting).
    pub(super) fn mount(mib: u64) -> Result<(Tmpfs, tempfile::TempDir), BoxError> {
        if !rustix::process::geteuid().is_root() {
            return Err(
                "the fill-disk fault mounts a tmpfs for a real box's data directory: \
                        run the bench as root"
                    .into(),
            );
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("dipper-fleet-{}-disk-", std::process::id()))
            .tempdir()?;
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !mounted.status.success() {
            return Err(format!(
                "mount -t tmpfs on {}: {}",
                dir.path().display(),
                String::from_utf8_lossy(&mounted.stderr).trim()
            )
            .into());
        }
        let guard = Tmpfs {
            dir: dir.path().to_owned(),
        };
        Ok((guard, dir))
    }

    /// Where it is mounted.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg("-l").arg(&self.dir).output();
        match unmounted {
            Ok(output) if output.status.success() => {
                let _ = std::fs::remove_dir(&self.dir);
            }
            Ok(output) => tracing::warn!(
                dir = %self.dir.display(),
                error = %String::from_utf8_lossy(&output.stderr).trim(),
                "fleet: cannot unmount a real box's tmpfs"
            ),
            Err(error) => tracing::warn!(
                dir = %self.dir.display(),
                %error,
                "fleet: cannot unmount a real box's tmpfs"
            ),
        }
    }
}

/// Fills the file system of `dir` with the file `name` until no space is left; its size.
pub(super) fn fill(dir: &Path, name: &str) -> Result<u64, BoxError> {
    use std::io::Write;
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path)?;
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        // Down to single bytes at the end, so that nothing at all is left free.
        let free = free_bytes(dir)?;
        if free == 0 {
            break;
        }
        let n = usize::try_from(free.min(chunk.len() as u64))?;
        match file.write(&chunk[..n]) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => return Err(format!("{}: {e}", path.display()).into()),
        }
    }
    let _ = file.flush();
    Ok(written)
}

/// The free bytes of the file system of `dir`, for an unprivileged writer.
pub(super) fn free_bytes(dir: &Path) -> Result<u64, BoxError> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}
