//! Applies what boxes send in arrival order: the topic names the tenant and device, which
//! must be an active device of that tenant; the payload is read with the protocol's bounds;
//! a sequenced message takes its (device, seq) place in the transaction that applies it, so
//! a second delivery changes nothing. What has arrived together is applied together: a run
//! of one tenant's messages in one transaction (up to [`BATCH`]), each alone if that fails. Each message is
//! acknowledged to the broker only after its transaction ends, whatever its outcome, and
//! its `seq` to the box (`acks.rs`) unless it failed. A search event, and the answer to a
//! search's `createSearch`, also move that box's part of the search (`searches.rs`).

use std::sync::Arc;
use std::time::Duration;

use protocol::rpc::RpcResponse;
use protocol::search::SearchEvent;
use protocol::status::{DeviceStatus, Presence};
use protocol::telemetry::{ClientAttributes, Telemetry};
use protocol::topics::{Topic, parse_box_topic};
use protocol::{MAX_PAYLOAD_BYTES, ProtocolError};
use rumqttc::v5::mqttbytes::v5::Publish;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Inner;
use super::metrics::Outcome;
use super::session::Work;
use crate::db::{DbError, Mode, Scope, Tx, now_ms};
use crate::store::rpcs;
use crate::store::uplink as store;

/// A message read from its payload.
enum Report {
    Telemetry(Telemetry),
    Attributes(ClientAttributes),
    Event(SearchEvent),
    Status(DeviceStatus),
    RpcResponse(i64, RpcResponse),
}

/// What to do once a message's transaction committed.
enum After {
    Nothing,
    /// Wake whoever waits for this RPC's answer (and the event streams of the search whose
    /// part it moved, if any; and move on the software rollout `(tenant, rollout)` whose
    /// update the box refused, if any).
    Answered(Uuid, i64, Option<Uuid>, Option<(Uuid, Uuid)>),
    /// A box's software update reached a final state: the rollout `(tenant, rollout)` may
    /// move on.
    Rollout(Uuid, Uuid),
    /// The box came online: send what is queued for it.
    Online(Uuid, Uuid),
    /// A search changed: wake its event streams.
    Search(Uuid),
}

/// A message dropped or failed, with the reason logged.
struct Dropped(Outcome, String);

/// Messages applied in one transaction at most.
const BATCH: usize = 128;

pub(super) async fn worker(inner: Arc<Inner>, mut work: mpsc::UnboundedReceiver<Work>) {
    let mut items = Vec::with_capacity(BATCH);
    while work.recv_many(&mut items, BATCH).await > 0 {
        let mut messages = Vec::new();
        let mut sent = Vec::new();
        for item in items.drain(..) {
            match item {
                Work::Message(publish) => messages.push(publish),
                Work::Delivered(delivered) => sent.push(delivered),
            }
        }
        // Marking an RPC delivered changes nothing once its answer is applied, so the
        // deliveries need not keep their place among the messages.
        batch(&inner, messages).await;
        delivered(&inner, sent).await;
    }
}

/// Marks the RPCs the broker took `delivered`, one transaction per tenant.
async fn delivered(inner: &Inner, mut sent: Vec<super::session::Sent>) {
    sent.sort_unstable();
    for run in sent.chunk_by(|a, b| a.0 == b.0) {
        let tenant = run[0].0;
        let delivered = async {
            let mut tx = inner.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            for &(tenant, device, request_id) in run {
                rpcs::mark_delivered(&mut tx, (tenant, device), request_id).await?;
            }
            tx.commit().await?;
            Ok::<(), DbError>(())
        };
        if let Err(error) = delivered.await {
            tracing::warn!(%tenant, rpcs = run.len(), %error, "could not mark RPCs delivered");
        }
    }
}

/// A message as its topic and payload say, before the database.
struct Read<'a> {
    publish: &'a Publish,
    /// The box the topic names, if it names one.
    ids: Option<(Uuid, Uuid)>,
    /// The topic's kind, for the counters.
    label: &'static str,
    /// What the message is, or why it is dropped.
    message: Result<Message<'a>, Dropped>,
}

/// A message that reads as its topic's.
struct Message<'a> {
    ids: (Uuid, Uuid),
    report: Report,
    /// The payload as text (checked UTF-8).
    body: &'a str,
}

impl Read<'_> {
    /// The tenant of a readable message.
    fn tenant(&self) -> Option<Uuid> {
        self.message.as_ref().ok().map(|m| m.ids.0)
    }

    /// The outbox sequence the message carries: read from its report, or from the payload
    /// alone when it did not read.
    fn seq(&self) -> Option<u64> {
        match &self.message {
            Ok(message) => sequence(&message.report).0,
            Err(_) => protocol::Sequenced::of(&self.publish.payload),
        }
    }
}

