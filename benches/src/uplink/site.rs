//! The relay of the benchmark, in this process: a SQLite file, `[broker]` on the bench's
//! Mosquitto, a platform admin, a tenant with an area and one box activated through the API;
//! and the box itself, a raw rumqttc MQTT v5 client answering every RPC at once.

use std::time::{Duration, Instant};

use protocol::rpc::{Pong, RpcResponse};
use protocol::status::{DeviceStatus, Presence};
use protocol::topics::{Topic, Topics};
use relay::config::Config;
use relay::db::Db;
use relay::state::AppState;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::broker::{ADMIN, Broker};
use crate::BoxError;

pub(super) const RELAY_USER: (&str, &str) = ("dipper-relay", "bench-relay-password");
const ROOT: (&str, &str) = ("root@bench.test", "bench root password");

pub(super) struct Site {
    state: AppState,
    http: reqwest::Client,
    token: String,
    /// URLs of the box on the relay.
    rpc_path: String,
    device_path: String,
    topics: Topics,
    credential: String,
    device: String,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// The relay's configuration, as an operator writes it: cheap password hashing and no rate
/// limit in the way of 10,000 calls from one user.
fn config(dir: &tempfile::TempDir, broker: &Broker) -> Result<Config, BoxError> {
    let database = dir.path().join("relay.sqlite3");
    let text = format!(
        r#"
        [database]
        url = "sqlite://{database}"
        [auth]
        access_token_seconds = 3600
        argon2 = {{ memory_kib = 64, iterations = 1, parallelism = 1 }}
        [limits]
        per_user_per_second = 1000000
        per_user_burst = 1000000
        per_tenant_per_second = 1000000
        per_tenant_burst = 1000000
        [broker]
        url = "{url}"
        admin_username = "{admin}"
        admin_password = "{admin_password}"
        username = "{user}"
        password = "{password}"
        client_id = "bench-relay"
        "#,
        database = database.display(),
        url = broker.url(),
        admin = ADMIN.0,
        admin_password = ADMIN.1,
        user = RELAY_USER.0,
        password = RELAY_USER.1,
    );
    Ok(Config::from_toml_and_env(
        &text,
        "bench",
        std::iter::empty(),
    )?)
}

impl Site {
    pub(super) async fn start(broker: &Broker) -> Result<Site, BoxError> {
        let dir = tempfile::tempdir()?;
        let config = config(&dir, broker)?;
        let db = Db::connect_and_migrate(&config.database).await?;
        let state = AppState::new(config, db).await?;
        let password = ROOT.1.to_owned();
        relay::admin::create_platform_admin(&state.db, &state.passwords, ROOT.0, password).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = futures::FutureExt::map(stopped, drop);
        let drain = Duration::from_secs(5);
        tokio::spawn(relay::server::serve(
            state.clone(),
            listener,
            stopped,
            drain,
        ));
        let http = reqwest::Client::new();
        let login = json!({"email": ROOT.0, "password": ROOT.1});
        let login = post(&http, &format!("{base}/api/v1/auth/login"), None, login).await?;
        let token = text(&login, "access_token")?;
        let tenants = format!("{base}/api/v1/tenants");
        let tenant = http
            .post(&tenants)
            .bearer_auth(&token)
            .header("idempotency-key", "bench-tenant")
            .json(&json!({"name": "Bench"}))
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await?;
        let tenant = text(&tenant, "id")?;
        let area = json!({"name": "Site"});
        let area = post(
            &http,
            &format!("{tenants}/{tenant}/areas"),
            Some(&token),
            area,
        )
        .await?;
        let device = json!({"name": "Box", "area_id": text(&area, "id")?});
        let devices = format!("{tenants}/{tenant}/devices");
        let device = post(&http, &devices, Some(&token), device).await?;
        let id = text(&device["device"], "id")?;
        let key = text(&device, "provisioning_key")?;
        let activate = json!({"device_id": id, "provisioning_key": key});
        let activation = format!("{base}/api/v1/devices/activate");
        let activated = post(&http, &activation, None, activate).await?;
        let topics = Topics::with_prefix(&text(&activated["broker"], "topic_prefix")?);
        Ok(Site {
            rpc_path: format!("{devices}/{id}/rpc"),
            device_path: format!("{devices}/{id}"),
            credential: text(&activated, "credential")?,
            device: id,
            topics,
            state,
            http,
            token,
            stop: Some(stop),
            _dir: dir,
        })
    }

    /// Connects the box, which answers every RPC at once (through its outbox: each answer
    /// numbered), and returns once the relay sees it online.
    pub(super) async fn answering_box(
        &self,
        broker: &Broker,
    ) -> Result<tokio::task::JoinHandle<()>, BoxError> {
        let mut options = MqttOptions::new(&self.device, "127.0.0.1", broker.port);
        options.set_credentials(&self.device, &self.credential);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_network_options(super::no_delay());
        let (client, mut events) = AsyncClient::new(options, 64);
        let topics = self.topics.clone();
        client
            .subscribe(topics.rpc_requests(), QoS::AtLeastOnce)
            .await?;
        let online = DeviceStatus::new(Presence::Online).encode();
        client
            .publish(
                topics.topic(&Topic::Status),
                QoS::AtLeastOnce,
                false,
                online,
            )
            .await?;
        let task = tokio::spawn(async move {
            let mut seq = 0;
            loop {
                let publish = match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => publish,
                    Ok(_) => continue,
                    Err(error) => {
                        tracing::warn!(%error, "the bench's box lost its connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let topic = String::from_utf8_lossy(&publish.topic);
                let Some(Topic::RpcRequest(id)) = topics.parse(&topic) else {
                    continue;
                };
                seq += 1;
                let mut answer = RpcResponse::ok(&Pong {
                    software_version: "bench".to_owned(),
                });
                answer.seq = Some(seq);
                let response = topics.topic(&Topic::RpcResponse(id));
                let _ = client.try_publish(response, QoS::AtLeastOnce, false, answer.encode());
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        let device = &self.device_path;
        loop {
            let seen: Value = self
                .http
                .get(device)
                .bearer_auth(&self.token)
                .send()
                .await?
                .json()
                .await?;
            if seen["online"] == true {
                return Ok(task);
            }
            if Instant::now() > deadline {
                return Err("the relay did not see the bench's box online within 15 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `n` two-way `ping` calls in a row, each timed from request to answer.
    pub(super) async fn calls(&self, n: usize) -> Result<Vec<Duration>, BoxError> {
        let url = &self.rpc_path;
        let body = json!({"method": "ping", "timeout_ms": 10000});
        super::timed(n, |_| async {
            let answer = post(&self.http, url, Some(&self.token), body.clone()).await?;
            if answer["state"] != "successful" {
                return Err(format!("an RPC ended {}", answer["state"]).into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn stop(mut self) {
        if let Some(uplink) = &self.state.uplink {
            uplink.stop().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// POSTs `body` as JSON; the JSON answer of a 2xx, else an error with the status and body.
async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Value,
) -> Result<Value, BoxError> {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("POST {url}: {status} {answer}").into());
    }
    Ok(answer)
}

fn text(value: &Value, key: &str) -> Result<String, BoxError> {
    value[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {key} in {value}").into())
}
