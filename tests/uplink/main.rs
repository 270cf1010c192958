//! The box and the relay through the broker, every part real: `dipper run` (the box, with
//! simulated cameras whose recordings show real faces), `dipper-relay run` (on SQLite, with
//! `[broker]`) and Mosquitto (Debian's, with the dynamic security plugin), each its own
//! process. The box is activated through the relay, answers calls made on the relay's API,
//! runs a remote search whose events reach the relay exactly once across a broker outage and
//! a `kill -9` and across a broker restart while the relay was away, answers calls
//! whatever its clock says (two hours fast, then an hour slow), cannot reach another box's topics, is refused once decommissioned, and gets
//! the persistent calls made while it was away unless they expired.
//!
//! The binaries are the workspace's own, built beside this test (`cargo nextest run
//! --workspace` builds them); `testkit` starts and stops every process.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod site;

mod access;
mod activation;
mod broker_restart;
mod clock;
mod local_page;
mod outage;
mod persistent;
mod remote_search;
mod software;