/// Applies messages in arrival order: each run of readable messages of one tenant in one
/// transaction (falling back to one transaction each when it fails), then acknowledges them
/// all, in order.
async fn batch(inner: &Arc<Inner>, publishes: Vec<Publish>) {
    if publishes.is_empty() {
        return;
    }
    let reads: Vec<Read<'_>> = publishes.iter().map(read_message).collect();
    let mut outcomes: Vec<Result<After, Dropped>> = Vec::with_capacity(reads.len());
    let mut i = 0;
    while i < reads.len() {
        let Some(tenant) = reads[i].tenant() else {
            if let Err(Dropped(outcome, reason)) = &reads[i].message {
                outcomes.push(Err(Dropped(*outcome, reason.clone())));
            }
            i += 1;
            continue;
        };
        let run_end = reads[i..]
            .iter()
            .position(|r| r.tenant() != Some(tenant))
            .map_or(reads.len(), |n| i + n);
        let run: Vec<&Message<'_>> = reads[i..run_end]
            .iter()
            .filter_map(|r| r.message.as_ref().ok())
            .collect();
        outcomes.extend(apply_run(inner, tenant, &run).await);
        i = run_end;
    }
    for (read, outcome) in reads.iter().zip(outcomes) {
        finish(inner, read, outcome).await;
    }
}

/// Counts one message's outcome, acknowledges it to its box (unless it failed or is of a
/// newer protocol) and to the broker, then does what follows from it.
async fn finish(inner: &Arc<Inner>, read: &Read<'_>, outcome: Result<After, Dropped>) {
    let publish = read.publish;
    // Done with for good (applied now or before, or never applicable): the box may let it
    // go. One that failed, or that a newer relay will read, it keeps and sends again.
    if !matches!(
        outcome,
        Err(Dropped(Outcome::Failed | Outcome::NewerVersion, _))
    ) && let Some((tenant, device)) = read.ids
        && let Some(seq) = read.seq()
    {
        inner.unacknowledged.note(tenant, device, seq);
    }
    match outcome {
        Ok(after) => {
            inner.counts.message(read.label, Outcome::Applied);
            // Acknowledged before the follow-up, which may publish.
            let _ = inner.client.ack(publish).await;
            match after {
                After::Nothing => {}
                After::Answered(device, request_id, search, rollout) => {
                    if let Some(waiter) = inner.lock_waiters().remove(&(device, request_id)) {
                        let _ = waiter.send(());
                    }
                    if let Some(search) = search {
                        let _ = inner.search_changes.send(search);
                    }
                    if let Some(ids) = rollout {
                        super::rollouts::advance(inner, ids).await;
                    }
                }
                After::Rollout(tenant, rollout) => {
                    super::rollouts::advance(inner, (tenant, rollout)).await;
                }
                After::Online(tenant, device) => super::rpc::flush(inner, tenant, device).await,
                After::Search(search) => {
                    let _ = inner.search_changes.send(search);
                    // A new result, or a box asking again, may want an upload grant.
                    inner.grants_wanted.notify_one();
                }
            }
        }
        Err(Dropped(outcome, reason)) => {
            inner.counts.message(read.label, outcome);
            let topic = String::from_utf8_lossy(&publish.topic);
            match outcome {
                Outcome::Duplicate => tracing::debug!(%topic, "duplicate message ignored"),
                Outcome::Failed => tracing::error!(%topic, %reason, "message not applied"),
                _ => tracing::warn!(%topic, outcome = outcome.as_str(), %reason, "message dropped"),
            }
            let _ = inner.client.ack(publish).await;
            // Every instance gets every RPC answer and only the first to take its (device,
            // seq) applies it: to the others it is a duplicate, yet the call one of them
            // waits on is answered (the row says how).
            if let (Outcome::Duplicate, Ok(message)) = (outcome, &read.message)
                && let Report::RpcResponse(request_id, _) = message.report
                && let Some(waiter) = inner.lock_waiters().remove(&(message.ids.1, request_id))
            {
                let _ = waiter.send(());
            }
        }
    }
}

fn label(topic: &Topic) -> &'static str {
    match topic {
        Topic::Telemetry => "telemetry",
        Topic::Attributes => "attributes",
        Topic::Events => "events",
        Topic::Status => "status",
        Topic::RpcResponse(_) => "rpc_response",
        _ => "other",
    }
}

/// Reads a message from its topic and payload alone.
fn read_message(publish: &Publish) -> Read<'_> {
    let parsed = parse_box_topic(&String::from_utf8_lossy(&publish.topic));
    let (ids, label) = match &parsed {
        Some((tenant, device, topic)) => (Some((*tenant, *device)), label(topic)),
        None => (None, "other"),
    };
    let message = match parsed {
        Some((tenant, device, topic)) => {
            read_payload(&topic, &publish.payload).map(|(report, body)| Message {
                ids: (tenant, device),
                report,
                body,
            })
        }
        None => Err(Dropped(
            Outcome::UnknownTopic,
            "not a box's topic".to_owned(),
        )),
    };
    Read {
        publish,
        ids,
        label,
        message,
    }
}

