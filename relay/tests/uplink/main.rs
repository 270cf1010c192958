//! The relay's uplink against a real Mosquitto and both databases: broker identities made by
//! activation and revoked by decommissioning, what boxes report applied once per (device,
//! seq), bad messages dropped with the connection kept, two relays sharing the boxes'
//! traffic, and server-side RPC through the API (two-way, persistent, expired, timed out,
//! across a relay restart), and remote searches fanned out to boxes and followed to their
//! end, with raw MQTT clients playing the boxes.
//!
//! It reuses the relay's harness and world (`tests/relay/`) as they are, and the
//! workspace's `testkit` for the broker.

#[allow(dead_code)]
#[path = "../relay/harness.rs"]
mod harness;
#[path = "../relay/library.rs"]
mod library;
#[allow(dead_code)]
#[path = "../relay/world.rs"]
mod world;

mod site;

mod identities;
mod inbound;
mod metering;
mod rpc;
mod searches;
mod software;
mod standing;
