//! The relay at scale: three `dipper-relay` processes on one PostgreSQL database and one
//! Mosquitto, as an operator runs them behind a load balancer, every part real (the relay's
//! binary, Debian's Mosquitto and PostgreSQL, s3s-fs for the objects, a box daemon on a
//! simulated camera, and boxes played by raw MQTT clients speaking the box's protocol).
//!
//! `shared_work.rs`: API calls spread over the three (a tenant made on one, seen and changed
//! on the others; a sign-in on one, its refresh on another, its reuse caught on a third),
//! calls to boxes answered through each, telemetry and a remote search's events split among
//! the instances by the shared subscription and applied exactly once, one instance killed
//! (`kill -9`) in the middle while the other two carry on, and what the broker held for the
//! dead one applied once when it returns. `billing.rs`: the monthly run with all three
//! schedulers watching the month end (under libfaketime) bills each tenant once, and once
//! more nothing when the lease holder is killed and another takes over.
//!
//! The binaries are the workspace's own, built beside this test; `testkit` starts and stops
//! every process, and `cluster.rs` puts the three relays together.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../uplink/site.rs"]
#[allow(dead_code)]
mod site;

mod boxes;
mod cluster;

mod billing;
mod shared_work;
