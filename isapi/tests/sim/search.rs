//! Search: paging, page caps, shapes, malformed requests, concurrency.

use std::time::Duration;

use isapi::{
    sim::{Codec, DeviceConfig, Faults, Limits, SearchShape},
    xml::{CmSearchResult, SearchStatus},
};
use reqwest::StatusCode;

use crate::common::{
    Isapi, PASSWORD, USER, camera, curl, curl_body, end, parse, search_request, start, status_of,
};

const SEARCH: &str = "/ISAPI/ContentMgmt/search";
const ALL: (&str, &str) = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z");

fn hourly() -> DeviceConfig {
    let mut config = camera();
    config.recording_minutes = 60;
    config
}

fn starts(page: &CmSearchResult) -> Vec<String> {
    page.items()
        .iter()
        .map(|i| i.time_span.start_time.clone())
        .collect()
}

#[tokio::test]
async fn curl_searches_and_pages_through_a_day() {
    let sim = start(vec![hourly()]).await;
    let url = format!("{}{SEARCH}", sim.devices()[0].base_url());
    let request = search_request(&[101], ALL.0, ALL.1, 10, 0);
    let (code, output) = curl(
        USER,
        PASSWORD,
        &["-X", "POST", "--data-binary", &request, &url],
    )
    .await;
    let body = curl_body(&output);
    assert_eq!(code, 200, "{body}");
    let page: CmSearchResult = parse("CMSearchResult", &body);
    assert_eq!(page.status(), Ok(SearchStatus::More));
    assert_eq!(page.num_of_matches, Some(10));
    assert_eq!(
        page.search_id.as_deref(),
        Some("C0A8F2D4-1B3E-4F5A-9C7D-2E6B8A1F3C5D")
    );
    let first = &page.items()[0];
    // A day ending 12:00 device time (UTC+8), hour by hour, times written with the lying Z.
    assert_eq!(first.time_span.start_time, "2026-11-23T12:00:00Z");
    assert_eq!(first.time_span.end_time, "2026-11-23T13:00:00Z");
    assert_eq!(first.track_id, Some(101));
    let media = &first.media_segment_descriptor;
    assert_eq!(media.content_type.as_deref(), Some("video"));
    assert_eq!(media.codec_type.as_deref(), Some("H.264"));
    let port = sim.devices()[0].addr.port();
    assert!(
        media.playback_uri.starts_with(&format!(
            "rtsp://127.0.0.1:{port}/Streaming/tracks/101/?starttime=20261123T120000Z&endtime=20261123T130000Z&name="
        )),
        "{}",
        media.playback_uri
    );
    let size: u64 = media
        .playback_uri
        .rsplit("size=")
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert_eq!(
        sim.checksum(0, &media.playback_uri).map(|c| c.bytes),
        Some(size)
    );

    let isapi = Isapi::new(&sim.devices()[0]);
    let last = isapi
        .search(&search_request(&[101], ALL.0, ALL.1, 10, 20))
        .await;
    assert_eq!(last.status(), Ok(SearchStatus::Ok));
    assert_eq!(
        starts(&last).last().map(String::as_str),
        Some("2026-11-24T11:00:00Z")
    );
    assert_eq!(last.num_of_matches, Some(4));
    let beyond = isapi
        .search(&search_request(&[101], ALL.0, ALL.1, 10, 24))
        .await;
    assert_eq!(beyond.status(), Ok(SearchStatus::NoMatches));
    assert_eq!(beyond.num_of_matches, Some(0));
    assert_eq!(sim.stats(0).searches, 3);
}

