//! The broker's side of the relay: every box gets its own Mosquitto identity, made when it
//! is activated and removed when it is decommissioned, disabled with its tenant, through
//! Mosquitto's dynamic security plugin (`$CONTROL/dynamic-security/v1`).
//!
//! Contract:
//! - A box's identity is its device id as user name and client id, its device credential
//!   as password, and one role of its own, `box-{device}`, that lets it publish and
//!   subscribe only below `dipper/{tenant}/{device}/`. (Mosquitto 2.0.11 does not substitute
//!   `%u`/`%c` in dynamic-security ACLs, so the role names the prefix itself.)
//! - Every box of a tenant is in the group `tenant-{tenant}`, so disabling a tenant
//!   disables each of its boxes, which the broker disconnects at once.
//! - The relay's own identity has the role `dipper-relay`: everything below `dipper/`,
//!   including shared subscriptions.
//! - Every operation is idempotent: creating what exists updates it, deleting what is gone
//!   succeeds, so a saga step or an activation can be retried.

mod acl;
mod admin;
mod error;

pub use acl::{RELAY_ROLE, box_role, box_role_acls, relay_role_acls, tenant_group};
pub(crate) use admin::parse_url;
pub use admin::{BrokerAdmin, BrokerSettings};
pub use error::BrokerError;
