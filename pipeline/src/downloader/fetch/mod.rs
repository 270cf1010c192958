//! One recording, from a device's socket into pooled chunks on a bounded channel.
//!
//! [`fetch`] waits for a scheduler slot, starts the download, and then, chunk by chunk,
//! takes a chunk from the pool, reads into it and sends it. When the pool is empty or the
//! consumer is slow, it waits and so stops reading the socket. A retryable failure (busy,
//! 503, timeout, stall, truncation, dropped connection) is retried after an exponential
//! backoff with jitter; if bytes were already handed over, the consumer is first sent
//! [`Event::Restart`] and the recording is fetched again from its first byte, so the
//! consumer never sees a byte twice without being told. Permanent failures (bad
//! credentials, refusals, not found) end the fetch at once. Cancelling the token stops
//! everything promptly; chunks not yet sent go back to the pool. A download whose slot a
//! priority-0 request needs stops at once and queues again for a new slot (telling the
//! consumer to restart if it had sent bytes); preemptions do not count as failed attempts.
//!
//! With a [`DiskCache`] and a cache key, a recording already cached is served from disk
//! (no slot, no socket: [`cached`]); otherwise each chunk is written to a cache entry before
//! it is sent, and the entry is committed before `Done`, so a retry or a cancellation never
//! leaves a partial entry that could be served. A cache that fails (a full disk, say) is
//! logged and left out of that download; the download itself goes on.

mod cached;

mod retry;

#[cfg(test)]
mod tests;

pub use retry::RetryPolicy;

use futures::FutureExt;
use isapi::{Container, Device};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    cache::{CacheWriter, DiskCache},
    metrics::{self, Source},
    pool::{Chunk, ChunkPool},
    scheduler::{Scheduler, SlotRequest},
};

/// What a fetch tells its consumer, in order.
#[derive(Debug)]
pub enum Event {
    /// The device (or the disk cache) started sending (again, when `attempt` > 1).
    Started {
        attempt: u32,
        source: Source,
        container: Container,
        content_length: Option<u64>,
    },
    /// The next bytes of the recording.
    Data(Chunk),
    /// Drop what was received so far: the recording is fetched again from its start.
    Restart { attempt: u32, reason: String },
    /// The whole recording was sent.
    Done { bytes: u64 },
}

/// Why a fetch ended without the whole recording.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cancelled")]
    Cancelled,
    #[error("the consumer went away")]
    ConsumerGone,
    #[error("{error} (after {attempts} attempt(s))")]
    Device { error: isapi::Error, attempts: u32 },
}

/// One recording to fetch.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub device: Device,
    pub playback_uri: String,
    pub slot: SlotRequest,
    /// Where the recording lives in the disk cache; `None` keeps it out of the cache.
    pub cache_key: Option<String>,
}

/// What a fetch needs from the downloader.
#[derive(Debug, Clone)]
pub struct FetchContext {
    pub scheduler: Scheduler,
    pub pool: ChunkPool,
    pub retry: RetryPolicy,
    pub cache: Option<DiskCache>,
}

/// Fetches one recording into `events`; returns the bytes of the complete recording.
pub async fn fetch(
    request: &FetchRequest,
    context: &FetchContext,
    events: &mpsc::Sender<Event>,
    cancel: &CancellationToken,
) -> Result<u64, FetchError> {
    let mut attempt = 0;
    // Starts of the download, preempted ones included (what `Started` and `Restart` count).
    let mut start = 0;
    if let Some(served) = cached::serve(request, context, events, cancel).await? {
        match served {
            cached::Served::Whole(bytes) => return Ok(bytes),
            cached::Served::Broken { sent } => {
                start = 1;
                if sent > 0 {
                    let restart = Event::Restart {
                        attempt: 2,
                        reason: "the cached copy could not be read; fetching from the device"
                            .to_owned(),
                    };
                    send(events, cancel, restart).await?;
                }
            }
        }
    }
    loop {
        attempt += 1;
        start += 1;
        let mut sent = 0;
        let result = attempt_once(request, context, events, cancel, start, &mut sent).await;
        let error = match result {
            Ok(bytes) => return Ok(bytes),
            Err(Failure::Stop(e)) => return Err(e),
            Err(Failure::Preempted) => {
                attempt -= 1;
                tracing::debug!(sent, "download preempted by a live request; queueing again");
                if sent > 0 {
                    let restart = Event::Restart {
                        attempt: start + 1,
                        reason: "preempted by a priority-0 download".to_owned(),
                    };
                    send(events, cancel, restart).await?;
                }
                continue;
            }
            Err(Failure::Device(e)) => e,
        };
        metrics::attempt_failed(&error);
        if error.is_device_busy() {
            context.scheduler.device_busy(request.slot.device);
        }
        if !error.is_retryable() || attempt >= context.retry.max_attempts {
            return Err(FetchError::Device {
                error,
                attempts: attempt,
            });
        }
        tracing::debug!(attempt, %error, "download failed; retrying");
        if sent > 0 {
            let restart = Event::Restart {
                attempt: start + 1,
                reason: error.to_string(),
            };
            send(events, cancel, restart).await?;
        }
        tokio::select! {
            () = cancel.cancelled() => return Err(FetchError::Cancelled),
            () = tokio::time::sleep(context.retry.backoff(attempt)) => {}
        }
    }
}

