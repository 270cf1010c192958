//! The bench's site on the relay, through its HTTP API as an operator uses it: the platform
//! admin signed in, a tenant with an area, boxes registered there and activated (each
//! activation makes the box's own broker identity), remote calls to a box.

use std::time::{Duration, Instant};

use protocol::topics::Topics;
use serde_json::{Value, json};

use super::relay::{ROOT, RelayProcess};
use crate::BoxError;
use crate::daemon::Daemon;

pub(crate) struct Site {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT`, the relay's.
    pub(crate) base: String,
    token: String,
    /// `{base}/api/v1/tenants/{tenant}/devices`.
    devices: String,
    /// `{base}/api/v1/tenants/{tenant}`.
    tenant: String,
    pub(crate) area: String,
}

/// A box registered on the relay, not yet activated: its id and one-time key.
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) id: String,
    pub(crate) key: String,
}

/// A box's broker identity, as activation gives it.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Also its MQTT user name and client id.
    pub(crate) device: String,
    pub(crate) credential: String,
    pub(crate) topics: Topics,
}

impl Site {
    /// Signs in as the platform admin and makes a tenant with one area.
    pub(crate) async fn start(relay: &RelayProcess) -> Result<Site, BoxError> {
        Site::start_named(relay, "Bench").await
    }

    /// [`Site::start`] with a tenant named `name` (one tenant a name).
    pub(crate) async fn start_named(relay: &RelayProcess, name: &str) -> Result<Site, BoxError> {
        let http = reqwest::Client::new();
        let base = relay.base.clone();
        let login = json!({"email": ROOT.0, "password": ROOT.1});
        let login = post(&http, &format!("{base}/api/v1/auth/login"), None, login).await?;
        let token = text(&login, "access_token")?;
        let tenants = format!("{base}/api/v1/tenants");
        let tenant = http
            .post(&tenants)
            .bearer_auth(&token)
            .header("idempotency-key", format!("bench-tenant-{name}"))
            .json(&json!({ "name": name }))
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
        Ok(Site {
            devices: format!("{tenants}/{tenant}/devices"),
            tenant: format!("{tenants}/{tenant}"),
            area: text(&area, "id")?,
            http,
            base,
            token,
        })
    }

    /// The tenant's id.
    pub(crate) fn tenant_id(&self) -> &str {
        self.tenant.rsplit('/').next().unwrap_or_default()
    }

    /// A tenant admin of this tenant (a user made with the role, as a platform admin does when
    /// onboarding a tenant) signed in: their access token.
    pub(crate) async fn tenant_admin(
        &self,
        email: &str,
        password: &str,
    ) -> Result<String, BoxError> {
        let users = format!("{}/users", self.tenant);
        let user = json!({"email": email, "password": password});
        let user = post(&self.http, &users, Some(&self.token), user).await?;
        let grants = format!("{users}/{}/grants", text(&user, "id")?);
        let role = json!({"role": "tenant_admin"});
        post(&self.http, &grants, Some(&self.token), role).await?;
        let login = json!({"email": email, "password": password, "tenant_id": self.tenant_id()});
        let url = format!("{}/api/v1/auth/login", self.base);
        text(&post(&self.http, &url, None, login).await?, "access_token")
    }

    /// Registers a box named `name` in the area.
    pub(crate) async fn register(&self, name: &str) -> Result<Registered, BoxError> {
        let device = json!({"name": name, "area_id": self.area});
        let device = post(&self.http, &self.devices, Some(&self.token), device).await?;
        Ok(Registered {
            id: text(&device["device"], "id")?,
            key: text(&device, "provisioning_key")?,
        })
    }

    /// Activates a registered box as the box itself does (`POST /api/v1/devices/activate`).
    pub(crate) async fn activate(&self, registered: &Registered) -> Result<Identity, BoxError> {
        let body = json!({"device_id": registered.id, "provisioning_key": registered.key});
        let url = format!("{}/api/v1/devices/activate", self.base);
        let activated = post(&self.http, &url, None, body).await?;
        Ok(Identity {
            device: registered.id.clone(),
            credential: text(&activated, "credential")?,
            topics: Topics::with_prefix(&text(&activated["broker"], "topic_prefix")?),
        })
    }

    /// Activates the real box `daemon` as `registered` through its own API, as `dipper
    /// uplink activate` does, and waits until the relay shows it online.
    pub(crate) async fn activate_box(
        &self,
        daemon: &Daemon,
        registered: &Registered,
    ) -> Result<(), BoxError> {
        let activate = json!({
            "relay": self.base, "device_id": registered.id, "key": registered.key,
        });
        let url = format!("{}/uplink/activate", daemon.base);
        crate::daemon::post(&daemon.http(), &url, &activate).await?;
        self.wait_online(&registered.id).await
    }

