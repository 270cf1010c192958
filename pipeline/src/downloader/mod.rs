//! The downloader: pulls recordings from many cameras at once on bounded memory.
//!
//! [`Downloader`] is the entry point: jobs of downloads at six priority levels. Inside it,
//! the [`scheduler`] decides which download may use the network next, the [`pool`] holds
//! every downloaded byte in fixed-size chunks, [`fetch`] moves one recording from a socket
//! into chunks (with retries), and [`metrics`] reports through the `metrics` facade.
//! [`cache`] keeps downloaded recordings on local disk so a second search need not fetch them.
//! With the `keyframes` feature, [`EventSource`] feeds a download's events to the keyframe
//! extractor (the extractor knows nothing of the downloader).

pub mod cache;
pub mod fetch;
pub mod metrics;
pub mod pool;
pub mod scheduler;
mod service;
#[cfg(feature = "keyframes")]
mod source;
#[cfg(test)]
mod testing;

pub use fetch::{Event, FetchError};
pub use scheduler::{DeviceKey, Priority};
pub use service::{
    DownloadEnd, DownloadHandle, DownloadRequest, Downloader, DownloaderConfig, Job,
};
#[cfg(feature = "keyframes")]
pub use source::EventSource;
