//! `GET`/`POST /ISAPI/ContentMgmt/download`: one recording's bytes, streamed.
//!
//! Contract:
//! - The method not allowed by [`DownloadMethods`] gets 405 `methodNotAllowed`; a body that
//!   is not a `downloadRequest` 400; a playback URI this device did not hand out 404
//!   `badParameters` (status 4).
//! - Over `max_concurrent_downloads` the answer is 503 `deviceBusy`. A download holds its
//!   slot until its body is finished or dropped (the client went away).
//! - Otherwise 200, `Content-Type` `video/mpeg` (PS) or `video/mp4`, and an exact
//!   `Content-Length`; the body comes in chunks of at most 64 KiB, paced to
//!   `bytes_per_second` when set (then chunks of about 1/8 s, at least 4 KiB).
//! - Faults, read when the request arrives: `slow_first_byte` delays the headers,
//!   `xml_refusal` answers 200 with a `ResponseStatus` (4, `notSupport`), `corrupt_at`
//!   flips the bits of 16 bytes, `truncate_after` closes the connection after that many bytes (0.2 s later, so they
//!   reach the client), `stall_after`
//!   stops sending but keeps the connection until the client leaves or the simulator stops.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    body::Body,
    extract::State,
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::{
    Container, DownloadMethods, Faults,
    body::RecordingBody,
    device::{DeviceState, Slot},
    routes::{device_busy, parse_request, status_reply, xml_reply},
};
use crate::xml::{DownloadRequest, ResponseStatus};

const URL: &str = "/ISAPI/ContentMgmt/download";
/// Largest chunk handed to the HTTP server.
const CHUNK: usize = 64 * 1024;
/// How long a truncated download lingers after its last byte before the connection closes.
const TRUNCATE_LINGER: Duration = Duration::from_millis(200);
/// Bytes flipped by the `corrupt_at` fault.
const CORRUPT_LEN: u64 = 16;

pub(crate) async fn download(
    State(device): State<Arc<DeviceState>>,
    method: Method,
    body: String,
) -> Response {
    let limits = device.limits();
    if !method_allowed(limits.download_methods, &method) {
        return status_reply(
            StatusCode::METHOD_NOT_ALLOWED,
            URL,
            4,
            "Invalid Operation",
            "methodNotAllowed",
        );
    }
    let request: DownloadRequest = match parse_request("downloadRequest", &body) {
        Ok(request) => request,
        Err(bad) => return bad.reply(URL),
    };
    let Some(recording) = recording_body(&device, &request.playback_uri) else {
        return status_reply(
            StatusCode::NOT_FOUND,
            URL,
            4,
            "Invalid Operation",
            "badParameters",
        );
    };
    let Some(slot) = device.try_download_slot(limits.max_concurrent_downloads) else {
        tracing::debug!(device = device.index, "download refused: busy");
        return device_busy(URL);
    };
    let faults = device.faults();
    if !device.delay_first_byte(faults.slow_first_byte).await {
        return device_busy(URL);
    }
    if faults.xml_refusal {
        let mut status = ResponseStatus::new(URL, 4, "Invalid Operation", "notSupport");
        status.version = Some("2.0".to_owned());
        return xml_reply(StatusCode::OK, "ResponseStatus", &status);
    }
    device
        .counters
        .downloads_started
        .fetch_add(1, Ordering::Relaxed);
    let content_type = match device.config.container {
        Container::Ps => "video/mpeg",
        Container::Mp4 => "video/mp4",
    };
    let len = recording.len();
    let stream = body_stream(
        Arc::clone(&device),
        slot,
        recording,
        faults,
        limits.bytes_per_second,
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn method_allowed(allowed: DownloadMethods, method: &Method) -> bool {
    match allowed {
        DownloadMethods::GetAndPost => true,
        DownloadMethods::PostOnly => method == Method::POST,
        DownloadMethods::GetOnly => method == Method::GET,
    }
}

/// The body of the recording at `playback_uri`; `None` when this device did not hand the
/// URI out.
fn recording_body(device: &DeviceState, playback_uri: &str) -> Option<RecordingBody> {
    let Some(id) = device.catalog.find(playback_uri) else {
        tracing::debug!(device = device.index, uri = %playback_uri, "download of an unknown recording");
        return None;
    };
    device.catalog.body(id)
}

/// The body as the client receives it: paced, faults applied.
fn body_stream(
    device: Arc<DeviceState>,
    slot: Slot,
    mut recording: RecordingBody,
    faults: Faults,
    bytes_per_second: Option<u64>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    async_stream::stream! {
        let _slot = slot;
        let rate = bytes_per_second.filter(|&rate| rate > 0);
        let chunk_size = rate.map_or(CHUNK, |rate| {
            usize::try_from(rate / 8).unwrap_or(CHUNK).clamp(4096, CHUNK)
        });
        let stop_at = [faults.stall_after, faults.truncate_after].into_iter().flatten().min();
        let shutdown = device.shutting_down();
        tokio::pin!(shutdown);
        let pace = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(pace);
        let started = Instant::now();
        let mut sent = 0u64;
        loop {
            let room = stop_at.map_or(chunk_size as u64, |stop| stop.saturating_sub(sent));
            let max = usize::try_from(room).unwrap_or(chunk_size).min(chunk_size);
            let Some(mut chunk) = (if max == 0 { None } else { recording.next_chunk(max) }) else {
                break;
            };
            if let Some(at) = faults.corrupt_at {
                chunk = corrupt(chunk, sent, at);
            }
            if let Some(rate) = rate {
                // Bytes already sent are paid for at `rate`; the first chunk goes at once.
                let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
                if due > Instant::now() {
                    pace.as_mut().reset(due);
                    tokio::select! {
                        () = &mut pace => {}
                        () = &mut shutdown => {
                            yield Err(std::io::Error::other("simulator shutting down"));
                            return;
                        }
                    }
                }
            }
            sent += chunk.len() as u64;
            device.counters.bytes_sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            yield Ok(chunk);
        }
        if sent < recording.len() {
            if faults.stall_after.is_some_and(|stall| sent >= stall)
                && faults.truncate_after.is_none_or(|cut| cut > sent)
            {
                tracing::debug!(device = device.index, sent, "download stalled (fault)");
                shutdown.await;
                yield Err(std::io::Error::other("simulator shutting down"));
            } else {
                // The HTTP server drops what it has not written yet when a body fails: give
                // it time to hand the bytes sent so far to the client first.
                tracing::debug!(device = device.index, sent, "download truncated (fault)");
                tokio::select! {
                    () = tokio::time::sleep(TRUNCATE_LINGER) => {}
                    () = &mut shutdown => {}
                }
                yield Err(std::io::Error::other("download truncated (simulated fault)"));
            }
        }
    }
}

/// `chunk` (starting at body offset `start`) with the bits of body bytes
/// `at..at + CORRUPT_LEN` flipped.
fn corrupt(chunk: Bytes, start: u64, at: u64) -> Bytes {
    let end = start + chunk.len() as u64;
    let (lo, hi) = (at.max(start), (at + CORRUPT_LEN).min(end));
    if lo >= hi {
        return chunk;
    }
    let mut bytes = BytesMut::from(chunk.as_ref());
    for i in (lo - start)..(hi - start) {
        if let Some(byte) = usize::try_from(i).ok().and_then(|i| bytes.get_mut(i)) {
            *byte ^= 0xFF;
        }
    }
    bytes.freeze()
}
