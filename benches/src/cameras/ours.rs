//! Phase 1: the downloader under test. One backfill job; `concurrency` workers each take
//! the next recording of the work list, read its events and CRC the bytes chunk by chunk
//! (starting over on `Restart`), until the time is up; downloads in flight then finish.
//! Verification against the simulator's checksums happens afterwards, outside the
//! measured time.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use pipeline::downloader::{Downloader, Event, Job, Priority};
use tokio::task::JoinSet;

use super::work::WorkList;

/// Download errors logged one by one; the rest are only counted.
const ERRORS_LOGGED: usize = 5;

/// A recording downloaded to its end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completed {
    /// Its index in the work list.
    pub(crate) item: usize,
    /// Bytes received after the last restart.
    pub(crate) bytes: u64,
    pub(crate) crc32: u32,
    /// What `Event::Done` said was sent; differs from `bytes` only on a bug.
    pub(crate) reported: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// In work-list order.
    pub(crate) completed: Vec<Completed>,
    pub(crate) errors: Vec<String>,
    /// From the first request to the last download's end.
    pub(crate) seconds: f64,
    pub(crate) restarts: u64,
    /// `Data` events received (bytes / events is how full a chunk was on average).
    pub(crate) data_events: u64,
}

/// Runs the workers; workers take no new recording after `duration`.
pub(crate) async fn run(
    downloader: &Downloader,
    work: &Arc<WorkList>,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    let job = downloader.job(Priority::BACKFILL);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (job, next, work) = (job.clone(), next.clone(), work.clone());
        workers.spawn(async move {
            let mut done = Outcome::default();
            while started.elapsed() < duration {
                let item = next.fetch_add(1, Ordering::Relaxed);
                done.download(&job, &work, item).await;
            }
            done
        });
    }
    let mut outcome = Outcome::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(done) => outcome.add(done),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => outcome.errors.push(format!("worker: {e}")),
        }
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome.completed.sort_by_key(|c| c.item);
    for error in outcome.errors.iter().take(ERRORS_LOGGED) {
        tracing::warn!("download failed: {error}");
    }
    outcome
}

impl Outcome {
    /// Downloads recording `item` of `work` in `job` to its end, CRC-ing its bytes, and
    /// counts it as completed or failed.
    async fn download(&mut self, job: &Job, work: &WorkList, item: usize) {
        let mut handle = job.download(work.request(item));
        let mut crc = crc32fast::Hasher::new();
        let mut bytes = 0u64;
        let mut reported = None;
        while let Some(event) = handle.next().await {
            match event {
                Event::Data(chunk) => {
                    crc.update(&chunk);
                    bytes += chunk.len() as u64;
                    self.data_events += 1;
                }
                Event::Restart { .. } => {
                    crc = crc32fast::Hasher::new();
                    bytes = 0;
                    self.restarts += 1;
                }
                Event::Done { bytes: sent, .. } => reported = Some(sent),
                Event::Started { .. } => {}
            }
        }
        match handle.finish().await {
            Ok(sent) => self.completed.push(Completed {
                item,
                bytes,
                crc32: crc.finalize(),
                reported: reported.unwrap_or(sent),
            }),
            Err(e) => {
                let camera = work.camera_of(item);
                self.errors
                    .push(format!("camera {} ({}): {e}", camera.key, camera.url));
            }
        }
    }

    /// Adds what one worker did (its `seconds` aside).
    fn add(&mut self, done: Outcome) {
        self.completed.extend(done.completed);
        self.errors.extend(done.errors);
        self.restarts += done.restarts;
        self.data_events += done.data_events;
    }
}
