//! The box's processing stages. Each stage is a folder of small files; stages talk over
//! bounded channels. This crate never opens a socket of its own, a database or a web server:
//! the `appliance` binary wires it to the ISAPI client, SQLite and the web page.
//!
//! Each stage is a feature (all on by default): `downloader`, `keyframes` (links FFmpeg),
//! `faces` and `index`; `photo` (decoding uploaded photos, in `faces` too) stands alone. `faces` and `index` stand alone, so an embedder away from the box
//! (the relay's face library) pulls in neither FFmpeg nor the downloader; the bridge from
//! a download to the extractor ([`downloader::EventSource`]) exists when both are on.

#[cfg(feature = "downloader")]
pub mod downloader;
#[cfg(feature = "faces")]
pub mod faces;
#[cfg(feature = "index")]
pub mod index;
#[cfg(feature = "keyframes")]
pub mod keyframes;
#[cfg(feature = "keyframes")]
pub mod motion;
#[cfg(feature = "photo")]
pub mod photo;