#[tokio::test]
async fn spans_select_overlapping_recordings_of_all_tracks_in_time_order() {
    let mut nvr = DeviceConfig::nvr(USER, PASSWORD, 2);
    nvr.days = 1;
    nvr.end = Some(end());
    nvr.codec = Codec::Mixed;
    let sim = start(vec![nvr]).await;
    let isapi = Isapi::new(&sim.devices()[0]);
    let page = isapi
        .search(&search_request(
            &[201, 101],
            "2026-11-24T09:30:00+08:00",
            "2026-11-24T11:00:00Z",
            64,
            0,
        ))
        .await;
    let got: Vec<_> = page
        .items()
        .iter()
        .map(|i| {
            (
                i.time_span.start_time.as_str(),
                i.track_id.unwrap_or(0),
                i.media_segment_descriptor
                    .codec_type
                    .as_deref()
                    .unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-11-24T09:00:00Z", 101, "H.264"),
            ("2026-11-24T09:00:00Z", 201, "H.265"),
            ("2026-11-24T10:00:00Z", 101, "H.264"),
            ("2026-11-24T10:00:00Z", 201, "H.265"),
        ]
    );
    assert_eq!(page.status(), Ok(SearchStatus::Ok));
    let none = isapi
        .search(&search_request(
            &[101],
            "2030-01-01T00:00:00Z",
            "2030-01-02T00:00:00Z",
            64,
            0,
        ))
        .await;
    assert_eq!(none.status(), Ok(SearchStatus::NoMatches));
    assert!(none.items().is_empty());
}

#[tokio::test]
async fn pages_are_capped_and_some_devices_ignore_the_position() {
    let mut config = hourly();
    config.days = 7;
    config.limits.max_results_per_page = 40;
    let sim = start(vec![config]).await;
    let isapi = Isapi::new(&sim.devices()[0]);
    let page = isapi
        .search(&search_request(&[101], ALL.0, ALL.1, 100, 0))
        .await;
    assert_eq!(page.items().len(), 40, "maxResults is capped silently");
    assert_eq!(page.status(), Ok(SearchStatus::More));
    let second = isapi
        .search(&search_request(&[101], ALL.0, ALL.1, 100, 40))
        .await;
    assert_eq!(
        second.items()[0].time_span.start_time,
        "2026-11-19T04:00:00Z"
    );

    sim.set_limits(
        0,
        Limits {
            ignores_position: true,
            ..Limits::default()
        },
    );
    let ignored = isapi
        .search(&search_request(&[101], ALL.0, ALL.1, 10, 40))
        .await;
    assert_eq!(starts(&ignored), starts(&page)[..10]);
    // The way on: search again from the last item's start.
    let last = &ignored.items()[9].time_span.start_time;
    let on = isapi
        .search(&search_request(&[101], last, ALL.1, 10, 0))
        .await;
    assert_eq!(&on.items()[0].time_span.start_time, last);
}

#[tokio::test]
async fn bad_requests_get_400_with_the_reason() {
    let mut list_only = hourly();
    list_only.limits.search_shape = SearchShape::TrackListOnly;
    let mut id_list_only = hourly();
    id_list_only.limits.search_shape = SearchShape::TrackIdListOnly;
    let sim = start(vec![list_only, id_list_only]).await;
    let isapi = Isapi::new(&sim.devices()[0]);
    let good = search_request(&[101], ALL.0, ALL.1, 10, 0);
    let id_list = good.replace("trackList>", "trackIDList>");
    let cases = [
        (
            "<CMSearchDescription><searchID>x</searchID",
            5,
            "badXmlFormat",
        ),
        ("not xml at all", 5, "badXmlFormat"),
        (
            "<CMSearchDescription><searchID>x</searchID></CMSearchDescription>",
            6,
            "badXmlContent",
        ),
        (id_list.as_str(), 6, "badXmlContent"),
        (&good.replace(">101<", ">901<"), 6, "badXmlContent"),
        (
            &good.replace("2000-01-01T00:00:00Z", "yesterday"),
            6,
            "badXmlContent",
        ),
    ];
    for (body, code, sub) in cases {
        let (status, reply) = isapi.post(SEARCH, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}\n{reply}");
        assert_eq!(status_of(&reply), (code, sub.to_owned()), "{body}");
    }
    let other = Isapi::new(&sim.devices()[1]);
    let (status, _) = other.post(SEARCH, &good).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "trackList refused");
    let (status, reply) = other.post(SEARCH, &id_list).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

#[tokio::test]
async fn a_second_concurrent_search_finds_the_device_busy() {
    let mut config = hourly();
    config.faults = Faults {
        slow_first_byte: Some(Duration::from_millis(400)),
        ..Faults::default()
    };
    let sim = start(vec![config]).await;
    let device = &sim.devices()[0];
    let (a, b) = (Isapi::new(device), Isapi::new(device));
    // Both authenticated first, so the searches themselves race.
    a.get("/ISAPI/System/deviceInfo").await;
    b.get("/ISAPI/System/deviceInfo").await;
    let request = search_request(&[101], ALL.0, ALL.1, 10, 0);
    let started = tokio::time::Instant::now();
    let (first, second) = tokio::join!(a.post(SEARCH, &request), b.post(SEARCH, &request));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "slow first byte"
    );
    // Whichever came second found the first one searching.
    let (ok, busy) = if first.0 == StatusCode::OK {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(busy.0, StatusCode::SERVICE_UNAVAILABLE, "{}", busy.1);
    assert_eq!(status_of(&busy.1), (2, "deviceBusy".to_owned()));
    assert_eq!(sim.stats(0).busy_answers, 1);
    assert_eq!(
        b.post(SEARCH, &request).await.0,
        StatusCode::OK,
        "free again"
    );
}
