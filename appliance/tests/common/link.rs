//! The box's link for the uplink's tests: a real Mosquitto (testkit) with a box identity,
//! and a raw MQTT client playing the relay, subscribed to every topic of the box.

use std::time::{Duration, Instant};

use protocol::rpc::RpcResponse;
use serde_json::Value;
use tempfile::TempDir;
use testkit::{Mqtt, TestBroker};

use super::Daemon;

pub const BOX_USER: &str = "box-1";
pub const BOX_PASSWORD: &str = "box-credential-1";
pub const PREFIX: &str = "dipper/tenant-1/box-1";

/// A broker with a box identity and a relay connected to every topic of the box.
pub struct Link {
    pub broker: TestBroker,
    pub relay: Mqtt,
}

impl Link {
    /// The relay acknowledges every numbered message it receives, as the real one does once
    /// it applied it.
    pub async fn start() -> Link {
        let mut link = Link::start_silent().await;
        link.relay = link.relay.acknowledging();
        link
    }

    /// The relay acknowledges nothing by itself.
    pub async fn start_silent() -> Link {
        Link::subscribed(&["#"]).await
    }

    /// The relay acknowledges what it receives, and hears only what a box sends: not
    /// its own messages on `{prefix}/uploads` (its test client takes packets of 10 KiB at
    /// most, and some tests send the box larger ones).
    pub async fn start_without_echo() -> Link {
        let topics = [
            "telemetry",
            "attributes",
            "rpc/response/+",
            "events",
            "status",
        ];
        let mut link = Link::subscribed(&topics).await;
        link.relay = link.relay.acknowledging();
        link
    }

    /// The relay subscribed to these topics below the box's prefix.
    async fn subscribed(topics: &[&str]) -> Link {
        let broker = TestBroker::start();
        broker.create_box(BOX_USER, BOX_PASSWORD, PREFIX);
        broker.create_relay("relay", "relay-pass");
        let mut relay = Mqtt::persistent(&broker, "relay-1", "relay", "relay-pass")
            .await
            .expect("the relay connects");
        for topic in topics {
            assert!(relay.subscribe(&format!("{PREFIX}/{topic}")).await);
        }
        Link { broker, relay }
    }

    /// `box.toml` lines connecting the box with `password`.
    pub fn box_config(&self, password: &str, extra: &str) -> String {
        format!(
            "{extra}\n[uplink.manual]\nbroker_url = {:?}\nusername = {BOX_USER:?}\npassword = {password:?}\ntopic_prefix = {PREFIX:?}\n",
            self.broker.url()
        )
    }

    /// The daemon on a fresh data directory, connected through this link with `extra`
    /// lines in its configuration.
    pub fn start_box(&self, extra: &str) -> (TempDir, Daemon) {
        super::start_box(&self.box_config(BOX_PASSWORD, extra))
    }

    /// [`Link::start_box`] watching the camera at `camera_url` as `gate`, once online; the
    /// camera's id with it.
    pub async fn start_box_with_gate(
        &mut self,
        extra: &str,
        camera_url: &str,
    ) -> (TempDir, Daemon, i64) {
        let (dir, daemon) = self.start_box(extra);
        let camera = daemon.api().add_camera("gate", camera_url).await;
        self.wait_online().await;
        (dir, daemon, camera)
    }

    /// Sends an RPC and returns its response.
    pub async fn call(&mut self, id: u64, payload: &[u8]) -> RpcResponse {
        let request = format!("{PREFIX}/rpc/request/{id}");
        self.relay.publish(&request, payload).await;
        let answer = self
            .relay
            .next_on(&format!("{PREFIX}/rpc/response/{id}"))
            .await
            .unwrap_or_else(|| panic!("no answer to RPC {id}"));
        RpcResponse::decode(&answer).expect("an RPC response")
    }

    /// Waits for `online` on the box's status (after a kill, its last will comes first).
    pub async fn wait_online(&mut self) {
        loop {
            let status = self
                .relay
                .next_on(&format!("{PREFIX}/status"))
                .await
                .expect("the box online");
            let status: Value = serde_json::from_slice(&status).expect("json");
            if status["state"] == "online" {
                return;
            }
            assert_eq!(status["state"], "offline", "{status}");
        }
    }
}

/// Polls the daemon's uplink status until `done` holds (bounded).
pub async fn wait_status(daemon: &Daemon, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, status) = daemon.api().get("/uplink/status").await;
        assert_eq!(code, 200, "{status}");
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {status}\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
