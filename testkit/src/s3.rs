//! A real S3 server for one test: `s3s-fs` (the s3s project's file-system server, which
//! checks SigV4 signatures, presigned URLs and their expiry) on a free port of 127.0.0.1,
//! storing under a temporary folder, with one access key and secret.
//!
//! The server can be stopped and started again on the same port and folder, as a store
//! that goes down and comes back looks to its clients. The binary is found by
//! `$DIPPER_S3S_FS`, then the tools cache `scripts/lib/setup.sh` installs it into
//! (`${XDG_CACHE_HOME:-$HOME/.cache}/dipper/tools/bin`), then `PATH`.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "dipper-test-access";
/// Its secret.
pub const SECRET_KEY: &str = "dipper-test-secret-0123456789";

/// A running (or stopped) s3s-fs; killed when dropped.
#[derive(Debug)]
pub struct S3Server {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server over a new, empty folder and waits until it accepts connections.
    pub fn start() -> S3Server {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("root")).expect("the server's root");
        let mut server = S3Server {
            child: None,
            port: crate::free_port(),
            dir,
        };
        server.resume();
        server
    }

    /// Starts the server again after [`S3Server::stop`], on the same port and folder (its
    /// buckets and objects are still there), and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "s3s-fs is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("s3s-fs.log"))
            .expect("log");
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.dir.path().join("root"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting s3s-fs");
        self.child = Some(child);
        self.wait_listening();
    }

    /// Stops the server (killed: it keeps nothing in memory) and waits for it to exit; its
    /// port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("s3s-fs exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "s3s-fs not listening: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn access_key(&self) -> &'static str {
        ACCESS_KEY
    }

    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// The folder the server stores under: one folder per bucket, one file per object.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("s3s-fs.log")).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The s3s-fs binary: `$DIPPER_S3S_FS`, the tools cache, or `PATH`.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("DIPPER_S3S_FS") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    if let Some(cached) = cache.map(|c| c.join("dipper/tools/bin/s3s-fs"))
        && cached.is_file()
    {
        return cached;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|path| path.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "s3s-fs is missing: install it with `source scripts/lib/setup.sh && \
             dipper_install_s3s_fs` (cargo install s3s-fs --version 0.14.1 --features binary \
             into the tools cache), or set DIPPER_S3S_FS to its path"
        )
    })
}
