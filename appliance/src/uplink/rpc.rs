//! What comes from the relay: RPC requests on `{prefix}/rpc/request/{id}`, answered on
//! `{prefix}/rpc/response/{id}` through the outbox, shared attributes on
//! `{prefix}/attributes`, applied as configuration, acknowledgements on `{prefix}/acks`,
//! which let the outbox delete what the relay applied, and snapshot upload grants on
//! `{prefix}/uploads`, kept for the uploader.
//!
//! Contract: every request gets exactly one answer: a result, or an error naming why
//! (`invalid_request` for a payload that is not a request, `invalid_params`,
//! `unknown_method`, `expired` for one whose `expires_at_ms` has passed, which is not
//! run). An answer the database cannot take at once (busy, or the disk full) is written once
//! it can, within ten minutes. A request with an MQTT v5 message expiry (the relay sets one) is live by the
//! broker's word, which holds whatever the box's clock says; `expires_at_ms` is checked
//! against the box's clock only for a request without one (ThingsBoard's). A message on any other topic, or one that cannot be read, is dropped with a
//! counted, logged reason; the connection stays up.

use std::sync::Arc;

use protocol::rpc::{Method, Pong, RpcError, RpcRequest, RpcResponse};
use protocol::topics::{Topic, Topics};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{
    Kind, Shared, now_ms, report, searches, session::Incoming, settings, standing, uploads,
};

/// Handles what the broker delivers, for as long as the session lives.
pub(super) async fn handle_incoming(
    shared: Arc<Shared>,
    topics: Topics,
    mut incoming: mpsc::Receiver<Incoming>,
) {
    while let Some(message) = incoming.recv().await {
        let Incoming {
            topic,
            payload,
            expires_in_seconds,
        } = message;
        match topics.parse(&topic) {
            Some(Topic::RpcRequest(id)) => {
                let shared = Arc::clone(&shared);
                // The broker's expiry says the request is live; only without one does the
                // box compare `expires_at_ms` with its own clock.
                let live = expires_in_seconds.is_some();
                tokio::spawn(async move { answer(&shared, id, &payload, live).await });
            }
            Some(Topic::Attributes) => settings::apply_shared(&shared, &payload).await,
            Some(Topic::Uploads) => uploads::receive(&shared, &payload).await,
            Some(Topic::Acks) => match protocol::acks::Acks::decode(&payload) {
                Ok(acks) => {
                    for (first, last) in acks.ranges {
                        shared.let_go(first, last);
                    }
                    if acks.resend && shared.flight.lock().rewind() {
                        super::publisher::publishing_again("relay_asked");
                        shared.wake.notify_one();
                    }
                }
                Err(e) => {
                    dropped("invalid_acks", &topic);
                    tracing::warn!(error = %e, "uplink: an acknowledgement that does not read");
                }
            },
            _ => dropped("unexpected_topic", &topic),
        }
    }
}

pub(super) fn dropped(reason: &'static str, topic: &str) {
    metrics::counter!("dipper_uplink_dropped_total", "reason" => reason).increment(1);
    tracing::warn!(reason, topic, "uplink: message dropped");
}

/// Runs one request and writes its answer to the outbox; `live`: the broker vouched that it
/// has not expired.
async fn answer(shared: &Arc<Shared>, id: u64, payload: &[u8], live: bool) {
    let request = match RpcRequest::decode(payload) {
        Ok(Ok(request)) => request,
        Ok(Err(error)) => {
            respond(shared, id, Err(error)).await;
            return;
        }
        Err(e) => {
            dropped("invalid_request", &format!("rpc/request/{id}"));
            let error = RpcError::new("invalid_request", e.to_string());
            respond(shared, id, Err(error)).await;
            return;
        }
    };
    let method = request.method_name().to_owned();
    metrics::counter!("dipper_rpc_total", "method" => known(&method)).increment(1);
    if let Some(expires) = request.expires_at_ms
        && !live
        && expires <= now_ms()
    {
        let error = RpcError::new(
            "expired",
            format!("the request expired at {expires} (Unix ms)"),
        );
        respond(shared, id, Err(error)).await;
        return;
    }
    match request.method {
        Method::Ping => {
            let pong = Pong {
                software_version: crate::update::running_version().to_owned(),
            };
            respond(shared, id, Ok(to_value(&pong))).await;
        }
        Method::GetDiagnostics => {
            let result = report::diagnostics(shared).await;
            respond(shared, id, Ok(result)).await;
        }
        Method::SetConfig(set) => settings::set_config(shared, id, set.values).await,
        Method::Restart => restart(shared, id).await,
        Method::CreateSearch(create) => {
            let result = searches::create(shared, create).await;
            respond(shared, id, result).await;
        }
        Method::CancelSearch(cancel) => {
            let result = searches::cancel(shared, cancel.search_id).await;
            respond(shared, id, result).await;
        }
        Method::SetStanding(decision) => standing::set(shared, id, decision).await,
        Method::SoftwareUpdate(update) => {
            let result = software_update(shared, &update).await;
            respond(shared, id, result).await;
        }
        Method::Unknown(name) => {
            respond(shared, id, Err(RpcError::unknown_method(&name))).await;
        }
    }
}

