//! What can go wrong talking to the broker's control topic.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker's URL is not `mqtt://host:port` (or `mqtts://`).
    #[error("broker URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// The connection could not be made or was refused (wrong admin credentials).
    #[error("cannot connect to the broker at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// No answer from the dynamic security plugin in time (is it loaded?).
    #[error("the broker did not answer {command} within {} s", after.as_secs())]
    Timeout {
        command: &'static str,
        after: Duration,
    },
    /// The plugin refused a command.
    #[error("the broker refused {command}: {reason}")]
    Refused {
        command: &'static str,
        reason: String,
    },
    /// The connection to the broker ended while a command was waiting.
    #[error("the connection to the broker ended")]
    Disconnected,
}

impl BrokerError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BrokerError::Connect { .. } | BrokerError::Timeout { .. } | BrokerError::Disconnected
        )
    }
}
