//! Recording download, streamed into buffers the caller provides.
//!
//! [`Device::download`] sends a `downloadRequest` (GET with a body, as most firmware
//! wants; POST from then on when a device refuses the GET), waits for the first bytes,
//! sniffs the container, and turns an XML document where video was expected into a typed
//! refusal. [`Download::read`] then copies the body into the caller's buffer piece by
//! piece: nothing is collected whole, and a caller that stops reading stops the socket.
//! A body that stalls, or ends before its `Content-Length`, is an error naming the byte
//! offset; the bytes read before it were exact.

use std::{sync::atomic::Ordering, time::Duration};

use bytes::{Buf, Bytes, BytesMut};
use reqwest::Method;

use super::{Device, MAX_XML_BODY, Request, response::Response, search::uri_track};
use crate::{
    container::{Container, SNIFF_LEN},
    error::{Error, ErrorKind, Result},
    xml::{self, DownloadRequest, ResponseStatus},
};

const DOWNLOAD_PATH: &str = "/ISAPI/ContentMgmt/download";

/// A recording body being received.
#[derive(Debug)]
pub struct Download {
    device: Device,
    method: &'static str,
    track: Option<u32>,
    response: Response,
    /// Received but not yet handed to the caller.
    pending: Bytes,
    /// Bytes handed to the caller so far.
    offset: u64,
    received: u64,
    content_length: Option<u64>,
    container: Container,
    stall_timeout: Duration,
    finished: bool,
}

impl Device {
    /// Starts downloading the recording at `playback_uri` (as a search returned it).
    pub async fn download(&self, playback_uri: &str) -> Result<Download> {
        let body = Bytes::from(xml::to_string(
            "downloadRequest",
            &DownloadRequest {
                version: Some("1.0".to_owned()),
                xmlns: Some(xml::ISAPI_NAMESPACE.to_owned()),
                playback_uri: playback_uri.to_owned(),
            },
        ));
        let track = uri_track(playback_uri);
        let use_post = self.inner.download_post.load(Ordering::Relaxed) == 1;
        let first = if use_post { Method::POST } else { Method::GET };
        match self
            .start_download(first.clone(), body.clone(), track)
            .await
        {
            Err(e) if first == Method::GET && refuses_get(&e) => {
                let download = self.start_download(Method::POST, body, track).await?;
                tracing::debug!(
                    device = self.name(),
                    "device refuses GET downloads; using POST"
                );
                self.inner.download_post.store(1, Ordering::Relaxed);
                Ok(download)
            }
            other => other,
        }
    }

    async fn start_download(
        &self,
        method: Method,
        body: Bytes,
        track: Option<u32>,
    ) -> Result<Download> {
        let req = Request {
            method,
            path: DOWNLOAD_PATH,
            body: Some(body),
            track,
            timeout: None,
            dedicated: true,
        };
        let first_byte_timeout = self.config().first_byte_timeout;
        let timed_out = |what| {
            self.error(
                &req,
                ErrorKind::Timeout {
                    what,
                    after: first_byte_timeout,
                },
            )
        };
        let response = tokio::time::timeout(first_byte_timeout, self.send(&req))
            .await
            .map_err(|_| timed_out("download response"))??;
        let xml_typed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("xml"));
        let mut download = Download {
            device: self.clone(),
            method: super::method_name(&req.method),
            track,
            content_length: response.content_length(),
            response,
            pending: Bytes::new(),
            offset: 0,
            received: 0,
            container: Container::Unknown,
            stall_timeout: self.config().stall_timeout,
            finished: false,
        };
        // Gather enough of the body to tell what it is.
        let mut head = BytesMut::new();
        while head.len() < SNIFF_LEN {
            match tokio::time::timeout(first_byte_timeout, download.next_network_chunk()).await {
                Err(_) => return Err(timed_out("first download bytes")),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if head.is_empty() && chunk.len() >= SNIFF_LEN {
                        download.pending = chunk;
                        break;
                    }
                    head.extend_from_slice(&chunk);
                }
            }
        }
        if !head.is_empty() {
            download.pending = head.freeze();
        }
        download.container = Container::sniff(&download.pending);
        if xml_typed || download.container == Container::Xml {
            return Err(download.refusal().await);
        }
        if download.pending.is_empty() && download.finished {
            return Err(download.error(ErrorKind::Protocol("empty download body".to_owned())));
        }
        Ok(download)
    }
}

