//! Who the box is on the broker: the identity activation stored (sealed in
//! `uplink_identity`), or `[uplink.manual]`. Loading and storing it is here; nothing else
//! reads the table.
//!
//! Contract: the credential is sealed by `db::Secrets` (bound to its purpose) before it is
//! written and opened only to connect; `Debug` never shows it.

use protocol::topics::Topics;
use rusqlite::{OptionalExtension, Transaction, params};

use super::config::UplinkConfig;
use crate::db::{Database, DbError, SqlResultExt};

/// `mqtt://host:port` or `mqtts://host:port`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerAddress {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl BrokerAddress {
    /// Reads a broker URL; the reason names what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<BrokerAddress, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(format!(
                "{url:?} is not mqtt://host:port or mqtts://host:port"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("{url:?}: the port {port:?} is not a number"))?;
                (host, port)
            }
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() || host.contains('/') {
            return Err(format!("{url:?} names no host"));
        }
        Ok(BrokerAddress {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

/// The box's identity on the broker.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) broker_url: String,
    pub(crate) broker: BrokerAddress,
    /// User name and client id.
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) topics: Topics,
    /// Where it came from: `activation` (with the relay's URL) or `manual`.
    pub(crate) source: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("broker_url", &self.broker_url)
            .field("username", &self.username)
            .field("prefix", &self.topics.prefix())
            .finish_non_exhaustive()
    }
}

/// What activation stores.
#[derive(Debug, Clone)]
pub(crate) struct Activated {
    pub(crate) relay_url: String,
    pub(crate) credentials: protocol::activation::DeviceCredentials,
    pub(crate) broker: protocol::activation::BrokerEndpoint,
}

/// The identity to connect with: `[uplink.manual]` when set, else the stored one, else
/// none (the box is not activated).
pub(crate) async fn load(
    db: &Database,
    config: &UplinkConfig,
) -> Result<Option<Identity>, DbError> {
    if let Some(manual) = &config.manual {
        let broker = BrokerAddress::parse(&manual.broker_url)
            .map_err(|reason| DbError::new(crate::db::DbErrorKind::Other, reason))?;
        return Ok(Some(Identity {
            broker_url: manual.broker_url.clone(),
            broker,
            username: manual.username.clone(),
            password: manual.password.clone(),
            topics: Topics::with_prefix(&manual.topic_prefix),
            source: "manual".to_owned(),
        }));
    }
    let secrets = db.secrets().clone();
    let row = db
        .read(|conn| {
            conn.query_row(
                "SELECT relay_url, credential, broker_url, broker_username, topic_prefix
                 FROM uplink_identity WHERE id = 1",
                [],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .purpose("read the uplink identity")
        })
        .await?;
    let Some((relay_url, sealed, broker_url, username, prefix)) = row else {
        return Ok(None);
    };
    let password = secrets.open_credential(&sealed)?;
    let broker = BrokerAddress::parse(&broker_url)
        .map_err(|reason| DbError::new(crate::db::DbErrorKind::Other, reason))?;
    Ok(Some(Identity {
        broker_url,
        broker,
        username,
        password,
        topics: Topics::with_prefix(&prefix),
        source: format!("activation ({relay_url})"),
    }))
}

/// The relay's public key for software packages, as activation delivered it (none before
/// activation, or from a relay without one).
pub(crate) async fn software_key(db: &Database) -> Result<Option<String>, DbError> {
    db.read(|conn| {
        conn.query_row(
            "SELECT software_key FROM uplink_identity WHERE id = 1",
            [],
            |row| row.get::<_, Option<String>>(0),
        )
        .optional()
        .purpose("read the software key")
        .map(Option::flatten)
    })
    .await
}

/// Stores an activation's identity, replacing any earlier one, in the caller's transaction.
pub(crate) fn store(
    tx: &Transaction<'_>,
    secrets: &crate::db::Secrets,
    activated: &Activated,
    now_ms: i64,
) -> Result<(), DbError> {
    let sealed = secrets.seal_credential(&activated.credentials.credential);
    tx.execute(
        "INSERT INTO uplink_identity (id, relay_url, device_id, tenant_id, credential, broker_url,
                                      broker_username, topic_prefix, activated_at_ms,
                                      software_key)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET relay_url = excluded.relay_url,
             device_id = excluded.device_id, tenant_id = excluded.tenant_id,
             credential = excluded.credential, broker_url = excluded.broker_url,
             broker_username = excluded.broker_username, topic_prefix = excluded.topic_prefix,
             activated_at_ms = excluded.activated_at_ms, software_key = excluded.software_key",
        params![
            activated.relay_url,
            activated.credentials.device_id.to_string(),
            activated.credentials.tenant_id.to_string(),
            sealed,
            activated.broker.url,
            activated.broker.username,
            activated.broker.topic_prefix,
            now_ms,
            activated.credentials.software_key
        ],
    )
    .purpose("store the uplink identity")?;
    Ok(())
}
