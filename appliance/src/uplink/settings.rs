//! Configuration set remotely: the `setConfig` RPC and shared attributes, by dotted key
//! (`search.match_distance`, `uplink.telemetry_interval_ms`).
//!
//! Contract: only the keys [`settable`] allows may be set (never the data directory, the
//! API's address, the uplink's identity or CA). The change is merged over `box.toml` and
//! every override already stored, and the whole configuration is checked as at start; a
//! bad value refuses the whole change with the key and the reason, and nothing is applied.
//! A good change is stored in `config_overrides` (in the same transaction as the RPC's
//! answer) and applied over `box.toml` at every start; the uplink's own keys take effect
//! at once, the others at the next start (the answer lists which).

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::rpc::RpcError;
use protocol::telemetry::SharedAttributes;
use rusqlite::{Connection, Transaction, params};
use serde_json::{Value, json};

use super::{Kind, Shared, now_ms, outbox, rpc};
use crate::config::BoxConfig;
use crate::db::{Database, DbError, SqlResultExt};

/// Keys that take effect without a restart.
const LIVE: &[&str] = &[
    "uplink.telemetry_interval_ms",
    "uplink.outbox_quota_kib",
    "uplink.uploads_at_once",
    "uplink.upload_retry_min_ms",
    "uplink.upload_retry_max_ms",
    "uplink.upload_timeout_seconds",
];

/// Whether `key` may be set remotely.
fn settable(key: &str) -> bool {
    const SECTIONS: &[&str] = &[
        "search.",
        "index.",
        "motion.",
        "downloads.",
        "disk.",
        "shutdown.",
    ];
    const UPLINK: &[&str] = &[
        "uplink.telemetry_interval_ms",
        "uplink.outbox_quota_kib",
        "uplink.reconnect_min_ms",
        "uplink.reconnect_max_ms",
        "uplink.keep_alive_seconds",
        "uplink.in_flight",
        "uplink.relay_window",
        "uplink.republish_after_ms",
        "uplink.uploads_at_once",
        "uplink.upload_retry_min_ms",
        "uplink.upload_retry_max_ms",
        "uplink.upload_timeout_seconds",
    ];
    SECTIONS.iter().any(|s| key.starts_with(s)) || UPLINK.contains(&key)
}

/// The overrides stored so far.
pub(crate) fn stored(conn: &Connection) -> Result<BTreeMap<String, Value>, DbError> {
    let context = "read the configuration overrides";
    let mut statement = conn
        .prepare("SELECT key, value FROM config_overrides ORDER BY key")
        .purpose(context)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .purpose(context)?;
    let mut overrides = BTreeMap::new();
    for row in rows {
        let (key, value) = row.purpose(context)?;
        overrides.insert(key, serde_json::from_str(&value).unwrap_or(Value::Null));
    }
    Ok(overrides)
}

/// `config` with the stored overrides applied; `config` itself (and a warning) if they no
/// longer fit it.
pub(crate) async fn with_stored(db: &Database, config: BoxConfig) -> Result<BoxConfig, DbError> {
    let overrides = db.read(stored).await?;
    if overrides.is_empty() {
        return Ok(config);
    }
    match config.with_overrides(&overrides) {
        Ok(changed) => Ok(changed),
        Err(e) => {
            tracing::warn!(error = %e, "the configuration set remotely no longer fits box.toml; box.toml alone is used");
            Ok(config)
        }
    }
}

fn store(tx: &Transaction<'_>, values: &BTreeMap<String, Value>) -> Result<(), DbError> {
    for (key, value) in values {
        tx.execute(
            "INSERT INTO config_overrides (key, value, set_at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, set_at_ms = excluded.set_at_ms",
            params![key, value.to_string(), now_ms()],
        )
        .purpose("store a configuration override")?;
    }
    Ok(())
}

