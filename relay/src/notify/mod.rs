//! Tenants' notices (docs/design/0080-billing.md, "Notifications"): an invoice issued, a
//! payment received, an overdue warning, a suspension, a restoration, a box offline too long.
//!
//! A change that warrants a notice writes it with [`notify`] in its own transaction, once
//! per channel of the tenant that takes the event (`store::notifications`): the notice is
//! sent if and only if the change commits, and an event noticed twice (a check run again) is
//! written once. [`sender`] delivers the outbox from every relay instance: a notice is
//! claimed before it is sent, retried with a doubling wait after a failure, and given up as
//! `failed` (with the last error, shown to the tenant's admins) after the last attempt. A
//! relay stopped between a send and its record sends that notice again: at least once.
//!
//! Channels: e-mail over SMTP (lettre), a Feishu bot webhook (its message format, signed
//! when the channel has a secret) and a generic HTTP SMS hook. The text is made when sent,
//! from the event's facts, in the channel's language ([`templates`]).

pub mod feishu;
pub mod sender;
pub mod targets;
pub mod templates;

use serde_json::Value;
use uuid::Uuid;

use crate::db::{DbError, Tx};
use crate::store::notifications;

/// The events a channel may take.
pub const EVENTS: &[&str] = &[
    INVOICE_ISSUED,
    PAYMENT_RECEIVED,
    TENANT_OVERDUE,
    TENANT_SUSPENDED,
    TENANT_RESTORED,
    DEVICE_OFFLINE,
];
pub const INVOICE_ISSUED: &str = "invoice.issued";
pub const PAYMENT_RECEIVED: &str = "payment.received";
pub const TENANT_OVERDUE: &str = "tenant.overdue";
pub const TENANT_SUSPENDED: &str = "tenant.suspended";
pub const TENANT_RESTORED: &str = "tenant.restored";
pub const DEVICE_OFFLINE: &str = "device.offline";

/// Writes the notices of `event` of `tenant`, made one by `key` (a second call with the same
/// key writes nothing), with its `facts` for the templates, in `tx`.
pub async fn notify(
    tx: &mut Tx,
    tenant: Uuid,
    (event, key): (&str, &str),
    facts: &Value,
    now: i64,
) -> Result<u64, DbError> {
    let key = format!("{event}/{key}");
    notifications::enqueue(tx, tenant, (event, &key), &facts.to_string(), now).await
}
