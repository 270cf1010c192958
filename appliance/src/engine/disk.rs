//! Watches the free space of the data directory.
//!
//! Below `disk.min_free_mib` the box is "full": no new download starts (a recording already
//! being processed finishes or fails cleanly), the health says `disk_full`, and a warning is
//! logged once. A write that fails with "no space" marks the disk full at once, before the
//! next check. Work resumes when a check finds space again. SQLite and the embedding index
//! are transactional, so a full disk costs time, never data.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

use crate::db::DbError;

/// Space to free beyond what was free when a write failed, before work resumes.
pub(crate) const RESUME_MARGIN: u64 = 4 * 1024 * 1024;

/// The pause before [`DiskMonitor::write_when_room`] tries a write again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub(crate) struct DiskMonitor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    min_free: u64,
    free: AtomicU64,
    total: AtomicU64,
    /// After a write failed for lack of space, the disk counts as full until this much is
    /// free (the minimum may be lower than what the failed write needed).
    resume_above: AtomicU64,
    /// `true` while full; waiters watch it.
    full: watch::Sender<bool>,
    warned: AtomicBool,
    /// Callers in [`DiskMonitor::wait_for_space`] right now (recordings waiting for space).
    waiting: AtomicU64,
}

/// What the health endpoint reports.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct DiskStatus {
    pub(crate) free_bytes: u64,
    pub(crate) total_bytes: u64,
    pub(crate) min_free_bytes: u64,
    pub(crate) full: bool,
}

impl DiskMonitor {
    /// Checks once now; call [`DiskMonitor::spawn_checks`] to keep checking.
    pub(crate) fn new(dir: PathBuf, min_free_bytes: u64) -> DiskMonitor {
        let monitor = DiskMonitor {
            inner: Arc::new(Inner {
                dir,
                min_free: min_free_bytes,
                free: AtomicU64::new(0),
                total: AtomicU64::new(0),
                resume_above: AtomicU64::new(0),
                full: watch::Sender::new(false),
                warned: AtomicBool::new(false),
                waiting: AtomicU64::new(0),
            }),
        };
        monitor.check();
        monitor
    }

