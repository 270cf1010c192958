//! The operators' console (`/console/` of `dipper-relay`) in a real headless Chromium
//! (Debian's chromium and chromium-driver), every part real: the relay (its binary, on
//! SQLite), Mosquitto, and box daemons with simulated cameras where a workflow needs one.
//! Each test signs in as the role it plays and saves screenshots under
//! `$CARGO_TARGET_TMPDIR/console/<test>/`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../uplink/site.rs"]
#[allow(dead_code)]
mod site;

mod harness;

mod invoices;
mod library;
mod oidc;
mod platform;
mod security;
mod session;
mod tenant_admin;
