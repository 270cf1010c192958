//! The downloader as the rest of the box uses it: jobs of downloads, each download a task
//! that streams a recording's chunks to its consumer.
//!
//! A [`Downloader`] owns the chunk pool, the scheduler and a timer that drives the
//! scheduler's time-based decisions and samples the gauges. A [`Job`] (one search or one
//! backfill run) has a priority and a cancellation token; [`Job::download`] starts one
//! recording and returns a [`DownloadHandle`] to read its [`Event`]s from. Cancelling the
//! job cancels all its downloads; cancelling a handle (or dropping it) stops that one.
//! Either way the sockets close promptly and every chunk goes back to the pool.

mod config;

#[cfg(test)]
mod tests;

pub use config::DownloaderConfig;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{
    cache::DiskCache,
    fetch::{self, Event, FetchContext, FetchError, FetchRequest},
    metrics,
    pool::ChunkPool,
    scheduler::{DeviceKey, JobKey, Priority, Scheduler, SlotRequest},
};

/// Pulls recordings from many devices at once on bounded memory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Downloader {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    context: FetchContext,
    channel_depth: usize,
    next_job: AtomicU64,
    /// Parent of every job's token; cancelled when the last clone goes.
    shutdown: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One recording to download.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    /// The device as the scheduler counts it (the box's camera id).
    pub device_key: DeviceKey,
    pub device: isapi::Device,
    pub playback_uri: String,
    /// Where the recording lives in the disk cache (say, the device's serial number and the
    /// playback URI); `None` neither reads nor fills the cache.
    pub cache_key: Option<String>,
}

impl Downloader {
    /// A downloader with its own pool and scheduler. Call inside a tokio runtime: it
    /// spawns its timer, which stops when the last clone is dropped.
    pub fn new(config: DownloaderConfig) -> Result<Downloader, String> {
        Downloader::with_cache(config, None)
    }

    /// A downloader that serves recordings from `cache` when it has them and fills it.
    pub fn with_cache(
        config: DownloaderConfig,
        cache: Option<DiskCache>,
    ) -> Result<Downloader, String> {
        let pool = ChunkPool::new(config.chunk_size, config.memory_budget)?;
        if config.channel_depth == 0 {
            return Err("the channel depth must be at least 1".to_owned());
        }
        if config.tick.is_zero() {
            return Err("the tick must be longer than zero".to_owned());
        }
        let scheduler = Scheduler::new(config.scheduler.clone());
        let shutdown = CancellationToken::new();
        tokio::spawn(run_timer(
            scheduler.clone(),
            pool.clone(),
            config.tick,
            shutdown.clone(),
        ));
        Ok(Downloader {
            inner: Arc::new(Inner {
                context: FetchContext {
                    scheduler,
                    pool,
                    retry: config.retry,
                    cache,
                },
                channel_depth: config.channel_depth,
                next_job: AtomicU64::new(1),
                shutdown,
            }),
        })
    }