/// A low-cardinality label for a method name (unknown names are not labels).
fn known(method: &str) -> &'static str {
    match method {
        "ping" => "ping",
        "getDiagnostics" => "getDiagnostics",
        "restart" => "restart",
        "setConfig" => "setConfig",
        "createSearch" => "createSearch",
        "cancelSearch" => "cancelSearch",
        "setStanding" => "setStanding",
        "softwareUpdate" => "softwareUpdate",
        _ => "unknown",
    }
}

/// `softwareUpdate`: the update's signature is checked with the key activation stored
/// (refused without one, or when it does not verify), then the updater takes it (refused
/// when not newer and not forced, or while another is under way) and fetches it in the
/// background; what follows is reported in the client attributes (docs/design/0110).
async fn software_update(
    shared: &Shared,
    update: &protocol::software::SoftwareUpdate,
) -> Result<Value, RpcError> {
    let key = super::identity::software_key(&shared.db)
        .await
        .map_err(|e| RpcError::new("internal", e.to_string()))?;
    let Some(text) = key else {
        return Err(RpcError::new(
            "no_trusted_key",
            "this box holds no software key from the relay: activate it again",
        ));
    };
    let key = protocol::software::decode_key(&text)
        .map_err(|e| RpcError::new("no_trusted_key", e.to_string()))?;
    update
        .package
        .verify(&key)
        .map_err(|e| RpcError::new("bad_signature", e.to_string()))?;
    let accepted = shared.updater.begin(update.clone(), text)?;
    Ok(to_value(&accepted))
}

pub(super) fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The outbox row answering request `id` (its seq set when written).
pub(super) fn response_payload(result: Result<Value, RpcError>) -> impl FnOnce(u64) -> Vec<u8> {
    move |seq| {
        let mut response = match result {
            Ok(value) => RpcResponse::ok(&value),
            Err(error) => RpcResponse::err(error),
        };
        response.seq = Some(seq);
        response.encode()
    }
}

/// How long an RPC's answer waits at most for the database to take it (busy, or the disk
/// full): a `createSearch` unanswered leaves its search waiting at the relay until it
/// expires.
const ANSWER_WAITS_AT_MOST: std::time::Duration = std::time::Duration::from_secs(600);

/// Writes the answer to request `id` (again while the database is busy or the disk full, for
/// at most [`ANSWER_WAITS_AT_MOST`]); its sequence, once stored.
pub(super) async fn respond(
    shared: &Arc<Shared>,
    id: u64,
    result: Result<Value, RpcError>,
) -> Option<u64> {
    let topic = format!("rpc/response/{id}");
    let write = || {
        let payload = response_payload(result.clone());
        shared.enqueue(Kind::RpcResponse, topic.clone(), payload)
    };
    let disk = shared.engine.disk();
    let what = "an RPC's answer";
    match disk
        .write_when_room(what, ANSWER_WAITS_AT_MOST, |e| Some(e), write)
        .await
    {
        Ok(super::Enqueued::Stored { seq, .. }) => Some(seq),
        Ok(super::Enqueued::Dropped) => None,
        Err(e) => {
            tracing::error!(error = %e, id, "uplink: cannot write an RPC's answer; the relay will time out");
            None
        }
    }
}

/// Answers, waits (up to 5 s) for the broker to acknowledge the answer, then asks the
/// daemon to stop and exit for its supervisor to start it again.
async fn restart(shared: &Arc<Shared>, id: u64) {
    let answer = serde_json::json!({ "restarting": true, "exit_code": super::RESTART_EXIT_CODE });
    let seq = respond(shared, id, Ok(answer)).await;
    if let Some(seq) = seq {
        let mut acked = shared.acked_batches.subscribe();
        let delivered = async {
            loop {
                let gone = shared
                    .db
                    .read(move |conn| {
                        use crate::db::SqlResultExt;
                        conn.query_row(
                            "SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE seq = ?1)",
                            [seq as i64],
                            |row| row.get::<_, bool>(0),
                        )
                        .purpose("look for the restart's answer")
                    })
                    .await
                    .unwrap_or(false);
                if gone || acked.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(std::time::Duration::from_secs(5), delivered)
            .await
            .is_err()
        {
            tracing::warn!("uplink: restarting before the answer was acknowledged");
        }
    }
    tracing::info!("uplink: restart requested by the relay");
    if let Some(restart) = shared.restart.lock().take() {
        let _ = restart.send(());
    }
}
