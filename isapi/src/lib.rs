//! A client for Hikvision cameras and NVRs over ISAPI, and (feature `sim`) a simulator of them.
//!
//! The client does Digest authentication, discovery, recording search as a lazy paginated
//! stream and downloads streamed into caller-provided buffers. It never starts a server,
//! never opens a database and never retries a rejected credential.

pub mod container;
pub mod time;
pub mod xml;

pub mod client;
pub mod error;
#[cfg(feature = "sim")]
pub mod sim;

pub use client::{Client, ClientConfig, Device, Discovery, Download, Recording, SearchQuery};
pub use container::Container;
pub use error::{Error, ErrorKind, Result};
