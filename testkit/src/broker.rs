//! A real Mosquitto for one test: Debian's `mosquitto` with the dynamic security plugin,
//! configured from the relay's `relay/broker/mosquitto.conf` (persistence on), a plain
//! listener and a TLS listener (a CA and certificate for 127.0.0.1 made by
//! `relay/broker/make-certs`) on free loopback ports, in a temporary folder.
//!
//! The broker can be stopped (SIGTERM: it saves its sessions and queued messages) and
//! started again on the same ports and folder, as an outage and a broker restart with
//! persistence look to its clients. A box's identity is made with `mosquitto_ctrl` as the
//! relay makes it: user name and client id the device id, a role of its own allowed only
//! below its topic prefix.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The dynamic security plugin's administrator, made when the broker's folder is.
pub const ADMIN_USER: &str = "dipper-admin";
pub const ADMIN_PASSWORD: &str = "broker-admin-pass";

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running (or stopped) Mosquitto; killed when dropped.
#[derive(Debug)]
pub struct TestBroker {
    child: Option<Child>,
    port: u16,
    /// The TLS listener (a certificate for 127.0.0.1 from a CA made for the test).
    tls_port: u16,
    dir: tempfile::TempDir,
}

impl TestBroker {
    /// Starts a broker in a new folder and waits until it listens.
    pub fn start() -> TestBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let dynsec = dir.path().join("dynamic-security.json");
        let init = Command::new("mosquitto_ctrl")
            .args(["dynsec", "init"])
            .arg(&dynsec)
            .args([ADMIN_USER, ADMIN_PASSWORD])
            .output()
            .expect("mosquitto_ctrl (Debian's mosquitto-clients; scripts/test installs it)");
        assert!(
            init.status.success(),
            "dynsec init: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let certs = dir.path().join("certs");
        let made = Command::new(format!("{WORKSPACE}/relay/broker/make-certs"))
            .arg(&certs)
            .output()
            .expect("relay/broker/make-certs (needs openssl)");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let (port, tls_port) = (free_port(), free_port());
        write_config(dir.path(), port, tls_port);
        hand_to_broker_user(dir.path());
        let mut broker = TestBroker {
            child: None,
            port,
            tls_port,
            dir,
        };
        broker.resume();
        broker
    }

    /// Starts the broker again after [`TestBroker::stop`], on the same ports and folder
    /// (its saved sessions and messages come back), and waits until it listens.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("mosquitto.log"))
            .expect("log");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto (Debian's mosquitto; scripts/test installs it)");
        self.child = Some(child);
        self.wait_listening();
    }

    /// Stops the broker as its service would be (SIGTERM: sessions and queued messages are
    /// saved) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            // Mosquitto exits 0 on SIGTERM; a slow exit is killed, which is all a test needs.
            crate::terminate(child, Duration::from_secs(10));
        }
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("mosquitto exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto not listening: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the broker logged (connections, refusals, warnings).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn tls_url(&self) -> String {
        format!("mqtts://127.0.0.1:{}", self.tls_port)
    }

    /// The test CA's certificate (PEM) file.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("certs/ca.pem")
    }

    /// The test CA's certificate (PEM).
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.ca_path()).expect("ca.pem")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `mosquitto_ctrl dynsec ARGS...` as the administrator.
    pub fn dynsec(&self, args: &[&str]) {
        let output = Command::new("mosquitto_ctrl")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-u", ADMIN_USER, "-P", ADMIN_PASSWORD, "dynsec"])
            .args(args)
            .output()
            .expect("mosquitto_ctrl");
        assert!(
            output.status.success(),
            "dynsec {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A broker user with no role, made as an operator would.
    pub fn create_plain_client(&self, user: &str, password: &str) {
        self.dynsec(&["createClient", user, "-p", password]);
    }

    /// A box's identity as the relay makes it: `user` is its user name and client id,
    /// allowed to publish and subscribe only below `prefix` (a role of its own).
    pub fn create_box(&self, user: &str, password: &str, prefix: &str) {
        let role = format!("box-{user}");
        let filter = format!("{}/#", prefix.trim_end_matches('/'));
        self.dynsec(&["createRole", &role]);
        for acltype in [
            "publishClientSend",
            "publishClientReceive",
            "subscribePattern",
            "unsubscribePattern",
        ] {
            self.dynsec(&["addRoleACL", &role, acltype, &filter, "allow", "0"]);
        }
        self.dynsec(&["createClient", user, "-c", user, "-p", password]);
        self.dynsec(&["addClientRole", user, &role, "0"]);
    }

    /// An identity that reaches every box's topics (`dipper/#` and `v1/#`), as the relay's.
    pub fn create_relay(&self, user: &str, password: &str) {
        let role = format!("relay-{user}");
        self.dynsec(&["createRole", &role]);
        for filter in ["dipper/#", "v1/#"] {
            for acltype in [
                "publishClientSend",
                "publishClientReceive",
                "subscribePattern",
                "unsubscribePattern",
            ] {
                self.dynsec(&["addRoleACL", &role, acltype, filter, "allow", "0"]);
            }
        }
        self.create_plain_client(user, password);
        self.dynsec(&["addClientRole", user, &role, "0"]);
    }
}

/// Gives the broker's folder to the user Mosquitto runs as. Started as root (as tests and
/// the demo are here), Mosquitto drops to the `mosquitto` user, as its service does; without
/// this it could not write its persistence file or the dynamic security plugin's changes
/// into a folder root made, so a restarted broker would come back without the sessions and
/// identities it had (it says so only in its log).
pub fn hand_to_broker_user(dir: &Path) {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let status = Command::new("chown")
        .arg("-R")
        .arg("mosquitto:mosquitto")
        .arg(dir)
        .status()
        .expect("chown");
    assert!(
        status.success(),
        "chown -R mosquitto: {} (Debian's mosquitto package makes that user)",
        dir.display()
    );
}

fn write_config(dir: &Path, port: u16, tls_port: u16) {
    let certs = dir.join("certs");
    let tls = format!(
        "listener {tls_port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key",
        certs.display()
    );
    // Mosquitto started as root drops to the `mosquitto` user, which could read neither
    // the test's key nor its data folder: it stays the user running the test.
    let user = Command::new("id").arg("-un").output().expect("id -un");
    let user = String::from_utf8_lossy(&user.stdout).trim().to_owned();
    let template = include_str!("../../relay/broker/mosquitto.conf");
    let config = format!("user {user}\n")
        + &template
            .replace("@LISTENER@", &format!("listener {port} 127.0.0.1"))
            .replace("@TLS@", &tls)
            .replace("@DATA_DIR@", &dir.display().to_string());
    std::fs::write(dir.join("mosquitto.conf"), config).expect("config");
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