    /// Waits until the relay shows `device` online.
    pub(crate) async fn wait_online(&self, device: &str) -> Result<(), BoxError> {
        let url = format!("{}/{device}", self.devices);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen: Value = self
                .http
                .get(&url)
                .bearer_auth(&self.token)
                .send()
                .await?
                .json()
                .await?;
            if seen["online"] == true {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(
                    format!("the relay did not see box {device} online within 30 s").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One two-way call to `device`; its answer (`state`, `result`, `error`).
    pub(crate) async fn call(
        &self,
        device: &str,
        method: &str,
        params: Value,
        timeout_ms: u64,
    ) -> Result<Value, BoxError> {
        let url = format!("{}/{device}/rpc", self.devices);
        let body = json!({"method": method, "params": params, "timeout_ms": timeout_ms});
        post(&self.http, &url, Some(&self.token), body).await
    }

    /// `n` two-way `ping` calls to `device` in a row, each timed from request to answer.
    pub(crate) async fn pings(&self, device: &str, n: usize) -> Result<Vec<Duration>, BoxError> {
        let url = format!("{}/{device}/rpc", self.devices);
        let body = json!({"method": "ping", "timeout_ms": 10000});
        super::timed(n, |_| async {
            let answer = post(&self.http, &url, Some(&self.token), body.clone()).await?;
            if answer["state"] != "successful" {
                return Err(format!("an RPC ended {}", answer["state"]).into());
            }
            Ok(())
        })
        .await
    }
}

impl Site {
    /// POSTs `body` to `{tenant}{path}` (`/searches`) as the platform admin; its answer.
    pub(crate) async fn post_tenant(&self, path: &str, body: Value) -> Result<Value, BoxError> {
        let url = format!("{}{path}", self.tenant);
        post(&self.http, &url, Some(&self.token), body).await
    }

    /// GETs `{tenant}{path}` as the platform admin; its JSON answer of a 2xx.
    pub(crate) async fn get_tenant(&self, path: &str) -> Result<Value, BoxError> {
        let url = format!("{}{path}", self.tenant);
        let response = self.http.get(&url).bearer_auth(&self.token).send().await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("GET {url}: {status} {answer}").into());
        }
        Ok(answer)
    }

    /// Enrols a person named `name` in the face library with one JPEG photo; their id.
    pub(crate) async fn enrol(&self, name: &str, jpeg: Vec<u8>) -> Result<String, BoxError> {
        let person = self.post_tenant("/people", json!({ "name": name })).await?;
        let id = text(&person, "id")?;
        let url = format!("{}/people/{id}/photos", self.tenant);
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header("content-type", "image/jpeg")
            .body(jpeg)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("POST {url}: {status} {body}").into());
        }
        Ok(id)
    }
}

/// POSTs `body` as JSON; the JSON answer of a 2xx, else an error with the status and body.
/// A 503 (the relay's SQLite busy under concurrent writes: nothing was committed, "retry
/// shortly") is retried as a client should, a little later each time, up to 20 times.
async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Value,
) -> Result<Value, BoxError> {
    let mut attempt = 0_u64;
    loop {
        attempt += 1;
        let mut request = http.post(url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE && attempt < 20 {
            tracing::info!(url, attempt, "the relay is busy; retrying");
            tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            continue;
        }
        if !status.is_success() {
            return Err(format!("POST {url}: {status} {answer}").into());
        }
        return Ok(answer);
    }
}

pub(crate) fn text(value: &Value, key: &str) -> Result<String, BoxError> {
    value[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {key} in {value}").into())
}
