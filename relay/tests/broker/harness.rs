//! A real Mosquitto for each test (Debian's `mosquitto`, with the dynamic security plugin,
//! configured from `relay/broker/mosquitto.conf` on a free loopback port), and a small MQTT
//! client that plays a box or a relay.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use tokio::sync::mpsc;

pub(crate) const ADMIN_USER: &str = "dipper-admin";
pub(crate) const ADMIN_PASSWORD: &str = "broker-admin-pass";

pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub(crate) struct TestBroker {
    child: Child,
    port: u16,
    /// The TLS listener (a certificate for 127.0.0.1 from a CA made for the test).
    tls_port: u16,
    dir: tempfile::TempDir,
}

impl TestBroker {
    pub(crate) fn start() -> TestBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
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
        let made = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/broker/make-certs"))
            .arg(&certs)
            .output()
            .expect("relay/broker/make-certs (needs openssl)");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let tls_port = free_port();
        let tls = format!(
            "listener {tls_port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key",
            certs.display()
        );
        // Mosquitto started as root drops to the `mosquitto` user, which could read neither
        // the test's key nor its data folder: it stays the user running the test.
        let user = Command::new("id").arg("-un").output().expect("id -un");
        let user = String::from_utf8_lossy(&user.stdout).trim().to_owned();
        let template = include_str!("../../broker/mosquitto.conf");
        let config = format!("user {user}\n")
            + &template
                .replace("@LISTENER@", &format!("listener {port} 127.0.0.1"))
                .replace("@TLS@", &tls)
                .replace("@DATA_DIR@", &dir.path().display().to_string());
        let config_path = dir.path().join("mosquitto.conf");
        std::fs::write(&config_path, config).expect("config");
        testkit::broker::hand_to_broker_user(dir.path());
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).expect("log");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto (Debian's mosquitto; scripts/test installs it)");
        let mut broker = TestBroker {
            child,
            port,
            tls_port,
            dir,
        };
        broker.wait_listening();
        broker
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
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

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    pub(crate) fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub(crate) fn tls_url(&self) -> String {
        format!("mqtts://127.0.0.1:{}", self.tls_port)
    }

    /// The test CA's certificate (PEM).
    pub(crate) fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("certs/ca.pem")).expect("ca.pem")
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// A broker user with no role, made with `mosquitto_ctrl` as an operator would.
    pub(crate) fn create_plain_client(&self, user: &str, password: &str) {
        let output = Command::new("mosquitto_ctrl")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-u", ADMIN_USER, "-P", ADMIN_PASSWORD])
            .args(["dynsec", "createClient", user, "-p", password])
            .output()
            .expect("mosquitto_ctrl");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An MQTT connection as a box or a relay makes it.
pub(crate) struct Mqtt {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    subacks: mpsc::UnboundedReceiver<Vec<SubscribeReasonCode>>,
    closed: mpsc::UnboundedReceiver<ConnectionError>,
}

impl Mqtt {
    /// Connects; `Err` with the broker's refusal.
    pub(crate) async fn connect(
        broker: &TestBroker,
        client_id: &str,
        user: &str,
        password: &str,
    ) -> Result<Mqtt, String> {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.port());
        options.set_credentials(user, password);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut events) = AsyncClient::new(options, 64);
        let connected = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await
        .map_err(|_| "no ConnAck".to_owned())?;
        connected?;
        let (message_tx, messages) = mpsc::unbounded_channel();
        let (suback_tx, subacks) = mpsc::unbounded_channel();
        let (closed_tx, closed) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = message_tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let _ = suback_tx.send(ack.return_codes);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // Reported once; the connection is not retried (a test asks why).
                        let _ = closed_tx.send(e);
                        return;
                    }
                }
            }
        });
        Ok(Mqtt {
            client,
            messages,
            subacks,
            closed,
        })
    }

    /// Subscribes at QoS 1; whether the broker granted it.
    pub(crate) async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe request");
        let codes = tokio::time::timeout(Duration::from_secs(10), self.subacks.recv())
            .await
            .expect("a SubAck")
            .expect("connection open");
        codes
            .iter()
            .all(|code| matches!(code, SubscribeReasonCode::Success(_)))
    }

    pub(crate) async fn publish(&mut self, topic: &str, payload: &[u8]) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .await
            .expect("publish request");
    }

    /// The next message received, within 10 s.
    pub(crate) async fn next_message(&mut self) -> Option<(String, Vec<u8>)> {
        tokio::time::timeout(Duration::from_secs(10), self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// Whether the broker closed the connection within `timeout`.
    pub(crate) async fn wait_disconnected(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.closed.recv())
            .await
            .is_ok()
    }
}
