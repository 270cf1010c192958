//! The Dipper cloud relay: tenants, areas, users and roles, devices and the audit log, behind
//! an HTTP API with hard tenant isolation, and the object store of snapshots and face photos
//! (`objects`). `dipper-relay` (src/main.rs) is the command line;
//! this library is everything else, so tests drive the same code.
//!
//! The relay is stateless: every piece of state is in the database (PostgreSQL, or an
//! embedded SQLite file by default), so several processes on one PostgreSQL serve the same
//! users. Only the rate-limit buckets are per process.

pub mod admin;
pub mod api;
pub mod audit;
pub mod auth;
pub mod broker;
pub mod config;
pub mod console;
pub mod db;
pub mod dunning;
pub mod error;
pub mod extract;
pub mod faces;
pub mod invoicing;
pub mod limits;
pub mod metering;
pub mod metrics;
pub mod notify;
pub mod objects;
pub mod saga;
pub mod server;
pub mod software;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod uplink;

pub use config::Config;
pub use state::AppState;
