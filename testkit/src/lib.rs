//! Helpers for the workspace's tests, never for a shipped binary (`publish = false`, used
//! only as a dev-dependency): `broker` starts a real Mosquitto (Debian's, with its dynamic
//! security plugin) on a free loopback port in a temporary folder, with identities for
//! boxes made as the relay makes them; `mqtt` is a raw MQTT client that plays a box or a
//! relay in a test.
//!
//! Contract: every service a test needs is started here and stopped when its handle is
//! dropped; nothing binds anywhere but 127.0.0.1; waits poll a condition with a bound.
//! Failing to start is a panic naming the missing tool and showing the broker's log: the
//! helpers serve tests, where a panic is the report.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

pub mod broker;
pub mod mqtt;

pub use broker::{ADMIN_PASSWORD, ADMIN_USER, TestBroker, free_port};
pub use mqtt::Mqtt;