/// The configuration with `values` applied, checked; the error names the key.
async fn checked(shared: &Shared, values: &BTreeMap<String, Value>) -> Result<BoxConfig, RpcError> {
    if values.is_empty() {
        return Err(RpcError::new("invalid_params", "values: no key to set"));
    }
    if let Some(key) = values.keys().find(|k| !settable(k)) {
        return Err(RpcError::new(
            "invalid_params",
            format!("{key}: cannot be set remotely"),
        ));
    }
    let mut all = shared
        .db
        .read(stored)
        .await
        .map_err(|e| RpcError::new("internal", e.to_string()))?;
    all.extend(values.clone());
    let current = shared.config.read().clone();
    current
        .with_overrides(&all)
        .map_err(|e| RpcError::new("invalid_params", e.to_string()))
}

/// Validates, persists (with the answer to request `id`), and applies.
pub(super) async fn set_config(shared: &Arc<Shared>, id: u64, values: BTreeMap<String, Value>) {
    let config = match checked(shared, &values).await {
        Ok(config) => config,
        Err(error) => {
            rpc::respond(shared, id, Err(error)).await;
            return;
        }
    };
    let (live, restart): (Vec<&String>, Vec<&String>) =
        values.keys().partition(|k| LIVE.contains(&k.as_str()));
    let answer = json!({ "applied": live, "restart_required": restart });
    let quota = config.uplink.quota_bytes();
    let topic = format!("rpc/response/{id}");
    let stored_values = values.clone();
    let written = shared
        .db
        .write(move |tx| {
            store(tx, &stored_values)?;
            let payload = rpc::response_payload(Ok(answer));
            outbox::enqueue(tx, Kind::RpcResponse, &topic, quota, now_ms(), payload)
        })
        .await;
    match written {
        Ok(_) => {
            *shared.config.write() = config;
            shared.wake.notify_one();
            tracing::info!(keys = ?values.keys().collect::<Vec<_>>(), "uplink: configuration set remotely");
        }
        Err(e) => {
            tracing::error!(error = %e, "uplink: cannot store a configuration change");
            let error = RpcError::new("internal", format!("not stored: {e}"));
            rpc::respond(shared, id, Err(error)).await;
        }
    }
}

/// A change made on the local page: checked and stored as `setConfig` is; the keys that
/// wait for a restart, or the refusal (naming the key).
pub(super) async fn set_local(
    shared: &Arc<Shared>,
    values: BTreeMap<String, Value>,
) -> Result<Vec<String>, String> {
    let config = checked(shared, &values).await.map_err(|e| e.message)?;
    let stored_values = values.clone();
    shared
        .db
        .write(move |tx| store(tx, &stored_values))
        .await
        .map_err(|e| format!("not stored: {e}"))?;
    *shared.config.write() = config;
    shared.wake.notify_one();
    tracing::info!(keys = ?values.keys().collect::<Vec<_>>(), "configuration set on the local page");
    Ok(values
        .into_keys()
        .filter(|k| !LIVE.contains(&k.as_str()))
        .collect())
}

/// Shared attributes from the relay: applied like `setConfig`; the outcome (applied, or
/// refused with the reason) is reported back in the client attributes.
pub(super) async fn apply_shared(shared: &Arc<Shared>, payload: &[u8]) {
    let values = match protocol::decode::<SharedAttributes>(payload) {
        Ok(attributes) => attributes.values,
        Err(e) => {
            rpc::dropped("invalid_attributes", "attributes");
            return report(
                shared,
                json!({ "config_rejected": { "attributes": e.to_string() } }),
            )
            .await;
        }
    };
    // `v` is the message's version, not a key.
    let values: BTreeMap<String, Value> = values.into_iter().filter(|(k, _)| k != "v").collect();
    let outcome = match checked(shared, &values).await {
        Ok(config) => {
            let stored_values = values.clone();
            match shared.db.write(move |tx| store(tx, &stored_values)).await {
                Ok(()) => {
                    *shared.config.write() = config;
                    json!({ "config_applied": values.keys().collect::<Vec<_>>() })
                }
                Err(e) => {
                    json!({ "config_rejected": { "attributes": format!("not stored: {e}") } })
                }
            }
        }
        Err(error) => json!({ "config_rejected": { "attributes": error.message } }),
    };
    report(shared, outcome).await;
}

async fn report(shared: &Shared, extra: Value) {
    if let Err(e) = super::report::send_attributes(shared, extra).await {
        tracing::warn!(error = %e, "uplink: cannot report the shared attributes' outcome");
    }
}
