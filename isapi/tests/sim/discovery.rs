//! Discovery documents, unknown paths and methods.

use isapi::{
    sim::DeviceConfig,
    xml::{
        DeviceInfo, DeviceTime, InputProxyChannelList, SearchProfile, StreamingChannelList,
        TrackList,
    },
};
use reqwest::{Method, StatusCode};

use crate::common::{
    Isapi, PASSWORD, USER, camera, content_type, curl, curl_body, parse, start, status_of,
};

#[tokio::test]
async fn curl_reads_device_info_with_digest() {
    let sim = start(vec![camera()]).await;
    let url = format!("{}/ISAPI/System/deviceInfo", sim.devices()[0].base_url());
    let (code, output) = curl(USER, PASSWORD, &[url.as_str()]).await;
    let body = curl_body(&output);
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(r#"<DeviceInfo version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">"#),
        "{body}"
    );
    let info: DeviceInfo = parse("DeviceInfo", &body);
    assert_eq!(info.serial_number, "DS-2CD2345-SIM0000");
    assert_eq!(info.model, "DS-2CD2345G0P-I");
    assert_eq!(info.device_type.as_deref(), Some("IPCamera"));
    assert!(!info.is_recorder());
    assert!(
        info.mac_address.is_some() && info.device_id.is_some() && info.firmware_version.is_some()
    );
    let stats = sim.stats(0);
    assert_eq!(
        (stats.requests, stats.auth_failures),
        (2, 0),
        "challenge, then the answer"
    );
}

#[tokio::test]
async fn camera_documents_describe_its_channels() {
    let mut config = camera();
    config.channels = 2;
    config.codec = isapi::sim::Codec::Mixed;
    config.limits.max_results_per_page = 50;
    let sim = start(vec![config]).await;
    let isapi = Isapi::new(&sim.devices()[0]);

    let (_, body) = isapi.get("/ISAPI/System/time").await;
    let time: DeviceTime = parse("Time", &body);
    assert_eq!(time.time_zone.as_deref(), Some("CST-8:00:00"));
    assert!(time.local_time.ends_with("+08:00"), "{}", time.local_time);

    let (_, body) = isapi.get("/ISAPI/Streaming/channels").await;
    let channels: StreamingChannelList = parse("StreamingChannelList", &body);
    let summary: Vec<_> = channels
        .channels
        .iter()
        .map(|c| {
            (
                c.id,
                c.video.as_ref().and_then(|v| v.video_codec_type.clone()),
            )
        })
        .collect();
    let codec = |s: &str| Some(s.to_owned());
    assert_eq!(
        summary,
        [
            (101, codec("H.264")),
            (102, codec("H.264")),
            (201, codec("H.265")),
            (202, codec("H.265"))
        ]
    );

    let (_, body) = isapi.get("/ISAPI/ContentMgmt/record/tracks").await;
    let tracks: TrackList = parse("TrackList", &body);
    let ids: Vec<_> = tracks
        .tracks
        .iter()
        .map(|t| (t.id, t.channel, t.enable))
        .collect();
    assert_eq!(
        ids,
        [(101, Some(1), Some(true)), (201, Some(2), Some(true))]
    );

    let (_, body) = isapi.get("/ISAPI/ContentMgmt/search/profile").await;
    let profile: SearchProfile = parse("SearchProfile", &body);
    assert_eq!(profile.max_results, Some(50));
    assert_eq!(profile.max_concurrent_searches, Some(1));
    assert_eq!(profile.search_by_time_support, Some(true));

    let (status, body) = isapi.get("/ISAPI/ContentMgmt/InputProxy/channels").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        status_of(&body),
        (4, "notSupport".to_owned()),
        "cameras have no input channels"
    );
}

#[tokio::test]
async fn nvrs_list_their_input_channels() {
    let mut nvr = DeviceConfig::nvr(USER, PASSWORD, 4);
    nvr.days = 1;
    let sim = start(vec![nvr]).await;
    let isapi = Isapi::new(&sim.devices()[0]);
    let (_, body) = isapi.get("/ISAPI/System/deviceInfo").await;
    let info: DeviceInfo = parse("DeviceInfo", &body);
    assert!(info.is_recorder(), "{body}");
    let (status, body) = isapi.get("/ISAPI/ContentMgmt/InputProxy/channels").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list: InputProxyChannelList = parse("InputProxyChannelList", &body);
    let ids: Vec<_> = list.channels.iter().map(|c| c.id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(sim.recordings(0, 401), 24);
    assert_eq!(sim.recordings(0, 501), 0);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_response_status() {
    let sim = start(vec![camera()]).await;
    let isapi = Isapi::new(&sim.devices()[0]);
    let (status, body) = isapi.get("/ISAPI/Nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&body), (4, "notSupport".to_owned()));
    let response = isapi
        .send(Method::DELETE, "/ISAPI/System/deviceInfo", None)
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(content_type(&response), Some("application/xml"));
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status_of(&body), (4, "methodNotAllowed".to_owned()));
}
