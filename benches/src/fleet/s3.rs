//! The relay's object store in the fleet: a real S3 server, `s3s-fs` (the s3s project's
//! file-system server, which checks SigV4 signatures and presigned URLs), on a free port of
//! 127.0.0.1 over a temporary folder, with one access key. It can be stopped (killed: it
//! keeps nothing in memory) and started again on the same port and folder, as a store that
//! goes down and comes back looks to the relay and the boxes: the `stop-s3` fault.
//!
//! The binary is `$DIPPER_S3S_FS`, else the tools cache `scripts/lib/setup.sh` installs it
//! into (`${XDG_CACHE_HOME:-$HOME/.cache}/dipper/tools/bin`), else on `PATH`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::uplink::relay::S3Bucket;

const ACCESS_KEY: &str = "dipper-bench-access";
const SECRET_KEY: &str = "dipper-bench-secret-0123456789";

/// A running (or stopped) s3s-fs; killed when dropped.
pub(super) struct S3Store {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
}

impl S3Store {
    /// Starts a server over a new, empty folder and waits until it accepts connections.
    pub(super) fn start() -> Result<S3Store, BoxError> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("root"))?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut store = S3Store {
            child: None,
            binary: binary()?,
            port,
            dir,
        };
        store.resume()?;
        Ok(store)
    }

    /// The bucket the relay writes to, on this server.
    pub(super) fn bucket(&self) -> S3Bucket {
        S3Bucket {
            endpoint: format!("http://127.0.0.1:{}", self.port),
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
        }
    }

    /// Starts the server (again, on the same port and folder) and waits until it listens.
    pub(super) fn resume(&mut self) -> Result<(), BoxError> {
        if self.child.is_some() {
            return Err("s3s-fs is already running".into());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("s3s-fs.log"))?;
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.dir.path().join("root"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        self.wait_listening()
    }

    /// Stops the server and waits for it to exit; its port then refuses connections.
    pub(super) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_listening(&mut self) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!("s3s-fs exited ({status}): {}", self.log()).into());
            }
            if Instant::now() > deadline {
                return Err(format!("s3s-fs is not listening after 10 s: {}", self.log()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("s3s-fs.log")).unwrap_or_default()
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The s3s-fs binary: `$DIPPER_S3S_FS`, the tools cache, or `PATH`.
fn binary() -> Result<PathBuf, BoxError> {
    if let Some(path) = std::env::var_os("DIPPER_S3S_FS") {
        return Ok(PathBuf::from(path));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    if let Some(cached) = cache.map(|c| c.join("dipper/tools/bin/s3s-fs"))
        && cached.is_file()
    {
        return Ok(cached);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|path| path.is_file())
    });
    on_path.ok_or_else(|| {
        "s3s-fs is missing: install it with `source scripts/lib/setup.sh && \
         dipper_install_s3s_fs`, or set DIPPER_S3S_FS to its path"
            .into()
    })
}
