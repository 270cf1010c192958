//! Downloader settings. Every default is written in its doc comment.

use std::time::Duration;

use super::super::{fetch::RetryPolicy, scheduler::SchedulerConfig};

#[derive(Debug, Clone)]
pub struct DownloaderConfig {
    /// Bytes all downloads together may hold in chunks. Default 64 MiB.
    pub memory_budget: usize,
    /// Size of one chunk. Default 32 KiB, the ISAPI client's download read buffer: one
    /// read fills one chunk.
    pub chunk_size: usize,
    /// Chunks (and other events) queued between one download and its consumer. Default 4.
    pub channel_depth: usize,
    /// How often time-driven scheduling happens (ageing, a busy device's limit coming
    /// back) and the gauges are sampled. Default 500 ms.
    pub tick: Duration,
    pub scheduler: SchedulerConfig,
    pub retry: RetryPolicy,
}

impl Default for DownloaderConfig {
    fn default() -> Self {
        DownloaderConfig {
            memory_budget: 64 * 1024 * 1024,
            chunk_size: 32 * 1024,
            channel_depth: 4,
            tick: Duration::from_millis(500),
            scheduler: SchedulerConfig::default(),
            retry: RetryPolicy::default(),
        }
    }
}
