//! [`BrokerAdmin`]: commands to Mosquitto's dynamic security plugin over MQTT, each
//! answered on `$CONTROL/dynamic-security/v1/response` and matched by its correlation data.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::{
    BrokerError,
    acl::{RELAY_ROLE, box_role, box_role_acls, relay_role_acls, tenant_group},
};

const CONTROL_TOPIC: &str = "$CONTROL/dynamic-security/v1";
const RESPONSE_TOPIC: &str = "$CONTROL/dynamic-security/v1/response";

/// How to reach the broker as its dynamic-security administrator.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// `mqtt://host:port` (plain TCP: loopback only) or `mqtts://host:port`.
    pub url: String,
    pub admin_username: String,
    pub admin_password: String,
    /// How long a command may wait for its answer.
    pub command_timeout: Duration,
    /// The CA that signed the broker's certificate (PEM), for `mqtts://`; the system's
    /// roots when absent.
    pub ca_pem: Option<Vec<u8>>,
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// A connection to the broker's control topic. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct BrokerAdmin {
    client: AsyncClient,
    waiters: Waiters,
    timeout: Duration,
}

/// `(host, port, tls)` of a broker URL.
pub(crate) fn parse_url(url: &str) -> Result<(String, u16, bool), BrokerError> {
    let bad = |reason: &str| BrokerError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("mqtt://") {
        (false, rest)
    } else {
        return Err(bad("expected mqtt://host:port or mqtts://host:port"));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let port = port.parse().map_err(|_| bad("the port is not a number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((host.to_owned(), port, tls))
}

impl BrokerAdmin {
    /// Connects and subscribes to the plugin's answers; fails when the broker cannot be
    /// reached or refuses the credentials.
    pub async fn connect(settings: &BrokerSettings) -> Result<BrokerAdmin, BrokerError> {
        let (host, port, tls) = parse_url(&settings.url)?;
        let client_id = format!("dipper-relay-admin-{}", Uuid::new_v4().simple());
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_credentials(&settings.admin_username, &settings.admin_password);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_clean_session(true);
        if tls {
            options.set_transport(match &settings.ca_pem {
                Some(ca) => rumqttc::Transport::tls(ca.clone(), None, None),
                None => rumqttc::Transport::tls_with_default_config(),
            });
        }
        let (client, mut events) = AsyncClient::new(options, 64);
        let connect_error = |reason: String| BrokerError::Connect {
            url: settings.url.clone(),
            reason,
        };
        // The first connection is awaited here, so a wrong password is an error now.
        let first = tokio::time::timeout(settings.command_timeout, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await
        .map_err(|_| connect_error("no answer".to_owned()))?;
        first.map_err(connect_error)?;
        let waiters: Waiters = Arc::default();
        let (subscribed_tx, mut subscribed) = watch::channel(false);
        tokio::spawn(drive(
            client.clone(),
            events,
            Arc::clone(&waiters),
            subscribed_tx,
        ));
        client
            .subscribe(RESPONSE_TOPIC, QoS::AtLeastOnce)
            .await
            .map_err(|_| BrokerError::Disconnected)?;
        tokio::time::timeout(settings.command_timeout, subscribed.wait_for(|s| *s))
            .await
            .map_err(|_| BrokerError::Timeout {
                command: "subscribe",
                after: settings.command_timeout,
            })?
            .map_err(|_| BrokerError::Disconnected)?;
        Ok(BrokerAdmin {
            client,
            waiters,
            timeout: settings.command_timeout,
        })
    }

    /// Runs one command; `Ok` with the plugin's answer, or its error as [`BrokerError`].
    /// `tolerate` lists errors that mean the work is already done (e.g. `already exists`).
    async fn command(
        &self,
        name: &'static str,
        mut command: Value,
        tolerate: &[&str],
    ) -> Result<Value, BrokerError> {
        let correlation = Uuid::new_v4().to_string();
        command["command"] = json!(name);
        command["correlationData"] = json!(correlation);
        let (tx, rx) = oneshot::channel();
        self.lock_waiters().insert(correlation.clone(), tx);
        let body = json!({ "commands": [command] }).to_string();
        let sent = self
            .client
            .publish(CONTROL_TOPIC, QoS::AtLeastOnce, false, body)
            .await;
        if sent.is_err() {
            self.lock_waiters().remove(&correlation);
            return Err(BrokerError::Disconnected);
        }
        let answer = match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err(BrokerError::Disconnected),
            Err(_) => {
                self.lock_waiters().remove(&correlation);
                return Err(BrokerError::Timeout {
                    command: name,
                    after: self.timeout,
                });
            }
        };
        match answer.get("error").and_then(Value::as_str) {
            Some(error) if tolerate.iter().any(|t| error.contains(t)) => Ok(answer),
            Some(error) => Err(BrokerError::Refused {
                command: name,
                reason: error.to_owned(),
            }),
            None => Ok(answer),
        }
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Value>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes (or updates) the role `name` with exactly `acls`.
    async fn ensure_role(&self, name: &str, acls: Vec<Value>) -> Result<(), BrokerError> {
        let created = self
            .command(
                "createRole",
                json!({ "rolename": name, "acls": acls.clone() }),
                &["already exists"],
            )
            .await?;
        if created.get("error").is_some() {
            // It existed: replace its ACLs with the ones wanted now, unless they are those.
            // Each change makes the broker disconnect every client of the role, and between
            // the removals and the additions the role reaches nothing: every relay instance
            // that starts would otherwise cut off the others sharing the role.
            let role = self
                .command("getRole", json!({ "rolename": name }), &[])
                .await?;
            let old = role["data"]["role"]["acls"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if same_acls(&old, &acls) {
                return Ok(());
            }
            for acl in old {
                self.command(
                    "removeRoleACL",
                    json!({ "rolename": name, "acltype": acl["acltype"], "topic": acl["topic"] }),
                    &["not found"],
                )
                .await?;
            }
            for acl in acls {
                let mut acl = acl;
                acl["rolename"] = json!(name);
                self.command("addRoleACL", acl, &["already exists"]).await?;
            }
        }
        Ok(())
    }

    /// Gives the relay's own broker user the role that reaches every box.
    pub async fn ensure_relay_identity(&self, username: &str) -> Result<(), BrokerError> {
        self.ensure_role(RELAY_ROLE, relay_role_acls()).await?;
        let client = self
            .command("getClient", json!({ "username": username }), &[])
            .await?;
        let has_role = client["data"]["client"]["roles"]
            .as_array()
            .is_some_and(|roles| roles.iter().any(|r| r["rolename"] == RELAY_ROLE));
        if !has_role {
            self.command(
                "addClientRole",
                json!({ "username": username, "rolename": RELAY_ROLE, "priority": 1 }),
                &[],
            )
            .await?;
        }
        Ok(())
    }

    /// Makes the relay's own broker user (or sets its password if it exists) with the role
    /// that reaches every box. Idempotent.
    pub async fn ensure_relay_client(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(), BrokerError> {
        let created = self
            .command(
                "createClient",
                json!({ "username": username, "password": password,
                        "textname": "the Dipper relay" }),
                &["already exists"],
            )
            .await?;
        if created.get("error").is_some() {
            self.command(
                "setClientPassword",
                json!({ "username": username, "password": password }),
                &[],
            )
            .await?;
        }
        self.ensure_relay_identity(username).await
    }

    /// The tenant's group (its boxes are added to it). Idempotent.
    pub async fn create_tenant(&self, tenant: Uuid) -> Result<(), BrokerError> {
        self.command(
            "createGroup",
            json!({ "groupname": tenant_group(tenant) }),
            &["already exists"],
        )
        .await
        .map(drop)
    }

    /// Removes the tenant's group and every box in it. Idempotent.
    pub async fn delete_tenant(&self, tenant: Uuid) -> Result<(), BrokerError> {
        for device in self.tenant_boxes(tenant).await? {
            self.delete_box(device).await?;
        }
        self.command(
            "deleteGroup",
            json!({ "groupname": tenant_group(tenant) }),
            &["not found"],
        )
        .await
        .map(drop)
    }

    /// The box's identity: user and client id `device`, `password`, its own role, in its
    /// tenant's group. Creating one that exists replaces it (a retried or repeated
    /// activation: the old credential stops working and its connection is closed).
    pub async fn create_box(
        &self,
        tenant: Uuid,
        device: Uuid,
        password: &str,
    ) -> Result<(), BrokerError> {
        let role = box_role(device);
        self.ensure_role(&role, box_role_acls(tenant, device))
            .await?;
        self.create_tenant(tenant).await?;
        let username = device.to_string();
        let client = json!({
            "username": username,
            "password": password,
            "clientid": username,
            "textname": format!("box {device} of tenant {tenant}"),
            "roles": [{ "rolename": role, "priority": 1 }],
            "groups": [{ "groupname": tenant_group(tenant), "priority": 1 }],
        });
        let created = self
            .command("createClient", client.clone(), &["already exists"])
            .await?;
        if created.get("error").is_some() {
            self.command(
                "deleteClient",
                json!({ "username": username }),
                &["not found"],
            )
            .await?;
            self.command("createClient", client, &[]).await?;
        }
        Ok(())
    }

    /// Removes a box's identity and role; the broker disconnects it. Idempotent.
    pub async fn delete_box(&self, device: Uuid) -> Result<(), BrokerError> {
        self.command(
            "deleteClient",
            json!({ "username": device.to_string() }),
            &["not found"],
        )
        .await?;
        self.command(
            "deleteRole",
            json!({ "rolename": box_role(device) }),
            &["not found"],
        )
        .await
        .map(drop)
    }

    /// Enables or disables one box's identity; a disabled box is disconnected at once and
    /// cannot connect again until enabled.
    pub async fn set_box_enabled(&self, device: Uuid, enabled: bool) -> Result<(), BrokerError> {
        let command = if enabled {
            "enableClient"
        } else {
            "disableClient"
        };
        self.command(command, json!({ "username": device.to_string() }), &[])
            .await
            .map(drop)
    }

    /// Enables or disables every box of a tenant.
    pub async fn set_tenant_enabled(&self, tenant: Uuid, enabled: bool) -> Result<(), BrokerError> {
        for device in self.tenant_boxes(tenant).await? {
            self.set_box_enabled(device, enabled).await?;
        }
        Ok(())
    }

    /// The boxes in a tenant's group (none when the group does not exist).
    pub async fn tenant_boxes(&self, tenant: Uuid) -> Result<Vec<Uuid>, BrokerError> {
        let group = self
            .command(
                "getGroup",
                json!({ "groupname": tenant_group(tenant) }),
                &["not found"],
            )
            .await?;
        Ok(group["data"]["group"]["clients"]
            .as_array()
            .map(|clients| {
                clients
                    .iter()
                    .filter_map(|c| c["username"].as_str())
                    .filter_map(|name| Uuid::parse_str(name).ok())
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Polls the connection (rumqttc reconnects inside `poll`), hands each answer to its
/// waiter, and subscribes to the answers again after every reconnection.
async fn drive(
    client: AsyncClient,
    mut events: EventLoop,
    waiters: Waiters,
    subscribed: watch::Sender<bool>,
) {
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                let _ = subscribed.send(true);
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if client
                    .try_subscribe(RESPONSE_TOPIC, QoS::AtLeastOnce)
                    .is_err()
                {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) if publish.topic == RESPONSE_TOPIC => {
                let Ok(body) = serde_json::from_slice::<Value>(&publish.payload) else {
                    tracing::warn!("unreadable answer on the broker's control topic");
                    continue;
                };
                for answer in body["responses"].as_array().into_iter().flatten() {
                    let Some(correlation) = answer["correlationData"].as_str() else {
                        continue;
                    };
                    let waiter = waiters
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(correlation);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(answer.clone());
                    }
                }
            }
            Ok(_) => {}
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(e) => {
                tracing::warn!(error = %e, "broker control connection lost; reconnecting");
                // Fail what waits: its answer will not come on a new connection.
                waiters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Whether a role's ACLs as the plugin lists them are `wanted`, in any order: the same
/// type, topic, priority and allowance each.
fn same_acls(listed: &[Value], wanted: &[Value]) -> bool {
    let key = |acl: &Value| {
        let field = |name: &str| acl.get(name).cloned().unwrap_or(Value::Null).to_string();
        (
            field("acltype").to_lowercase(),
            field("topic"),
            field("priority"),
            field("allow"),
        )
    };
    let mut listed: Vec<_> = listed.iter().map(key).collect();
    let mut wanted: Vec<_> = wanted.iter().map(key).collect();
    listed.sort();
    wanted.sort();
    listed == wanted
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::same_acls;
    use crate::broker::acl::relay_role_acls;

    #[test]
    fn a_role_with_the_wanted_acls_in_another_order_is_left_alone() {
        let wanted = relay_role_acls();
        let mut listed = wanted.clone();
        listed.reverse();
        assert!(same_acls(&listed, &wanted));
        listed.pop();
        assert!(!same_acls(&listed, &wanted), "one missing");
        let mut changed = wanted.clone();
        changed[0]["allow"] = json!(false);
        assert!(!same_acls(&changed, &wanted), "one denied");
    }
}
