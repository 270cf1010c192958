//! What the daemon's tests share, from `testkit`: the `dipper` binary run as a daemon on a
//! data directory (started, stopped, killed, restarted), its API over HTTP, and simulated
//! cameras serving recordings with real faces composited in (`scripts/make-face-clips`);
//! and of their own: the broker and a relay's MQTT client for the uplink's tests ([`link`]),
//! and a server taking snapshot uploads ([`object_store`]).

#![allow(dead_code, unused_imports, unreachable_pub)]

pub mod link;
pub mod object_store;

pub use testkit::daemon::{Api, Daemon};
pub use testkit::faces::{
    Appearance, PASSWORD, USER, appearances, embedding_of, face_camera, face_clips_dir, manifest,
    photo, start_sim,
};
pub use testkit::repo;

/// The daemon on a fresh data directory, with `extra` lines in its `box.toml`; the
/// directory is removed when the returned `TempDir` is dropped.
pub fn start_box(extra: &str) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), extra);
    (dir, daemon)
}
