//! A device's HTTP response, whichever connection carried it.
//!
//! XML requests (and everything to `https://` devices) go through the client's shared
//! connection pool (reqwest). Downloads from `http://` devices get a connection of their
//! own from hyper's HTTP/1 client, whose read buffer has a fixed size
//! ([`ClientConfig::download_read_buffer`](super::ClientConfig::download_read_buffer)):
//! hundreds of downloads run at once, and a pooled connection's read buffer grows to about
//! 400 KB whenever its socket has a backlog, which reqwest gives no way to cap. Such a
//! connection is driven by whoever reads its response (no task of its own: no wake-up
//! crosses threads per read, and a reader that stops reading stops the socket), and it
//! closes when the response is dropped.

use std::{pin::Pin, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use reqwest::{StatusCode, header::HeaderMap};
use tokio::net::TcpStream;

use crate::error::ErrorKind;

/// A response from either kind of connection.
#[derive(Debug)]
pub(crate) enum Response {
    Pooled(reqwest::Response),
    Dedicated {
        response: hyper::Response<Incoming>,
        /// Polled while the body is read; `None` once it has ended.
        connection: Option<Pin<Box<Connection>>>,
    },
}

type Connection = hyper::client::conn::http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// Why reading a response body failed.
#[derive(Debug)]
pub(crate) struct BodyError {
    reason: String,
    timeout: bool,
}

impl BodyError {
    pub(crate) fn is_timeout(&self) -> bool {
        self.timeout
    }

    /// The error kind, `offset` bytes into the body.
    pub(crate) fn kind(&self, offset: u64, timeout: Duration) -> ErrorKind {
        if self.timeout {
            ErrorKind::Timeout {
                what: "request",
                after: timeout,
            }
        } else {
            ErrorKind::Transport {
                offset: Some(offset),
                reason: self.reason.clone(),
            }
        }
    }
}

impl Response {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Response::Pooled(r) => r.status(),
            Response::Dedicated { response, .. } => response.status(),
        }
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            Response::Pooled(r) => r.headers(),
            Response::Dedicated { response, .. } => response.headers(),
        }
    }

    /// The body's length, when the device announced it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match self {
            Response::Pooled(r) => r.content_length(),
            Response::Dedicated { response, .. } => {
                hyper::body::Body::size_hint(response.body()).exact()
            }
        }
    }

    /// The next piece of the body; `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        match self {
            Response::Pooled(r) => r.chunk().await.map_err(|e| BodyError {
                reason: chain(&e),
                timeout: e.is_timeout(),
            }),
            Response::Dedicated {
                response,
                connection,
            } => loop {
                // The connection first: it reads the socket into the body, which then has
                // the data in the same poll.
                let frame = match connection {
                    Some(driven) => tokio::select! {
                        biased;
                        ended = driven.as_mut() => {
                            if let Err(e) = ended {
                                tracing::trace!(error = %e, "download connection ended");
                            }
                            *connection = None;
                            continue;
                        }
                        frame = response.body_mut().frame() => frame,
                    },
                    None => response.body_mut().frame().await,
                };
                match frame {
                    None => return Ok(None),
                    Some(Err(e)) => {
                        return Err(BodyError {
                            reason: chain(&e),
                            timeout: e.is_timeout(),
                        });
                    }
                    Some(Ok(frame)) => {
                        // Trailers carry nothing a download needs.
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            },
        }
    }
}

/// An error and its sources, as one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

/// Where a device lives, for connections of its own.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `host:port`, also the `Host` header.
    pub(crate) authority: String,
    /// The base URL's path, without a trailing `/` (usually empty).
    pub(crate) path_prefix: String,
}

/// Sends one request on a new connection whose read buffer is `read_buffer` bytes.
pub(crate) async fn send_dedicated(
    endpoint: &Endpoint,
    request: http::Request<Full<Bytes>>,
    connect_timeout: Duration,
    read_buffer: usize,
) -> Result<Response, ErrorKind> {
    let stream = match tokio::time::timeout(
        connect_timeout,
        tokio::net::TcpStream::connect(&endpoint.authority),
    )
    .await
    {
        Err(_) => {
            return Err(ErrorKind::Timeout {
                what: "connect",
                after: connect_timeout,
            });
        }
        Ok(Err(e)) => return Err(ErrorKind::Connect(format!("{}: {e}", endpoint.authority))),
        Ok(Ok(stream)) => stream,
    };
    // Small writes (requests) go at once; not being able to set it only costs latency.
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .read_buf_exact_size(Some(read_buffer.max(MIN_READ_BUFFER)))
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| ErrorKind::Connect(chain(&e)))?;
    let mut connection = Box::pin(connection);
    let sent = sender.send_request(request);
    tokio::pin!(sent);
    let mut driven = Some(connection.as_mut());
    let response = loop {
        tokio::select! {
            biased;
            ended = async { driven.as_mut().expect("guarded").await }, if driven.is_some() => {
                // The answer, or why there is none, comes from `sent`.
                if let Err(e) = ended {
                    tracing::trace!(error = %e, "download connection ended before its response");
                }
                driven = None;
            }
            response = &mut sent => break response,
        }
    };
    let connection = driven.is_some().then_some(connection);
    let response = response.map_err(|e| ErrorKind::Transport {
        offset: None,
        reason: chain(&e),
    })?;
    Ok(Response::Dedicated {
        response,
        connection,
    })
}

/// hyper's smallest read buffer.
pub(crate) const MIN_READ_BUFFER: usize = 8 * 1024;
