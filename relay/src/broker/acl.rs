//! The names and ACLs of the identities the relay keeps on the broker.

use serde_json::{Value, json};
use uuid::Uuid;

use protocol::topics::Topics;

/// The relay's role: every topic below `dipper/`.
pub const RELAY_ROLE: &str = "dipper-relay";

/// The role of one box.
pub fn box_role(device: Uuid) -> String {
    format!("box-{device}")
}

/// The group of a tenant's boxes.
pub fn tenant_group(tenant: Uuid) -> String {
    format!("tenant-{tenant}")
}

/// A box may publish and subscribe below its own prefix, and nowhere else.
pub fn box_role_acls(tenant: Uuid, device: Uuid) -> Vec<Value> {
    allow_all(&Topics::for_box(tenant, device).all())
}

/// The relay reaches every box, also through shared subscriptions
/// (`$share/{group}/dipper/...`), which Mosquitto 2.0 checks with the `$share` prefix.
pub fn relay_role_acls() -> Vec<Value> {
    let mut acls = allow_all("dipper/#");
    for acltype in ["subscribePattern", "unsubscribePattern"] {
        acls.push(json!({ "acltype": acltype, "topic": "$share/+/dipper/#", "priority": 0, "allow": true }));
    }
    acls
}

fn allow_all(filter: &str) -> Vec<Value> {
    [
        "publishClientSend",
        "publishClientReceive",
        "subscribePattern",
        "unsubscribePattern",
    ]
    .into_iter()
    .map(|acltype| json!({ "acltype": acltype, "topic": filter, "priority": 0, "allow": true }))
    .collect()
}