enum Failure {
    Stop(FetchError),
    Preempted,
    Device(isapi::Error),
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        Failure::Stop(e)
    }
}

async fn attempt_once(
    request: &FetchRequest,
    context: &FetchContext,
    events: &mpsc::Sender<Event>,
    cancel: &CancellationToken,
    attempt: u32,
    sent: &mut u64,
) -> Result<u64, Failure> {
    let slot = tokio::select! {
        () = cancel.cancelled() => return Err(FetchError::Cancelled.into()),
        slot = context.scheduler.acquire(request.slot) => slot,
    };
    let mut download = tokio::select! {
        () = cancel.cancelled() => return Err(FetchError::Cancelled.into()),
        () = slot.preempted() => return Err(Failure::Preempted),
        download = request.device.download(&request.playback_uri) => download.map_err(Failure::Device)?,
    };
    let started = Event::Started {
        attempt,
        source: Source::Device,
        container: download.container(),
        content_length: download.content_length(),
    };
    send(events, cancel, started).await?;
    let mut cache_entry = cache_writer(request, context).await;
    loop {
        let mut chunk = tokio::select! {
            () = cancel.cancelled() => return Err(FetchError::Cancelled.into()),
            () = slot.preempted() => return Err(Failure::Preempted),
            chunk = context.pool.acquire() => chunk,
        };
        let mut n = tokio::select! {
            () = cancel.cancelled() => return Err(FetchError::Cancelled.into()),
            () = slot.preempted() => return Err(Failure::Preempted),
            n = download.read(chunk.buffer_mut()) => n.map_err(Failure::Device)?,
        };
        // Fill the chunk with what is already received, so chunks go out full (one read
        // is one network buffer, smaller than a chunk) but nothing waits for more.
        while n > 0 && n < chunk.capacity() {
            match download.read(&mut chunk.buffer_mut()[n..]).now_or_never() {
                Some(Ok(0)) | None => break,
                Some(Ok(more)) => n += more,
                Some(Err(e)) => return Err(Failure::Device(e)),
            }
        }
        if n == 0 {
            if let Some(writer) = cache_entry.take()
                && let Err(e) = writer.commit().await
            {
                tracing::warn!(uri = %request.playback_uri, error = %e, "recording not cached");
            }
            send(events, cancel, Event::Done { bytes: *sent }).await?;
            return Ok(*sent);
        }
        chunk.set_len(n);
        metrics::bytes(Source::Device, n as u64);
        if let Some(writer) = &mut cache_entry
            && let Err(e) = writer.write(&chunk).await
        {
            tracing::warn!(uri = %request.playback_uri, error = %e, "recording not cached");
            cache_entry = None;
        }
        send(events, cancel, Event::Data(chunk)).await?;
        *sent += n as u64;
    }
}

/// A cache entry for the recording, when it has a key and the cache can start one.
async fn cache_writer(request: &FetchRequest, context: &FetchContext) -> Option<CacheWriter> {
    let (cache, key) = (context.cache.as_ref()?, request.cache_key.as_deref()?);
    match cache.writer(key).await {
        Ok(writer) => Some(writer),
        Err(e) => {
            tracing::warn!(uri = %request.playback_uri, error = %e, "recording not cached");
            None
        }
    }
}

async fn send(
    events: &mpsc::Sender<Event>,
    cancel: &CancellationToken,
    event: Event,
) -> Result<(), FetchError> {
    tokio::select! {
        () = cancel.cancelled() => Err(FetchError::Cancelled),
        sent = events.send(event) => sent.map_err(|_| FetchError::ConsumerGone),
    }
}
