//! A Mosquitto for the benchmark: Debian's, with the dynamic security plugin initialised
//! for an administrator, configured from the repository's `relay/broker/mosquitto.conf` on a
//! free loopback port (plain TCP, no TLS listener), killed when dropped. It can be stopped
//! and started again on the same port and data folder (identities, sessions and queued
//! messages kept, as after an operator's restart): the outage. Or killed (`kill -9`, what it
//! saved at its last autosave kept) and started again: the fleet's fault.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::BoxError;

pub(crate) const ADMIN: (&str, &str) = ("bench-admin", "bench-admin-password");

pub(crate) struct Broker {
    /// The running process (none while stopped); behind a lock, so that a fault can kill and
    /// start it while the load holds the broker.
    child: Mutex<Option<Child>>,
    config: PathBuf,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub(crate) fn start() -> Result<Broker, BoxError> {
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let dynsec = dir.path().join("dynamic-security.json");
        let init = Command::new("mosquitto_ctrl")
            .args(["dynsec", "init"])
            .arg(&dynsec)
            .args([ADMIN.0, ADMIN.1])
            .output()
            .map_err(|e| format!("mosquitto_ctrl (Debian's mosquitto-clients): {e}"))?;
        if !init.status.success() {
            return Err(format!("dynsec init: {}", String::from_utf8_lossy(&init.stderr)).into());
        }
        let user = Command::new("id").arg("-un").output()?;
        let template = include_str!("../../../relay/broker/mosquitto.conf");
        let config = format!("user {}\n", String::from_utf8_lossy(&user.stdout).trim())
            + &template
                .replace("@LISTENER@", &format!("listener {port} 127.0.0.1"))
                .replace("@TLS@", "")
                .replace("@DATA_DIR@", &dir.path().display().to_string());
        let config_path = dir.path().join("mosquitto.conf");
        std::fs::write(&config_path, config)?;
        let broker = Broker {
            child: Mutex::new(None),
            config: config_path,
            port,
            _dir: dir,
        };
        broker.resume()?;
        Ok(broker)
    }

    /// Starts the broker (again) and waits until it listens.
    pub(crate) fn resume(&self) -> Result<(), BoxError> {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mosquitto (Debian's mosquitto): {e}"))?;
        *self.child() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if Instant::now() > deadline {
                return Err("mosquitto is not listening after 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops the broker as its supervisor would (SIGTERM: it saves its sessions and queues)
    /// and waits for it to exit.
    pub(crate) fn stop(&self) -> Result<(), BoxError> {
        let Some(mut child) = self.child().take() else {
            return Ok(());
        };
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id())?)
            .ok_or("mosquitto has no pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        child.wait()?;
        Ok(())
    }

    /// `kill -9` of the broker (no chance to save anything since its last autosave), and
    /// waits for it to exit.
    pub(crate) fn kill(&self) -> Result<(), BoxError> {
        let Some(mut child) = self.child().take() else {
            return Err("mosquitto is not running".into());
        };
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// The running broker's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        // A panic while holding it leaves nothing half-changed: the child is there or not.
        self.child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
