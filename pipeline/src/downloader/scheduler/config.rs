//! Scheduler settings. Every default is written in its doc comment.

use std::time::Duration;

/// 0 = an operator is waiting on a live search ... 5 = background backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

impl Priority {
    pub const LEVELS: usize = 6;
    pub const LIVE: Priority = Priority(0);
    pub const BACKFILL: Priority = Priority(5);

    /// A priority level; `None` above 5.
    pub fn new(level: u8) -> Option<Priority> {
        (usize::from(level) < Self::LEVELS).then_some(Priority(level))
    }

    pub fn level(self) -> u8 {
        self.0
    }
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Downloads running at once on the whole box. Default 1,000.
    pub global_limit: usize,
    /// Downloads at once on a device whose limit was not set. Default 4.
    pub default_device_limit: usize,
    /// Downloads at once for one job. Default 64.
    pub job_limit: usize,
    /// Waiting this long counts as one priority level better (never better than 1).
    /// Default 30 s.
    pub ageing_step: Duration,
    /// How long a device's limit stays halved after it answered "busy". Default 60 s.
    pub busy_backoff: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            global_limit: 1000,
            default_device_limit: 4,
            job_limit: 64,
            ageing_step: Duration::from_secs(30),
            busy_backoff: Duration::from_secs(60),
        }
    }
}