    /// Checks every `interval` until the returned task is aborted.
    pub(crate) fn spawn_checks(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let monitor = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                monitor.check();
            }
        })
    }

    /// Reads the free space now and updates the state.
    pub(crate) fn check(&self) {
        let inner = &self.inner;
        match rustix::fs::statvfs(&inner.dir) {
            Ok(stat) => {
                let free = stat.f_bavail.saturating_mul(stat.f_frsize);
                let total = stat.f_blocks.saturating_mul(stat.f_frsize);
                inner.free.store(free, Ordering::Relaxed);
                inner.total.store(total, Ordering::Relaxed);
                metrics::gauge!("dipper_disk_free_bytes").set(free as f64);
                metrics::gauge!("dipper_disk_size_bytes").set(total as f64);
                let resume_above = inner.resume_above.load(Ordering::Relaxed);
                let full = free < inner.min_free || free < resume_above;
                if !full {
                    inner.resume_above.store(0, Ordering::Relaxed);
                }
                self.set_full(full, "free space below disk.min_free_mib");
            }
            Err(e) => {
                tracing::warn!(dir = %inner.dir.display(), error = %e, "cannot read free space");
            }
        }
    }

    /// A write failed for lack of space: full until [`RESUME_MARGIN`] more than is free now
    /// (or the minimum) is free.
    pub(crate) fn report_full(&self, what: &str) {
        let inner = &self.inner;
        let free = match rustix::fs::statvfs(&inner.dir) {
            Ok(stat) => stat.f_bavail.saturating_mul(stat.f_frsize),
            Err(_) => inner.free.load(Ordering::Relaxed),
        };
        inner
            .resume_above
            .store(free.saturating_add(RESUME_MARGIN), Ordering::Relaxed);
        self.set_full(true, what);
    }

    fn set_full(&self, full: bool, why: &str) {
        let inner = &self.inner;
        let was = inner.full.send_replace(full);
        if full && !was && !inner.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                dir = %inner.dir.display(),
                free_bytes = inner.free.load(Ordering::Relaxed),
                reason = why,
                "disk full: no new downloads until space is freed"
            );
        }
        if !full && was {
            inner.warned.store(false, Ordering::Relaxed);
            tracing::warn!(dir = %inner.dir.display(), "disk has space again: downloads resume");
        }
        metrics::gauge!("dipper_disk_full").set(if full { 1.0 } else { 0.0 });
    }

    pub(crate) fn is_full(&self) -> bool {
        *self.inner.full.borrow()
    }

    /// Returns at once when there is space, else when a check finds some.
    pub(crate) async fn wait_for_space(&self) {
        let mut full = self.inner.full.subscribe();
        if !*full.borrow_and_update() {
            return;
        }
        let _counted = Waiting::new(&self.inner.waiting);
        // The sender lives in `self`, so this cannot fail while we wait.
        let _ = full.wait_for(|full| !*full).await;
    }

    pub(crate) fn status(&self) -> DiskStatus {
        let inner = &self.inner;
        DiskStatus {
            free_bytes: inner.free.load(Ordering::Relaxed),
            total_bytes: inner.total.load(Ordering::Relaxed),
            min_free_bytes: inner.min_free,
            full: self.is_full(),
        }
    }

    /// Recordings waiting for space before they download (or write) anything.
    pub(crate) fn waiting(&self) -> u64 {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Runs `write` again while it fails because the database is busy or the disk is full
    /// (`database_error` finds the database's error in `E`; a full disk is reported, and the
    /// next try waits for space), for at most `within`; what the last try returned. For a
    /// write that a moment of full disk must not lose: an RPC's answer, the task of a
    /// relay's search.
    pub(crate) async fn write_when_room<T, E, Fut>(
        &self,
        what: &str,
        within: Duration,
        database_error: impl Fn(&E) -> Option<&DbError>,
        mut write: impl FnMut() -> Fut,
    ) -> Result<T, E>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let since = std::time::Instant::now();
        loop {
            let result = write().await;
            let Err(error) = &result else {
                return result;
            };
            let full = match database_error(error) {
                Some(e) if e.is_retryable() => e.is_disk_full(),
                _ => return result,
            };
            let left = within.saturating_sub(since.elapsed());
            if left.is_zero() {
                return result;
            }
            if full {
                self.report_full(what);
            }
            tokio::time::sleep(RETRY_PAUSE.min(left)).await;
            if full {
                let left = within.saturating_sub(since.elapsed());
                let _ = tokio::time::timeout(left, self.wait_for_space()).await;
            }
        }
    }
}

/// Counts one waiter for as long as it lives (a waiter whose task is cancelled is dropped).
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicU64) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether an error chain says the disk (or quota) is full.
pub(crate) fn is_no_space(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::StorageFull
                || io.kind() == std::io::ErrorKind::QuotaExceeded
                || io.raw_os_error() == Some(28))
        {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_when_free_space_is_below_the_minimum_and_waiters_wake_on_space() {
        let dir = tempfile::tempdir().expect("tempdir");
        let roomy = DiskMonitor::new(dir.path().to_owned(), 1);
        assert!(!roomy.is_full());
        assert!(roomy.status().free_bytes > 0);
        let cramped = DiskMonitor::new(dir.path().to_owned(), u64::MAX);
        assert!(cramped.is_full());
        // A report of "no space" marks it full, and it stays full until more than the
        // margin is freed: here, nothing is freed.
        roomy.report_full("test");
        assert!(roomy.is_full());
        roomy.check();
        assert!(roomy.is_full(), "nothing was freed");
        let waiter = tokio::spawn({
            let roomy = roomy.clone();
            async move { roomy.wait_for_space().await }
        });
        // The waiter is counted once it waits.
        while roomy.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(roomy.waiting(), 1);
        // As if the margin had been freed.
        roomy.inner.resume_above.store(0, Ordering::Relaxed);
        roomy.check();
        waiter.await.expect("woke");
        assert!(!roomy.is_full());
        assert_eq!(roomy.waiting(), 0);
    }

    #[test]
    fn no_space_is_found_anywhere_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("writing a snapshot")]
        struct Outer(#[source] std::io::Error);
        let full = Outer(std::io::Error::from_raw_os_error(28));
        assert!(is_no_space(&full));
        let other = Outer(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(!is_no_space(&other));
    }
}
