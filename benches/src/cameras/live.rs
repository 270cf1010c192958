//! Phase 3: how soon a live (priority-0) download gets its first byte while backfill
//! (priority-5) downloads hold every slot and more of them wait.
//!
//! A backfill job keeps twice `concurrency` downloads submitted (each worker submits its
//! next recording when one ends), so with the global limit at `concurrency` every slot is
//! busy and the queue holds as many again. Once the scheduler shows that, each try starts a
//! priority-0 job downloading one recording of a random camera and times from just before
//! `Job::download` to its first `Event::Data`, then cancels it and pauses briefly.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use pipeline::downloader::{Downloader, Event, Priority};
use tokio::task::JoinSet;

use super::work::WorkList;
use crate::BoxError;

/// How long the backfill load may take to fill every slot and the queue.
const SATURATE_TIMEOUT: Duration = Duration::from_secs(120);
/// A try whose first byte has not come by then is an error.
const TRY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between tries, so each meets a settled queue.
const BETWEEN_TRIES: Duration = Duration::from_millis(20);
/// How often the scheduler is looked at while the load builds up.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub(crate) struct Outcome {
    /// Submission to first byte of each successful try, in milliseconds.
    pub(crate) first_byte_ms: Vec<f64>,
    pub(crate) errors: Vec<String>,
    /// Tries that met a non-empty backfill queue when submitted.
    pub(crate) saturated_tries: usize,
}

pub(crate) async fn run(
    downloader: &Downloader,
    work: &Arc<WorkList>,
    concurrency: usize,
    tries: usize,
) -> Result<Outcome, BoxError> {
    let load = downloader.job(Priority::BACKFILL);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..2 * concurrency {
        let (load, next, work) = (load.clone(), next.clone(), work.clone());
        workers.spawn(async move {
            while !load.is_cancelled() {
                let mut handle = load.download(work.request(next.fetch_add(1, Ordering::Relaxed)));
                while handle.next().await.is_some() {}
                // Failures of the load are not this phase's measure.
                let _ = handle.finish().await;
            }
        });
    }
    let result = measure(downloader, work, concurrency, tries).await;
    load.cancel();
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    result
}

async fn measure(
    downloader: &Downloader,
    work: &WorkList,
    concurrency: usize,
    tries: usize,
) -> Result<Outcome, BoxError> {
    let scheduler = downloader.scheduler();
    let backfill = usize::from(Priority::BACKFILL.level());
    let waiting_since = Instant::now();
    loop {
        let active: usize = scheduler.active().iter().sum();
        let queued = scheduler.queue_depths()[backfill];
        if active >= concurrency && queued > 0 {
            tracing::info!(active, queued, "backfill load saturates the downloader");
            break;
        }
        if waiting_since.elapsed() > SATURATE_TIMEOUT {
            return Err(format!(
                "the backfill load did not saturate the downloader within {SATURATE_TIMEOUT:?} \
                 ({active} of {concurrency} slots busy, {queued} waiting)"
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
    let mut outcome = Outcome {
        first_byte_ms: Vec::with_capacity(tries),
        errors: Vec::new(),
        saturated_tries: 0,
    };
    for _ in 0..tries {
        let camera = rand::random_range(0..work.cameras.len());
        let item = work.of_camera(camera, rand::random_range(0..usize::from(u16::MAX)));
        let request = work.request(item);
        let job = downloader.job(Priority::LIVE);
        if scheduler.queue_depths()[backfill] > 0 {
            outcome.saturated_tries += 1;
        }
        let started = Instant::now();
        let mut handle = job.download(request);
        let first_byte = tokio::time::timeout(TRY_TIMEOUT, async {
            loop {
                match handle.next().await {
                    Some(Event::Data(_)) => return true,
                    Some(_) => {}
                    None => return false,
                }
            }
        })
        .await;
        let elapsed = started.elapsed();
        match first_byte {
            Ok(true) => outcome.first_byte_ms.push(elapsed.as_secs_f64() * 1000.0),
            Ok(false) => {
                let error = match handle.finish().await {
                    Ok(bytes) => format!("ended after {bytes} bytes without data"),
                    Err(e) => e.to_string(),
                };
                outcome.errors.push(format!("camera {camera}: {error}"));
            }
            Err(_) => outcome
                .errors
                .push(format!("camera {camera}: no byte within {TRY_TIMEOUT:?}")),
        }
        job.cancel();
        tokio::time::sleep(BETWEEN_TRIES).await;
    }
    for error in outcome.errors.iter().take(5) {
        tracing::warn!("live download failed: {error}");
    }
    Ok(outcome)
}
