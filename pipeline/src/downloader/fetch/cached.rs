//! Serving a recording from the disk cache: no scheduler slot and no socket, the same
//! events as a download (`Started` with [`Source::Cache`], chunks from the pool, `Done`).

use isapi::{Container, container::SNIFF_LEN};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Event, FetchContext, FetchError, FetchRequest, send};
use crate::downloader::metrics::{self, Source};

/// How serving from the cache went, when the recording was there.
pub(super) enum Served {
    /// The whole recording was sent; its length.
    Whole(u64),
    /// The cached file failed part way (`sent` bytes were sent); fetch from the device.
    Broken { sent: u64 },
}

/// Sends the cached copy of the recording, if there is one.
pub(super) async fn serve(
    request: &FetchRequest,
    context: &FetchContext,
    events: &mpsc::Sender<Event>,
    cancel: &CancellationToken,
) -> Result<Option<Served>, FetchError> {
    let (Some(cache), Some(key)) = (&context.cache, &request.cache_key) else {
        return Ok(None);
    };
    let Some(mut reader) = cache.get(key).await else {
        return Ok(None);
    };
    let length = reader.len();
    let mut sent = 0;
    loop {
        let mut chunk = tokio::select! {
            () = cancel.cancelled() => return Err(FetchError::Cancelled),
            chunk = context.pool.acquire() => chunk,
        };
        let n = match reader.read(chunk.buffer_mut()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(uri = %request.playback_uri, error = %e, "cached copy unreadable");
                return Ok(Some(Served::Broken { sent }));
            }
        };
        if sent == 0 {
            let head = &chunk.buffer_mut()[..n.min(SNIFF_LEN)];
            let started = Event::Started {
                attempt: 1,
                source: Source::Cache,
                container: Container::sniff(head),
                content_length: Some(length),
            };
            send(events, cancel, started).await?;
        }
        if n == 0 {
            if sent != length {
                tracing::warn!(uri = %request.playback_uri, sent, length, "cached copy short");
                return Ok(Some(Served::Broken { sent }));
            }
            send(events, cancel, Event::Done { bytes: sent }).await?;
            return Ok(Some(Served::Whole(sent)));
        }
        chunk.set_len(n);
        metrics::bytes(Source::Cache, n as u64);
        send(events, cancel, Event::Data(chunk)).await?;
        sent += n as u64;
    }
}