/// Whether a download failed because the device does not take GET with a body.
fn refuses_get(e: &Error) -> bool {
    match &e.kind {
        ErrorKind::Device {
            http_status,
            status,
        } => matches!(http_status, 405 | 501) || status.sub_status() == "methodNotAllowed",
        ErrorKind::Http { status, .. } => matches!(status, 405 | 501),
        _ => false,
    }
}

impl Download {
    /// The container sniffed from the first bytes.
    pub fn container(&self) -> Container {
        self.container
    }

    /// The length the device announced, if it did.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Bytes handed to the caller so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// Copies the next bytes into `buf`; `Ok(0)` at the end of a complete body.
    /// Cancel-safe: a future dropped before it completes has taken no byte, so a caller may
    /// poll it once (`now_or_never`) to take only what has already arrived.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pending.is_empty() {
            if self.finished {
                return Ok(0);
            }
            let stall = self.stall_timeout;
            match tokio::time::timeout(stall, self.next_network_chunk()).await {
                Err(_) => {
                    return Err(self.error(ErrorKind::Stalled {
                        after: stall,
                        offset: self.offset,
                    }));
                }
                Ok(result) => {
                    if let Some(chunk) = result? {
                        self.pending = chunk;
                    }
                }
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        if self.pending.is_empty() {
            // Even empty, the slice would keep the connection's read buffer shared, and
            // the connection would allocate a new one for its next read.
            self.pending = Bytes::new();
        }
        self.offset += n as u64;
        Ok(n)
    }

    /// Reads the whole remaining body into `out` (for tests and small recordings).
    pub async fn read_to_end(&mut self, out: &mut Vec<u8>) -> Result<u64> {
        let mut buf = vec![0; 64 * 1024];
        let mut total = 0;
        loop {
            let n = self.read(&mut buf).await?;
            if n == 0 {
                return Ok(total);
            }
            out.extend_from_slice(&buf[..n]);
            total += n as u64;
        }
    }

    /// The next piece from the socket; `None` at a complete end, an error at a short one.
    async fn next_network_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.finished {
            return Ok(None);
        }
        match self.response.chunk().await {
            Ok(Some(chunk)) => {
                self.received += chunk.len() as u64;
                Ok(Some(chunk))
            }
            Ok(None) => {
                self.finished = true;
                match self.content_length {
                    Some(expected) if self.received < expected => {
                        Err(self.error(ErrorKind::Truncated {
                            offset: self.received,
                            expected,
                        }))
                    }
                    _ => Ok(None),
                }
            }
            Err(e) => {
                self.finished = true;
                let kind = match self.content_length {
                    Some(expected) if self.received < expected && !e.is_timeout() => {
                        ErrorKind::Truncated {
                            offset: self.received,
                            expected,
                        }
                    }
                    _ => e.kind(self.received, self.stall_timeout),
                };
                Err(self.error(kind))
            }
        }
    }

    /// Reads the (small) XML body a device sent instead of video and makes it an error.
    async fn refusal(mut self) -> Error {
        let mut body = self.pending.to_vec();
        while body.len() <= MAX_XML_BODY {
            match self.next_network_chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return e,
            }
        }
        let text = String::from_utf8_lossy(&body);
        match xml::parse::<ResponseStatus>("ResponseStatus", &text) {
            Ok(status) => self.error(ErrorKind::Refused {
                status: Box::new(status),
            }),
            Err(e) => self.error(ErrorKind::Xml(e)),
        }
    }

    fn error(&self, kind: ErrorKind) -> Error {
        Error {
            kind,
            device: self.device.name().to_owned(),
            method: self.method,
            url: DOWNLOAD_PATH.to_owned(),
            track: self.track,
        }
    }
}