/// The payload as the topic's report, with its text, or why it is dropped.
fn read_payload<'a>(topic: &Topic, payload: &'a [u8]) -> Result<(Report, &'a str), Dropped> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        let reason = format!("{} bytes, over {MAX_PAYLOAD_BYTES}", payload.len());
        return Err(Dropped(Outcome::TooLarge, reason));
    }
    let report = read(topic, payload).map_err(|e| match e {
        ProtocolError::Version { .. } => Dropped(Outcome::NewerVersion, e.to_string()),
        e => Dropped(Outcome::Malformed, e.to_string()),
    })?;
    let body =
        std::str::from_utf8(payload).map_err(|e| Dropped(Outcome::Malformed, e.to_string()))?;
    Ok((report, body))
}

/// Applies a run of one tenant's messages in one transaction; if that fails, each in its
/// own, with retries while the database is busy.
async fn apply_run(
    inner: &Inner,
    tenant: Uuid,
    run: &[&Message<'_>],
) -> Vec<Result<After, Dropped>> {
    if run.len() > 1 {
        let together = async {
            let mut tx = inner.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            let mut outcomes = Vec::with_capacity(run.len());
            for message in run {
                // A message dropped here wrote nothing: the others go on in the transaction.
                match apply_in(&mut tx, message).await {
                    Ok(after) => outcomes.push(Ok(after)),
                    Err(Applying::Dropped(dropped)) => outcomes.push(Err(dropped)),
                    Err(Applying::Db(error)) => return Err(error),
                }
            }
            tx.commit().await?;
            Ok::<_, DbError>(outcomes)
        };
        match together.await {
            Ok(outcomes) => return outcomes,
            Err(error) => {
                tracing::debug!(%error, messages = run.len(), "a batch of messages failed; applying each alone");
            }
        }
    }
    let mut outcomes = Vec::with_capacity(run.len());
    for message in run {
        outcomes.push(apply_alone(inner, message).await);
    }
    outcomes
}

/// Applies one message in its own transaction, retrying while the database is busy.
async fn apply_alone(inner: &Inner, message: &Message<'_>) -> Result<After, Dropped> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let applied = async {
            let mut tx = inner
                .db
                .begin(Scope::Tenant(message.ids.0), Mode::Write)
                .await?;
            let after = apply_in(&mut tx, message).await?;
            tx.commit().await?;
            Ok::<_, Applying>(after)
        };
        match applied.await {
            Err(Applying::Db(DbError::Busy(reason))) if attempt < 5 => {
                tracing::debug!(%reason, attempt, "database busy applying a message; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(Applying::Db(error)) => return Err(Dropped(Outcome::Failed, error.to_string())),
            Err(Applying::Dropped(dropped)) => return Err(dropped),
            Ok(after) => return Ok(after),
        }
    }
}

/// Reads the payload as the topic's message.
fn read(topic: &Topic, payload: &[u8]) -> Result<Report, ProtocolError> {
    Ok(match topic {
        Topic::Telemetry => Report::Telemetry(protocol::decode(payload)?),
        Topic::Attributes => Report::Attributes(protocol::decode(payload)?),
        Topic::Events => Report::Event(protocol::decode(payload)?),
        Topic::Status => Report::Status(DeviceStatus::decode(payload)?),
        Topic::RpcResponse(id) => {
            let id = i64::try_from(*id)
                .map_err(|_| ProtocolError::Malformed(format!("RPC id {id} out of range")))?;
            Report::RpcResponse(id, RpcResponse::decode(payload)?)
        }
        other => {
            return Err(ProtocolError::Malformed(format!(
                "the relay takes no {other:?} from boxes"
            )));
        }
    })
}

enum Applying {
    Db(DbError),
    Dropped(Dropped),
}

impl From<DbError> for Applying {
    fn from(error: DbError) -> Self {
        Applying::Db(error)
    }
}

impl From<sqlx::Error> for Applying {
    fn from(error: sqlx::Error) -> Self {
        Applying::Db(error.into())
    }
}

/// The outbox sequence of a report, if it has one, and the kind its place is kept under.
fn sequence(report: &Report) -> (Option<u64>, &'static str) {
    match report {
        Report::Telemetry(t) => (t.seq, "telemetry"),
        Report::Attributes(a) => (a.seq, "attributes"),
        Report::Event(e) => (Some(e.seq), "event"),
        Report::RpcResponse(_, r) => (r.seq, "rpc_response"),
        Report::Status(_) => (None, "status"),
    }
}

/// The outbox sequence of a report as stored, if it has one.
fn seq(report: &Report) -> Result<Option<(i64, &'static str)>, Dropped> {
    let (seq, kind) = sequence(report);
    seq.map(|seq| {
        i64::try_from(seq)
            .map(|seq| (seq, kind))
            .map_err(|_| Dropped(Outcome::Malformed, format!("seq {seq} out of range")))
    })
    .transpose()
}

/// Applies one message in `tx`. A message dropped here (unknown or inactive device, a
/// duplicate) has written nothing.
async fn apply_in(tx: &mut Tx, message: &Message<'_>) -> Result<After, Applying> {
    let (ids, report, body) = (message.ids, &message.report, message.body);
    let (tenant, device) = ids;
    match store::device_status(tx, tenant, device).await? {
        None => {
            let reason = "no such device in this tenant".to_owned();
            return Err(Applying::Dropped(Dropped(Outcome::UnknownDevice, reason)));
        }
        Some(status) if status != "active" => {
            let reason = format!("the device is {status}");
            return Err(Applying::Dropped(Dropped(Outcome::InactiveDevice, reason)));
        }
        Some(_) => {}
    }
    let now = now_ms();
    let mut traffic = None;
    if let Some((seq, kind)) = seq(report).map_err(Applying::Dropped)? {
        let kept = matches!(report, Report::Event(_)).then_some(body);
        if !store::claim_seq(tx, ids, seq, kind, kept, now).await? {
            let reason = format!("seq {seq} applied before");
            return Err(Applying::Dropped(Dropped(Outcome::Duplicate, reason)));
        }
        traffic = Some(("mqtt", body.len()));
    }
    let after = apply_report(tx, ids, report, body, now).await?;
    // Presence alone (the broker keeps and repeats it) bills no traffic; a box going
    // offline is not seen.
    let offline = matches!(report, Report::Status(s) if s.state != Presence::Online);
    if !offline {
        crate::metering::box_message(tx, ids, traffic, now).await?;
    }
    Ok(after)
}

async fn apply_report(
    tx: &mut Tx,
    ids: (Uuid, Uuid),
    report: &Report,
    body: &str,
    now: i64,
) -> Result<After, DbError> {
    Ok(match report {
        Report::Telemetry(t) => {
            let seq = t.seq.and_then(|s| i64::try_from(s).ok());
            store::set_telemetry(tx, ids, body, &t.software_version, (seq, now)).await?;
            After::Nothing
        }
        Report::Attributes(a) => {
            let seq = a.seq.and_then(|s| i64::try_from(s).ok());
            store::set_client_attributes(tx, ids, body, &a.software_version, (seq, now)).await?;
            let update = a.software_update.as_ref();
            let rollout = match update {
                Some(report) => crate::software::rollout::record(tx, ids, report, now).await?,
                None => None,
            };
            rollout.map_or(After::Nothing, |rollout| After::Rollout(ids.0, rollout))
        }
        Report::Event(event) => {
            store::touch(tx, ids, now).await?;
            match super::searches::apply_event(tx, ids, event, now).await? {
                Some(search) => After::Search(search),
                None => After::Nothing,
            }
        }
        Report::Status(status) => {
            let online = status.state == Presence::Online;
            let version = status.software_version.as_deref();
            store::set_presence(tx, ids, online, version, now).await?;
            if online {
                // A standing the box missed goes out with what else is queued for it.
                crate::dunning::standing::remind_box(tx, ids, now).await?;
                After::Online(ids.0, ids.1)
            } else {
                After::Nothing
            }
        }
        Report::RpcResponse(request_id, response) => {
            let (state, answer) = match (&response.result, &response.error) {
                (_, Some(error)) => ("failed", serde_json::json!({ "error": error })),
                (result, None) => ("successful", serde_json::json!({ "result": result })),
            };
            let answer = answer.to_string();
            let completed = rpcs::complete(tx, ids, *request_id, (state, &answer), now).await?;
            if completed && response.seq.is_none() {
                // Sequenced answers are counted with their place; this one counts once, as
                // it completes its RPC.
                let bytes = i64::try_from(body.len()).unwrap_or(i64::MAX);
                let hour = crate::metering::zones::hour_start(now);
                let meter = (crate::metering::TRAFFIC_BYTES, "rpc");
                crate::store::meters::add(tx, ids.0, hour, meter, bytes).await?;
            }
            store::touch(tx, ids, now).await?;
            let search = super::searches::apply_answer(tx, ids, *request_id, response, now).await?;
            let rollout = match (&response.error, completed) {
                (Some(error), true) => {
                    let why = format!("{}: {}", error.code, error.message);
                    let refused =
                        crate::software::rollout::refused(tx, ids, *request_id, &why, now);
                    refused.await?.map(|rollout| (ids.0, rollout))
                }
                _ => None,
            };
            After::Answered(ids.1, *request_id, search, rollout)
        }
    })
}
