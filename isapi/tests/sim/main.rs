//! The simulator over real sockets, driven by curl, ffprobe and a small Digest client.
//! Needs the clips of `scripts/make-clips` and the `curl` and `ffprobe` programs.

mod auth;
mod common;
mod discovery;
mod download;
mod faults;
mod search;
mod startup;
