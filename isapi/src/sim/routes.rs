//! A device's HTTP surface: the ISAPI routes behind Digest auth, the unauthenticated
//! `/sim/checksum` helper, and the replies every handler shares.
//!
//! Every ISAPI request is counted, then meets the `http_503` fault, then Digest auth
//! ([`super::auth`]), then its handler. Refusals are `ResponseStatus` XML
//! (`application/xml`) with the status codes devices use: 2 Device Busy, 4 Invalid
//! Operation, 5 Invalid XML Format, 6 Invalid XML Content. The one exception is the
//! `http_503` fault, whose body is plain text as from an overloaded web server.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, atomic::Ordering},
};

use axum::{
    Router,
    extract::{ConnectInfo, Query, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post},
};
use serde::Serialize;

use super::{DeviceKind, ProfileStyle, device::DeviceState, download, search};
use crate::xml::{
    self, Cpu, CpuList, DeviceInfo, DeviceStatus, DeviceTime, ISAPI_NAMESPACE, InputProxyChannel,
    InputProxyChannelList, Memory, MemoryList, ResponseStatus, SearchProfile,
    SourceInputPortDescriptor, StreamingChannel, StreamingChannelList, StreamingVideo, Track,
    TrackList,
};

type Device = State<Arc<DeviceState>>;

/// The router of one device.
pub(crate) fn router(device: Arc<DeviceState>) -> Router {
    let only = |route: MethodRouter<Arc<DeviceState>>| route.fallback(method_not_allowed);
    Router::new()
        .route("/ISAPI/System/deviceInfo", only(get(device_info)))
        .route("/ISAPI/System/time", only(get(time)))
        .route("/ISAPI/System/status", only(get(status)))
        .route("/ISAPI/Streaming/channels", only(get(streaming_channels)))
        .route(
            "/ISAPI/ContentMgmt/InputProxy/channels",
            only(get(input_proxy_channels)),
        )
        .route("/ISAPI/ContentMgmt/record/tracks", only(get(tracks)))
        .route(
            "/ISAPI/ContentMgmt/search/profile",
            only(get(search_profile)),
        )
        .route("/ISAPI/ContentMgmt/search", only(post(search::search)))
        .route(
            "/ISAPI/ContentMgmt/download",
            only(get(download::download).post(download::download)),
        )
        .route("/sim/checksum", get(sim_checksum))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&device), gate))
        .with_state(device)
}

/// Counting, the `http_503` fault and Digest auth, in front of every ISAPI route.
async fn gate(State(device): Device, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/sim/") {
        return next.run(request).await;
    }
    device.counters.requests.fetch_add(1, Ordering::Relaxed);
    tracing::trace!(device = device.index, method = %request.method(), uri = %request.uri(), "request");
    if device.faults().http_503 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain")],
            "Service Unavailable",
        )
            .into_response();
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip());
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path(), |pq| pq.as_str());
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let checked = device.auth.check(
        client,
        request.method().as_str(),
        target,
        authorization,
        &device.limits(),
    );
    match checked {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            if refusal.failed_login {
                device
                    .counters
                    .auth_failures
                    .fetch_add(1, Ordering::Relaxed);
            }
            let mut response =
                xml_reply(StatusCode::UNAUTHORIZED, "userCheck", &refusal.user_check);
            if let Ok(value) = HeaderValue::from_str(&refusal.challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
    }
}

/// An XML document reply.
pub(crate) fn xml_reply<T: Serialize>(status: StatusCode, root: &str, value: &T) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        xml::to_string(root, value),
    )
        .into_response()
}

/// A `ResponseStatus` reply.
pub(crate) fn status_reply(
    http: StatusCode,
    url: &str,
    code: u32,
    string: &str,
    sub: &str,
) -> Response {
    let mut status = ResponseStatus::new(url, code, string, sub);
    status.version = Some("2.0".to_owned());
    xml_reply(http, "ResponseStatus", &status)
}

pub(crate) fn device_busy(url: &str) -> Response {
    status_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        url,
        2,
        "Device Busy",
        "deviceBusy",
    )
}

pub(crate) fn not_supported(url: &str) -> Response {
    status_reply(
        StatusCode::NOT_FOUND,
        url,
        4,
        "Invalid Operation",
        "notSupport",
    )
}

pub(crate) fn bad_xml_content(url: &str) -> Response {
    status_reply(
        StatusCode::BAD_REQUEST,
        url,
        6,
        "Invalid XML Content",
        "badXmlContent",
    )
}

