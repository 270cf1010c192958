//! Why a simulator could not start.

use std::{net::SocketAddr, path::PathBuf};

use super::DeviceConfig;

/// A simulator that could not start: a missing or unreadable clip, a device configuration
/// that makes no sense, or an address it could not listen on.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("video clip {path} cannot be read ({source}); run scripts/make-clips")]
    ClipMissing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "video clip {path} is not usable at byte {offset}: {reason}; delete it and run scripts/make-clips"
    )]
    ClipFormat {
        path: PathBuf,
        offset: usize,
        reason: String,
    },
    #[error("device {device} ({serial}): {reason}")]
    Config {
        device: usize,
        serial: String,
        reason: String,
    },
    #[error("device {device}: cannot listen on {addr}: {source}")]
    Bind {
        device: usize,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl SimError {
    /// A configuration that makes no sense for device `index`.
    pub(crate) fn config(index: usize, device: &DeviceConfig, reason: String) -> SimError {
        SimError::Config {
            device: index,
            serial: device.serial.clone(),
            reason,
        }
    }
}