    /// A new job whose downloads run at `priority`.
    pub fn job(&self, priority: Priority) -> Job {
        Job {
            inner: Arc::new(JobInner {
                downloader: self.clone(),
                key: self.inner.next_job.fetch_add(1, Ordering::Relaxed),
                priority,
                cancel: self.inner.shutdown.child_token(),
                limited: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Sets how many downloads a device may serve at once (from its profile or config).
    pub fn set_device_limit(&self, device: DeviceKey, limit: usize) {
        self.inner.context.scheduler.set_device_limit(device, limit);
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.context.scheduler
    }

    pub fn pool(&self) -> &ChunkPool {
        &self.inner.context.pool
    }

    pub fn cache(&self) -> Option<&DiskCache> {
        self.inner.context.cache.as_ref()
    }

    /// Cancels every job; their downloads end with [`FetchError::Cancelled`].
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }
}

/// Ticks the scheduler and samples the gauges until the downloader goes away.
async fn run_timer(
    scheduler: Scheduler,
    pool: ChunkPool,
    tick: std::time::Duration,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        scheduler.tick();
        metrics::sample(&scheduler, &pool);
    }
}

/// Downloads that share a priority, a per-job limit and a cancellation token. Cheap to
/// clone; a limit set with [`Job::set_limit`] holds while a clone or a download of the
/// job lives.
#[derive(Debug, Clone)]
pub struct Job {
    inner: Arc<JobInner>,
}

#[derive(Debug)]
struct JobInner {
    downloader: Downloader,
    key: JobKey,
    priority: Priority,
    cancel: CancellationToken,
    limited: std::sync::atomic::AtomicBool,
}

impl Drop for JobInner {
    fn drop(&mut self) {
        if *self.limited.get_mut() {
            self.downloader.scheduler().set_job_limit(self.key, None);
        }
    }
}

impl Job {
    pub fn key(&self) -> JobKey {
        self.inner.key
    }

    pub fn priority(&self) -> Priority {
        self.inner.priority
    }

    /// How many downloads of this job may run at once (at least 1), instead of
    /// [`SchedulerConfig::job_limit`](super::scheduler::SchedulerConfig::job_limit).
    pub fn set_limit(&self, limit: usize) {
        self.inner.limited.store(true, Ordering::Relaxed);
        self.inner
            .downloader
            .scheduler()
            .set_job_limit(self.inner.key, Some(limit));
    }

    /// Starts downloading one recording. Events arrive on the handle in order.
    pub fn download(&self, request: DownloadRequest) -> DownloadHandle {
        let inner = &self.inner.downloader.inner;
        let (sender, events) = mpsc::channel(inner.channel_depth);
        let cancel = self.inner.cancel.child_token();
        let fetch_request = FetchRequest {
            device: request.device,
            playback_uri: request.playback_uri,
            cache_key: request.cache_key,
            slot: SlotRequest {
                priority: self.inner.priority,
                device: request.device_key,
                job: self.inner.key,
            },
        };
        let context = inner.context.clone();
        let task_cancel = cancel.clone();
        // The job (and its limit) lives as long as its downloads.
        let job = self.inner.clone();
        let task = tokio::spawn(async move {
            let _job = job;
            let result = fetch::fetch(&fetch_request, &context, &sender, &task_cancel).await;
            metrics::finished(&result);
            result
        });
        DownloadHandle {
            events,
            end: DownloadEnd {
                task: Some(task),
                cancel,
            },
        }
    }

    /// Stops every download of the job, running or waiting.
    pub fn cancel(&self) {
        self.inner.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }
}

/// One running download. Dropping it cancels the download.
#[derive(Debug)]
pub struct DownloadHandle {
    events: mpsc::Receiver<Event>,
    end: DownloadEnd,
}

/// How a download ends, apart from its events (see [`DownloadHandle::into_events`]).
/// Dropping it cancels the download.
#[derive(Debug)]
pub struct DownloadEnd {
    task: Option<JoinHandle<Result<u64, FetchError>>>,
    cancel: CancellationToken,
}

impl DownloadHandle {
    /// The next event; `None` once the download has ended (see [`DownloadHandle::finish`]).
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Stops this download.
    pub fn cancel(&self) {
        self.end.cancel();
    }

    /// How the download ended: the bytes of the complete recording, or why not. Events not
    /// read yet are dropped (their chunks go back to the pool).
    pub async fn finish(mut self) -> Result<u64, FetchError> {
        while self.events.recv().await.is_some() {}
        self.end.finish().await
    }

    /// The events, for a consumer elsewhere (the keyframe extractor's thread), and the end to
    /// await here. A consumer that drops the events stops the download at its next chunk
    /// ([`FetchError::ConsumerGone`]).
    pub fn into_events(self) -> (mpsc::Receiver<Event>, DownloadEnd) {
        (self.events, self.end)
    }
}

impl DownloadEnd {
    /// Stops the download.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// How the download ended (see [`DownloadHandle::finish`]).
    pub async fn finish(mut self) -> Result<u64, FetchError> {
        let Some(task) = self.task.take() else {
            return Err(FetchError::Cancelled);
        };
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(FetchError::Cancelled),
        }
    }
}

impl Drop for DownloadEnd {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