/// Why a request body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadRequest {
    /// Not well-formed XML: 400, status 5 `badXmlFormat`.
    Format,
    /// Well-formed, but not the document expected: 400, status 6 `badXmlContent`.
    Content,
}

impl BadRequest {
    pub(crate) fn reply(self, url: &str) -> Response {
        match self {
            BadRequest::Format => status_reply(
                StatusCode::BAD_REQUEST,
                url,
                5,
                "Invalid XML Format",
                "badXmlFormat",
            ),
            BadRequest::Content => bad_xml_content(url),
        }
    }
}

/// Parses a request body as the document `root`.
pub(crate) fn parse_request<T: serde::de::DeserializeOwned>(
    root: &'static str,
    body: &str,
) -> Result<T, BadRequest> {
    if let Err(reason) = check_well_formed(body) {
        tracing::debug!(root, %reason, "malformed XML request");
        return Err(BadRequest::Format);
    }
    xml::parse(root, body).map_err(|e| {
        tracing::debug!(root, error = %e, "XML request of the wrong shape");
        BadRequest::Content
    })
}

fn check_well_formed(body: &str) -> Result<(), String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body.trim_start_matches('\u{feff}'));
    let mut depth = 0usize;
    let mut elements = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                depth += 1;
                elements += 1;
            }
            Ok(Event::Empty(_)) => elements += 1,
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    if elements == 0 {
        return Err("no element".to_owned());
    }
    if depth != 0 {
        return Err("unclosed element".to_owned());
    }
    Ok(())
}

async fn not_found(request: Request) -> Response {
    not_supported(request.uri().path())
}

async fn method_not_allowed(request: Request) -> Response {
    status_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        request.uri().path(),
        4,
        "Invalid Operation",
        "methodNotAllowed",
    )
}

async fn device_info(State(device): Device) -> Response {
    let config = &device.config;
    let info = DeviceInfo {
        version: Some("2.0".to_owned()),
        xmlns: Some(ISAPI_NAMESPACE.to_owned()),
        device_name: Some(config.name.clone()),
        device_id: Some(device.device_id.clone()),
        model: config.model.clone(),
        serial_number: config.serial.clone(),
        mac_address: Some(device.mac_address.clone()),
        firmware_version: Some("V5.7.3".to_owned()),
        firmware_released_date: Some("build 230112".to_owned()),
        device_type: Some(
            match config.kind {
                DeviceKind::Camera => "IPCamera",
                DeviceKind::Nvr => "NVR",
            }
            .to_owned(),
        ),
    };
    xml_reply(StatusCode::OK, "DeviceInfo", &info)
}

async fn time(State(device): Device) -> Response {
    let offset = jiff::SignedDuration::from_secs(device.config.clock_offset_seconds);
    let now = (jiff::Timestamp::now() + offset).to_zoned(device.catalog.zone.time_zone().clone());
    let time = DeviceTime {
        version: Some("2.0".to_owned()),
        xmlns: Some(ISAPI_NAMESPACE.to_owned()),
        time_mode: Some("NTP".to_owned()),
        local_time: now.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        time_zone: Some(device.config.time_zone.clone()),
    };
    xml_reply(StatusCode::OK, "Time", &time)
}

async fn streaming_channels(State(device): Device) -> Response {
    let mut channels = Vec::new();
    for track in device.catalog.tracks() {
        let name = channel_name(&device, track.channel);
        for (stream, (width, height)) in [(1, (1920, 1080)), (2, (640, 360))] {
            channels.push(StreamingChannel {
                id: track.channel * 100 + stream,
                channel_name: Some(name.clone()),
                enabled: Some(true),
                video: Some(StreamingVideo {
                    video_codec_type: Some(track.codec.isapi_name().to_owned()),
                    video_resolution_width: Some(width),
                    video_resolution_height: Some(height),
                    max_frame_rate: Some(2500),
                }),
            });
        }
    }
    let list = StreamingChannelList {
        version: Some("2.0".to_owned()),
        xmlns: Some(ISAPI_NAMESPACE.to_owned()),
        channels,
    };
    xml_reply(StatusCode::OK, "StreamingChannelList", &list)
}

fn channel_name(device: &DeviceState, channel: u32) -> String {
    match device.config.kind {
        DeviceKind::Camera if device.config.channels == 1 => device.config.name.clone(),
        DeviceKind::Camera => format!("{} {channel:02}", device.config.name),
        DeviceKind::Nvr => format!("IPCamera {channel:02}"),
    }
}

