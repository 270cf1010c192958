//! The simulator over real sockets, driven by curl, ffprobe and a small Digest client.
//! Needs the clips of `scripts/make-clips` (with the face clips it makes) and the `curl` and
//! `ffprobe` programs.

mod auth;
mod common;
mod discovery;
mod download;
mod faults;
mod recording_clips;
mod search;
mod startup;