async fn input_proxy_channels(State(device): Device, request: Request) -> Response {
    if device.config.kind != DeviceKind::Nvr {
        return not_supported(request.uri().path());
    }
    let channels = device
        .catalog
        .tracks()
        .iter()
        .map(|track| InputProxyChannel {
            id: track.channel,
            name: Some(channel_name(&device, track.channel)),
            source_input_port_descriptor: Some(SourceInputPortDescriptor {
                proxy_protocol: Some("HIKVISION".to_owned()),
                ip_address: Some(format!("192.168.254.{}", 1 + track.channel % 250)),
                manage_port_no: Some(8000),
                src_input_port: Some(1),
            }),
        })
        .collect();
    let list = InputProxyChannelList {
        version: Some("2.0".to_owned()),
        xmlns: Some(ISAPI_NAMESPACE.to_owned()),
        channels,
    };
    xml_reply(StatusCode::OK, "InputProxyChannelList", &list)
}

async fn tracks(State(device): Device) -> Response {
    let tracks = device
        .catalog
        .tracks()
        .iter()
        .map(|track| Track {
            id: track.id,
            channel: Some(track.channel),
            enable: Some(true),
            description: Some("trackType=standard,storageType=ring".to_owned()),
        })
        .collect();
    let list = TrackList {
        version: Some("2.0".to_owned()),
        xmlns: Some(ISAPI_NAMESPACE.to_owned()),
        tracks,
    };
    xml_reply(StatusCode::OK, "TrackList", &list)
}

/// The search profile in the shape the device's [`ProfileStyle`] quirk says.
async fn search_profile(State(device): Device) -> Response {
    const URL: &str = "/ISAPI/ContentMgmt/search/profile";
    let limits = device.limits();
    let common = SearchProfile {
        version: Some("2.0".to_owned()),
        xmlns: Some(ISAPI_NAMESPACE.to_owned()),
        max_results: Some(limits.max_results_per_page),
        max_concurrent_searches: Some(limits.max_concurrent_searches),
        ..SearchProfile::default()
    };
    match device.config.quirks.search_profile {
        ProfileStyle::SearchProfile => {
            let profile = SearchProfile {
                search_by_time_support: Some(true),
                ..common
            };
            xml_reply(StatusCode::OK, "SearchProfile", &profile)
        }
        ProfileStyle::CmSearchProfile => {
            let profile = SearchProfile {
                level: Some("full".to_owned()),
                max_search_timespans: Some(1),
                max_search_tracks: Some(device.catalog.tracks().len() as u32),
                ..common
            };
            // The PSIA spelling of the page limit.
            let body = xml::to_string("CMSearchProfile", &profile)
                .replace("<maxResults>", "<maxSearchMatchResults>")
                .replace("</maxResults>", "</maxSearchMatchResults>");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/xml")],
                body,
            )
                .into_response()
        }
        ProfileStyle::Missing => not_supported(URL),
        ProfileStyle::Unreadable => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>Web service</h1></body></html>",
        )
            .into_response(),
    }
}

/// `/ISAPI/System/status`: the clock, the uptime, and fixed CPU and memory figures.
async fn status(State(device): Device) -> Response {
    let now = jiff::Timestamp::now().to_zoned(device.catalog.zone.time_zone().clone());
    let status = DeviceStatus {
        version: Some("2.0".to_owned()),
        xmlns: Some(ISAPI_NAMESPACE.to_owned()),
        current_device_time: Some(now.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()),
        device_up_time: Some(device.started.elapsed().as_secs()),
        cpu_list: Some(CpuList {
            cpus: vec![Cpu {
                cpu_description: Some("simulated".to_owned()),
                cpu_utilization: Some(7),
            }],
        }),
        memory_list: Some(MemoryList {
            memories: vec![Memory {
                memory_description: Some("DDR Memory".to_owned()),
                memory_usage: Some("210.500000".to_owned()),
                memory_available: Some("301.250000".to_owned()),
            }],
        }),
    };
    xml_reply(StatusCode::OK, "DeviceStatus", &status)
}

/// `GET /sim/checksum?playbackURI=...`: `{"bytes":N,"crc32":N}`, 404 when unknown.
async fn sim_checksum(
    State(device): Device,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(uri) = query.get("playbackURI").cloned() else {
        return (StatusCode::BAD_REQUEST, "playbackURI is missing\n").into_response();
    };
    let computed = tokio::task::spawn_blocking(move || device.checksum(&uri)).await;
    match computed {
        Ok(Some(sum)) => match serde_json::to_string(&sum) {
            Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Ok(None) => (StatusCode::NOT_FOUND, "unknown playbackURI\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
