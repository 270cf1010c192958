//! The XML documents against fixtures written the way cameras and NVRs send them
//! (`isapi/testdata/`): every modelled field read as written, every unmodelled element
//! ignored, every broken body rejected with a message naming the document, and every value
//! the client or the simulator serialises read back unchanged.

use super::*;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

/// A fixture as `(file name, contents)`, so failures say which file.
macro_rules! fixture {
    ($name:literal) => {
        ($name, include_str!(concat!("../../testdata/", $name)))
    };
}

type Fixture = (&'static str, &'static str);

/// Runs the parser for one document type, keeping only whether it accepted the body.
type Parser = fn(&'static str, &str) -> Result<(), XmlError>;

fn accepts<T: DeserializeOwned>(document: &'static str, body: &str) -> Result<(), XmlError> {
    parse::<T>(document, body).map(drop)
}

/// Every document type with the root element it is parsed under.
const PARSERS: &[(&str, Parser)] = &[
    ("DeviceInfo", accepts::<DeviceInfo>),
    ("Time", accepts::<DeviceTime>),
    ("StreamingChannelList", accepts::<StreamingChannelList>),
    ("InputProxyChannelList", accepts::<InputProxyChannelList>),
    ("TrackList", accepts::<TrackList>),
    ("SearchProfile", accepts::<SearchProfile>),
    ("CMSearchProfile", accepts::<SearchProfile>),
    ("DeviceStatus", accepts::<DeviceStatus>),
    ("CMSearchDescription", accepts::<CmSearchDescription>),
    ("CMSearchResult", accepts::<CmSearchResult>),
    ("downloadRequest", accepts::<DownloadRequest>),
    ("ResponseStatus", accepts::<ResponseStatus>),
    ("userCheck", accepts::<UserCheck>),
];

/// Every well-formed fixture with the root it is a document of.
const VALID: &[(&str, Fixture)] = &[
    ("DeviceInfo", fixture!("device_info_camera.xml")),
    ("DeviceInfo", fixture!("device_info_nvr.xml")),
    ("Time", fixture!("time_cst.xml")),
    ("Time", fixture!("time_dst.xml")),
    ("StreamingChannelList", fixture!("streaming_channels.xml")),
    (
        "InputProxyChannelList",
        fixture!("input_proxy_channels.xml"),
    ),
    ("TrackList", fixture!("record_tracks.xml")),
    ("SearchProfile", fixture!("search_profile.xml")),
    ("CMSearchProfile", fixture!("search_profile_cm.xml")),
    ("DeviceStatus", fixture!("device_status.xml")),
    (
        "CMSearchDescription",
        fixture!("search_description_tracklist.xml"),
    ),
    (
        "CMSearchDescription",
        fixture!("search_description_trackidlist.xml"),
    ),
    ("CMSearchResult", fixture!("search_result_more.xml")),
    ("CMSearchResult", fixture!("search_result_ok.xml")),
    ("CMSearchResult", fixture!("search_result_no_matches.xml")),
    (
        "CMSearchResult",
        fixture!("search_result_missing_optional.xml"),
    ),
    ("CMSearchResult", fixture!("search_result_extra_fields.xml")),
    (
        "CMSearchResult",
        fixture!("search_result_degenerate_time_span.xml"),
    ),
    (
        "CMSearchResult",
        fixture!("search_result_iso_uri_times.xml"),
    ),
    ("ResponseStatus", fixture!("response_status_busy.xml")),
    (
        "ResponseStatus",
        fixture!("response_status_not_support.xml"),
    ),
    ("ResponseStatus", fixture!("response_status_bad_auth.xml")),
    ("userCheck", fixture!("user_check_locked.xml")),
    ("userCheck", fixture!("user_check_attempts_left.xml")),
];

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

/// Parses a fixture that must parse, failing with the file name and the parser's message.
fn parsed<T: DeserializeOwned>(document: &'static str, (name, body): (&str, &str)) -> T {
    match parse::<T>(document, body) {
        Ok(value) => value,
        Err(e) => panic!("{name}: expected a {document}, got: {e}"),
    }
}

/// Fails with `context` unless `actual == expected`, printing both pretty and the first line
/// where they differ, so a change deep inside a long document is easy to spot.
fn assert_same<T: PartialEq + Debug>(actual: &T, expected: &T, context: &str) {
    if actual == expected {
        return;
    }
    let (actual, expected) = (format!("{actual:#?}"), format!("{expected:#?}"));
    let first_difference = expected
        .lines()
        .zip(actual.lines())
        .enumerate()
        .find(|(_, (e, a))| e != a)
        .map_or_else(
            || "one is a prefix of the other".to_owned(),
            |(line, (e, a))| {
                format!(
                    "line {}: expected `{}`, actual `{}`",
                    line + 1,
                    e.trim(),
                    a.trim()
                )
            },
        );
    panic!("{context}: {first_difference}\n--- expected\n{expected}\n--- actual\n{actual}");
}

/// Parses `fixture` as `document` and compares the whole value with `expected`.
fn check<T>(document: &'static str, fixture: Fixture, expected: &T) -> T
where
    T: DeserializeOwned + PartialEq + Debug,
{
    let actual: T = parsed(document, fixture);
    assert_same(
        &actual,
        expected,
        &format!("{}: parsed as {document}", fixture.0),
    );
    actual
}

/// Serialises `value` as `document`, parses the text back and requires the same value.
/// Returns the text so callers can look at how it was written.
fn check_round_trip<T>(document: &'static str, value: &T) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = to_string(document, value);
    match parse::<T>(document, &text) {
        Ok(back) => assert_same(
            &back,
            value,
            &format!("{document} changed on a round trip through\n{text}\n"),
        ),
        Err(e) => panic!("{document} does not read back its own output: {e}\n{text}"),
    }
    text
}

#[test]
fn xml_device_info_fixtures() {
    let camera = DeviceInfo {
        version: some("2.0"),
        xmlns: some("http://www.hikvision.com/ver20/XMLSchema"),
        device_name: some("Entrance Dome"),
        device_id: some("48a7b2c0-5d1e-11b2-8012-bcad28e4a1f6"),
        model: "DS-2CD2143G2-IS".to_owned(),
        serial_number: "DS-2CD2143G2-IS20230815AAWRJ41234567".to_owned(),
        mac_address: some("bc:ad:28:e4:a1:f6"),
        firmware_version: some("V5.7.12"),
        firmware_released_date: some("build 230112"),
        device_type: some("IPCamera"),
    };
    let nvr = DeviceInfo {
        version: some("2.0"),
        xmlns: some(ISAPI_NAMESPACE),
        device_name: some("Network Video Recorder"),
        device_id: some("12345678-9abc-def0-1234-4c62df0a9b3e"),
        model: "DS-7608NI-K2/8P".to_owned(),
        serial_number: "DS-7608NI-K2/8P0820220301CCRRJ98765432WCVU".to_owned(),
        mac_address: some("4c:62:df:0a:9b:3e"),
        firmware_version: some("V4.61.025"),
        firmware_released_date: some("build 220720"),
        device_type: some("NVR"),
    };
    for (fixture, expected, is_recorder) in [
        (fixture!("device_info_camera.xml"), camera, false),
        (fixture!("device_info_nvr.xml"), nvr, true),
    ] {
        let info = check("DeviceInfo", fixture, &expected);
        assert_eq!(
            info.is_recorder(),
            is_recorder,
            "{}: is_recorder",
            fixture.0
        );
    }
}

#[test]
fn xml_device_time_fixtures() {
    for (fixture, expected) in [
        (
            fixture!("time_cst.xml"),
            DeviceTime {
                version: some("2.0"),
                xmlns: some("http://www.hikvision.com/ver20/XMLSchema"),
                time_mode: some("NTP"),
                local_time: "2026-11-25T20:00:00+08:00".to_owned(),
                time_zone: some("CST-8:00:00"),
            },
        ),
        (
            fixture!("time_dst.xml"),
            DeviceTime {
                version: some("2.0"),
                xmlns: some(ISAPI_NAMESPACE),
                time_mode: some("manual"),
                local_time: "2026-07-04T10:30:15-04:00".to_owned(),
                time_zone: some("CST+5:00:00DST01:00:00,M3.2.0/02:00:00,M11.1.0/02:00:00"),
            },
        ),
    ] {
        check("Time", fixture, &expected);
    }
}

#[test]
fn xml_streaming_channels_fixture() {
    let channel = |id, enabled, video| StreamingChannel {
        id,
        channel_name: some("Entrance Dome"),
        enabled: Some(enabled),
        video,
    };
    let video = |codec: &str, width, height, fps| StreamingVideo {
        video_codec_type: some(codec),
        video_resolution_width: Some(width),
        video_resolution_height: Some(height),
        max_frame_rate: Some(fps),
    };
    let expected = StreamingChannelList {
        version: some("2.0"),
        xmlns: some("http://www.hikvision.com/ver20/XMLSchema"),
        channels: vec![
            channel(101, true, Some(video("H.265", 2688, 1520, 2500))),
            channel(102, true, Some(video("H.264", 640, 360, 1500))),
            // Disabled third stream without a Video section.
            channel(103, false, None),
        ],
    };
    check(
        "StreamingChannelList",
        fixture!("streaming_channels.xml"),
        &expected,
    );
}

#[test]
fn xml_input_proxy_channels_fixture() {
    let port = |protocol: &str, ip: &str, manage_port| SourceInputPortDescriptor {
        proxy_protocol: some(protocol),
        ip_address: some(ip),
        manage_port_no: Some(manage_port),
        src_input_port: Some(1),
    };
    let expected = InputProxyChannelList {
        version: some("2.0"),
        xmlns: some(ISAPI_NAMESPACE),
        channels: vec![
            InputProxyChannel {
                id: 1,
                name: some("Front Door"),
                source_input_port_descriptor: Some(port("HIKVISION", "192.168.254.2", 8000)),
            },
            InputProxyChannel {
                id: 2,
                name: some("Yard PTZ"),
                source_input_port_descriptor: Some(port("ONVIF", "10.20.30.41", 80)),
            },
            InputProxyChannel {
                id: 3,
                name: some("IPCamera 03"),
                source_input_port_descriptor: None,
            },
        ],
    };
    check(
        "InputProxyChannelList",
        fixture!("input_proxy_channels.xml"),
        &expected,
    );
}

#[test]
fn xml_record_tracks_fixture() {
    // The schedule's nested <id> and <Description> must not leak into the track's own.
    let track = |id, channel, enable| Track {
        id,
        channel: Some(channel),
        enable: Some(enable),
        description: some("trackType=standard,trackStorage=local"),
    };
    let expected = TrackList {
        version: some("2.0"),
        xmlns: some("http://www.hikvision.com/ver20/XMLSchema"),
        tracks: vec![
            track(101, 1, true),
            track(102, 1, false),
            track(201, 2, true),
        ],
    };
    check("TrackList", fixture!("record_tracks.xml"), &expected);
}

#[test]
fn xml_search_profile_fixture() {
    let expected = SearchProfile {
        version: some("2.0"),
        xmlns: some(ISAPI_NAMESPACE),
        search_by_time_support: Some(true),
        max_results: Some(50),
        max_concurrent_searches: Some(1),
        ..SearchProfile::default()
    };
    check("SearchProfile", fixture!("search_profile.xml"), &expected);
}

#[test]
fn xml_search_profile_spellings() {
    // Each spelling of the two limits that firmware uses.
    for (body, max_results, max_concurrent) in [
        (
            "<SearchProfile><maxResults>40</maxResults><maxConcurrentSearches>2</maxConcurrentSearches></SearchProfile>",
            Some(40),
            Some(2),
        ),
        (
            "<SearchProfile><maxSearchResults>100</maxSearchResults><maxSearchNum>4</maxSearchNum></SearchProfile>",
            Some(100),
            Some(4),
        ),
        (
            "<SearchProfile><searchMaxResults>30</searchMaxResults><maxConcurrentSearch>1</maxConcurrentSearch></SearchProfile>",
            Some(30),
            Some(1),
        ),
        ("<SearchProfile/>", None, None),
    ] {
        let expected = SearchProfile {
            max_results,
            max_concurrent_searches: max_concurrent,
            ..SearchProfile::default()
        };
        check("SearchProfile", ("inline", body), &expected);
    }
}

#[test]
fn xml_cm_search_profile_fixture() {
    let expected = SearchProfile {
        version: some("1.0"),
        xmlns: some(ISAPI_NAMESPACE),
        level: some("full"),
        max_search_timespans: Some(1),
        max_search_tracks: Some(16),
        max_results: Some(64),
        max_concurrent_searches: Some(1),
        ..SearchProfile::default()
    };
    check(
        "CMSearchProfile",
        fixture!("search_profile_cm.xml"),
        &expected,
    );
}

#[test]
fn xml_device_status_fixture() {
    let expected = DeviceStatus {
        version: some("2.0"),
        xmlns: some(ISAPI_NAMESPACE),
        current_device_time: some("2026-11-24T12:00:05+08:00"),
        device_up_time: Some(864_012),
        cpu_list: Some(CpuList {
            cpus: vec![Cpu {
                cpu_description: some("ARM"),
                cpu_utilization: Some(23),
            }],
        }),
        memory_list: Some(MemoryList {
            memories: vec![Memory {
                memory_description: some("DDR Memory"),
                memory_usage: some("188.320312"),
                memory_available: some("323.679688"),
            }],
        }),
    };
    check("DeviceStatus", fixture!("device_status.xml"), &expected);
    // Every part is optional: a device that sends only its clock is still read.
    let bare = DeviceStatus {
        current_device_time: some("2026-11-24T12:00:05Z"),
        ..DeviceStatus::default()
    };
    check(
        "DeviceStatus",
        (
            "inline",
            "<DeviceStatus><currentDeviceTime>2026-11-24T12:00:05Z</currentDeviceTime></DeviceStatus>",
        ),
        &bare,
    );
}

/// What [`parse_search_page`] made of each item: the playback URI of a readable item, or
/// `Err` with the start of the reason.
fn page_items(fixture: Fixture) -> (SearchPage, Vec<Result<String, String>>) {
    let page = parse_search_page(fixture.1)
        .unwrap_or_else(|e| panic!("{}: expected a readable page, got: {e}", fixture.0));
    let items = page
        .items
        .iter()
        .map(|item| match &item.item {
            Ok(item) => Ok(item.media_segment_descriptor.playback_uri.clone()),
            Err(reason) => Err(reason.chars().take(24).collect()),
        })
        .collect();
    (page, items)
}

#[test]
fn xml_search_page_reads_items_one_by_one() {
    let (page, items) = page_items(fixture!("search_result_foreign_items.xml"));
    assert_eq!(page.result.status(), Ok(SearchStatus::More));
    assert_eq!(page.result.num_of_matches, Some(6));
    assert!(page.result.match_list.is_none());
    assert_eq!(items.len(), 6, "{items:#?}");
    assert!(items[0].as_ref().is_ok_and(|uri| uri.contains("name=a")));
    // The log entry is read (it is a well-formed item); it just has no recording.
    let log = page.items[1]
        .item
        .as_ref()
        .expect("the log entry is readable");
    assert_eq!(log.media_segment_descriptor.playback_uri, "");
    assert_eq!(
        log.log_descriptor
            .as_ref()
            .and_then(|l| l.meta_id.as_deref()),
        Some("log.std-cgi.com/Information/System Running State")
    );
    assert_eq!(items[2], Err("unreadable searchMatchIt".to_owned()));
    assert!(
        page.items[2].raw.contains("one-oh-one"),
        "{}",
        page.items[2].raw
    );
    assert!(
        items[3]
            .as_ref()
            .is_ok_and(|uri| uri.contains("tracks/120"))
    );
    assert_eq!(items[4], Ok(String::new()), "the empty <searchMatchItem/>");
    assert_eq!(page.items[4].raw, "<searchMatchItem/>");
    let no_span = page.items[5].item.as_ref().expect("readable");
    assert!(no_span.time_span.is_empty());
    assert!(
        no_span
            .media_segment_descriptor
            .playback_uri
            .contains("name=c")
    );
}

#[test]
fn xml_search_page_agrees_with_the_whole_document() {
    // On pages every item of which is readable, item by item gives what the whole-document
    // parse gives, and the raw text of each item parses to the same value.
    for &(root, fixture) in VALID.iter().filter(|(root, _)| *root == "CMSearchResult") {
        let whole: CmSearchResult = parsed(root, fixture);
        let page = parse_search_page(fixture.1).unwrap_or_else(|e| panic!("{}: {e}", fixture.0));
        let items: Vec<SearchMatchItem> = page
            .items
            .iter()
            .map(|item| {
                item.item
                    .clone()
                    .unwrap_or_else(|e| panic!("{}: {e}", fixture.0))
            })
            .collect();
        assert_same(&items.as_slice(), &whole.items(), fixture.0);
        assert_eq!(page.result.response_status_strg, whole.response_status_strg);
        assert_eq!(page.result.num_of_matches, whole.num_of_matches);
    }
}

#[test]
fn xml_search_page_refuses_what_is_not_a_result() {
    for fixture in [
        fixture!("garbage_empty.xml"),
        fixture!("garbage_html.xml"),
        fixture!("garbage_truncated.xml"),
        fixture!("garbage_wrong_root.xml"),
        (
            "no status",
            "<CMSearchResult><matchList><searchMatchItem/></matchList></CMSearchResult>",
        ),
        (
            "broken item",
            "<CMSearchResult><responseStatusStrg>OK</responseStatusStrg><matchList><searchMatchItem><a></b></searchMatchItem></matchList></CMSearchResult>",
        ),
    ] {
        let refused = parse_search_page(fixture.1);
        assert!(refused.is_err(), "{}: should be refused", fixture.0);
    }
}

/// One search result item as devices fill it in.
fn match_item(
    track: u32,
    (start, end): (&str, &str),
    codec: &str,
    playback_uri: &str,
) -> SearchMatchItem {
    SearchMatchItem {
        source_id: some("{0000000000-0000-0000-0000-000000000000}"),
        track_id: Some(track),
        time_span: TimeSpan {
            start_time: start.to_owned(),
            end_time: end.to_owned(),
        },
        media_segment_descriptor: MediaSegmentDescriptor {
            content_type: some("video"),
            codec_type: some(codec),
            playback_uri: playback_uri.to_owned(),
        },
        log_descriptor: None,
    }
}

/// An item with only the elements every firmware sends.
fn bare_item((start, end): (&str, &str), playback_uri: &str) -> SearchMatchItem {
    SearchMatchItem {
        source_id: None,
        track_id: None,
        time_span: TimeSpan {
            start_time: start.to_owned(),
            end_time: end.to_owned(),
        },
        media_segment_descriptor: MediaSegmentDescriptor {
            content_type: None,
            codec_type: None,
            playback_uri: playback_uri.to_owned(),
        },
        log_descriptor: None,
    }
}

fn search_result(
    (version, xmlns): (&str, &str),
    search_id: &str,
    response_status: Option<bool>,
    status: &str,
    num_of_matches: u32,
    items: Option<Vec<SearchMatchItem>>,
) -> CmSearchResult {
    CmSearchResult {
        version: some(version),
        xmlns: some(xmlns),
        search_id: some(search_id),
        response_status,
        response_status_strg: status.to_owned(),
        num_of_matches: Some(num_of_matches),
        match_list: items.map(|items| MatchList { items }),
    }
}

const SEARCH_ID: &str = "{C0A8F2D4-1B3E-4F5A-9C7D-2E6B8A1F3C5D}";
const HIK_V20: &str = "http://www.hikvision.com/ver20/XMLSchema";

#[test]
fn xml_search_result_fixtures() {
    let isapi_v20 = ("2.0", ISAPI_NAMESPACE);
    let hik_v20 = ("2.0", HIK_V20);
    let cases = [
        (
            fixture!("search_result_more.xml"),
            SearchStatus::More,
            search_result(
                isapi_v20,
                SEARCH_ID,
                Some(true),
                "MORE",
                3,
                Some(vec![
                    match_item(
                        101,
                        ("2026-11-24T00:00:00Z", "2026-11-24T01:02:03Z"),
                        "H.264-BP",
                        "rtsp://192.168.1.64/Streaming/tracks/101/?starttime=20261124T000000Z&endtime=20261124T010203Z&name=00010000231000100&size=262013952",
                    ),
                    match_item(
                        101,
                        ("2026-11-24T01:02:03Z", "2026-11-24T02:10:41Z"),
                        "H.265",
                        "rtsp://192.168.1.64/Streaming/tracks/101/?starttime=20261124T010203Z&endtime=20261124T021041Z&name=00010000232000100&size=268435456",
                    ),
                    match_item(
                        101,
                        ("2026-11-24T02:10:41Z", "2026-11-24T03:00:00Z"),
                        "H.265",
                        "rtsp://192.168.1.64/Streaming/tracks/101/?starttime=20261124T021041Z&endtime=20261124T030000Z&name=00010000233000100&size=201326592",
                    ),
                ]),
            ),
        ),
        (
            fixture!("search_result_ok.xml"),
            SearchStatus::Ok,
            search_result(
                hik_v20,
                SEARCH_ID,
                Some(true),
                "OK",
                1,
                Some(vec![match_item(
                    201,
                    ("2026-11-24T22:45:00Z", "2026-11-24T23:59:59Z"),
                    "H.264",
                    "rtsp://10.0.0.5:554/Streaming/tracks/201/?starttime=20261124T224500Z&endtime=20261124T235959Z&name=ch02_00000000041000213&size=99614720",
                )]),
            ),
        ),
        (
            fixture!("search_result_no_matches.xml"),
            SearchStatus::NoMatches,
            search_result(
                hik_v20,
                "{5E0D1B7A-3C2F-4A9E-8D6B-1F4C7A2E9B30}",
                Some(false),
                "NO MATCHES",
                0,
                Some(Vec::new()),
            ),
        ),
        (
            fixture!("search_result_missing_optional.xml"),
            SearchStatus::Ok,
            search_result(
                ("1.0", "http://www.hikvision.com/ver10/XMLSchema"),
                "C0A8F2D4-1B3E-4F5A-9C7D-2E6B8A1F3C5D",
                None,
                "OK",
                2,
                Some(vec![
                    bare_item(
                        ("2026-11-24T08:00:00Z", "2026-11-24T08:30:00Z"),
                        "rtsp://192.168.1.70/Streaming/tracks/101?starttime=20261124T080000Z&endtime=20261124T083000Z&name=00000000123000000&size=52428800",
                    ),
                    bare_item(
                        ("2026-11-24T08:30:00Z", "2026-11-24T09:00:00Z"),
                        "rtsp://192.168.1.70/Streaming/tracks/101?starttime=20261124T083000Z&endtime=20261124T090000Z&name=00000000124000000&size=52428800",
                    ),
                ]),
            ),
        ),
        (
            fixture!("search_result_extra_fields.xml"),
            SearchStatus::More,
            search_result(
                isapi_v20,
                SEARCH_ID,
                Some(true),
                "MORE",
                2,
                Some(vec![
                    match_item(
                        101,
                        ("2026-11-24T10:00:00Z", "2026-11-24T10:15:00Z"),
                        "H.265",
                        "rtsp://192.168.1.64/Streaming/tracks/101/?starttime=20261124T100000Z&endtime=20261124T101500Z&name=00010000301000100&size=78643200",
                    ),
                    match_item(
                        101,
                        ("2026-11-24T10:15:00Z", "2026-11-24T10:30:00Z"),
                        "H.265",
                        "rtsp://192.168.1.64/Streaming/tracks/101/?starttime=20261124T101500Z&endtime=20261124T103000Z&name=00010000302000100&size=80740352",
                    ),
                ]),
            ),
        ),
    ];
    for (fixture, status, expected) in cases {
        let result = check("CMSearchResult", fixture, &expected);
        assert_eq!(result.status(), Ok(status), "{}: status()", fixture.0);
        let items = expected
            .match_list
            .as_ref()
            .map_or(0, |list| list.items.len());
        assert_eq!(result.items().len(), items, "{}: items()", fixture.0);
        assert_eq!(
            result.into_items().len(),
            items,
            "{}: into_items()",
            fixture.0
        );
    }
}

#[test]
fn xml_search_result_without_match_list() {
    // Firmware that answers NO MATCHES leaves matchList out, writes it empty or with
    // whitespace only; all three mean "no items".
    for body in [
        "<CMSearchResult><responseStatusStrg>NO MATCHES</responseStatusStrg><numOfMatches>0</numOfMatches></CMSearchResult>",
        "<CMSearchResult><responseStatusStrg>NO MATCHES</responseStatusStrg><numOfMatches>0</numOfMatches><matchList></matchList></CMSearchResult>",
        "<CMSearchResult>\r\n<responseStatusStrg>NO MATCHES</responseStatusStrg>\r\n<numOfMatches>0</numOfMatches>\r\n<matchList>\r\n</matchList>\r\n</CMSearchResult>\r\n",
    ] {
        let result: CmSearchResult = parsed("CMSearchResult", ("inline", body));
        assert_eq!(result.status(), Ok(SearchStatus::NoMatches), "{body}");
        assert_eq!(result.num_of_matches, Some(0), "{body}");
        assert_eq!(result.items(), &[] as &[SearchMatchItem], "{body}");
    }
}

#[test]
fn xml_search_result_status_spellings() {
    for (written, expected) in [
        ("OK", Ok(SearchStatus::Ok)),
        (" ok ", Ok(SearchStatus::Ok)),
        ("MORE", Ok(SearchStatus::More)),
        ("More", Ok(SearchStatus::More)),
        ("NO MATCHES", Ok(SearchStatus::NoMatches)),
        ("NO MATCH", Ok(SearchStatus::NoMatches)),
        ("NOMATCHES", Ok(SearchStatus::NoMatches)),
        ("FAILED", Err("FAILED")),
        ("", Err("")),
    ] {
        let result = CmSearchResult {
            response_status_strg: written.to_owned(),
            ..CmSearchResult::default()
        };
        assert_eq!(result.status(), expected, "responseStatusStrg {written:?}");
    }
}

#[test]
fn xml_search_description_fixtures() {
    let span = |start: &str, end: &str| TimeSpan {
        start_time: start.to_owned(),
        end_time: end.to_owned(),
    };
    let track_list = CmSearchDescription {
        version: None,
        xmlns: None,
        search_id: "C0A8F2D4-1B3E-4F5A-9C7D-2E6B8A1F3C5D".to_owned(),
        track_list: Some(TrackIdList {
            track_ids: vec![101],
        }),
        track_id_list: None,
        time_span_list: TimeSpanList {
            time_spans: vec![span("2026-11-24T00:00:00Z", "2026-11-24T23:59:59Z")],
        },
        max_results: 40,
        search_result_position: Some(0),
        metadata_list: Some(MetadataList {
            descriptors: vec!["//recordType.meta.std-cgi.com".to_owned()],
        }),
    };
    let track_id_list = CmSearchDescription {
        version: some("2.0"),
        xmlns: some(ISAPI_NAMESPACE),
        search_id: "{7B3F9A12-6C4D-4E8B-A1F0-93D2C5E7B846}".to_owned(),
        track_list: None,
        track_id_list: Some(TrackIdList {
            track_ids: vec![101, 201, 301],
        }),
        time_span_list: TimeSpanList {
            time_spans: vec![
                span("2026-11-24T00:00:00Z", "2026-11-24T12:00:00Z"),
                span("2026-11-24T18:00:00Z", "2026-11-24T23:59:59Z"),
            ],
        },
        max_results: 50,
        search_result_position: Some(50),
        metadata_list: Some(MetadataList {
            descriptors: vec![
                "//recordType.meta.std-cgi.com/CMR".to_owned(),
                "//recordType.meta.std-cgi.com/MOTION".to_owned(),
            ],
        }),
    };
    for (fixture, expected, tracks) in [
        (
            fixture!("search_description_tracklist.xml"),
            track_list,
            &[101][..],
        ),
        (
            fixture!("search_description_trackidlist.xml"),
            track_id_list,
            &[101, 201, 301][..],
        ),
    ] {
        let description = check("CMSearchDescription", fixture, &expected);
        assert_eq!(description.tracks(), tracks, "{}: tracks()", fixture.0);
    }
}

#[test]
fn xml_search_description_tracks_in_either_shape() {
    let list = |ids: &[u32]| {
        Some(TrackIdList {
            track_ids: ids.to_vec(),
        })
    };
    for (track_list, track_id_list, expected) in [
        (list(&[101]), None, &[101][..]),
        (None, list(&[101, 201]), &[101, 201][..]),
        // Both present (no firmware does this): trackList wins.
        (list(&[101]), list(&[201]), &[101][..]),
        (list(&[]), None, &[][..]),
        (None, None, &[][..]),
    ] {
        let description = CmSearchDescription {
            search_id: "x".to_owned(),
            track_list,
            track_id_list,
            ..CmSearchDescription::default()
        };
        assert_eq!(description.tracks(), expected, "{description:?}");
    }
}

#[test]
fn xml_response_status_fixtures() {
    let status = |url: &str, code, string: &str, sub: &str, error_code, error_msg| ResponseStatus {
        version: some("2.0"),
        xmlns: some(ISAPI_NAMESPACE),
        request_url: some(url),
        status_code: code,
        status_string: some(string),
        sub_status_code: some(sub),
        error_code,
        error_msg,
    };
    let not_support = ResponseStatus {
        version: some("1.0"),
        xmlns: some("http://www.hikvision.com/ver10/XMLSchema"),
        ..status(
            "/ISAPI/ContentMgmt/InputProxy/channels",
            4,
            "Invalid Operation",
            "notSupport",
            None,
            None,
        )
    };
    let bad_auth = ResponseStatus {
        xmlns: some(HIK_V20),
        ..status(
            "/ISAPI/System/deviceInfo",
            4,
            "Invalid Operation",
            "badAuthorization",
            Some(0x4000_0009),
            some("badAuthorization"),
        )
    };
    for (fixture, expected, sub) in [
        (
            fixture!("response_status_busy.xml"),
            status(
                "/ISAPI/ContentMgmt/search",
                2,
                "Device Busy",
                "deviceBusy",
                Some(0x2000_0001),
                some("device is busy"),
            ),
            "deviceBusy",
        ),
        (
            fixture!("response_status_not_support.xml"),
            not_support,
            "notSupport",
        ),
        (
            fixture!("response_status_bad_auth.xml"),
            bad_auth,
            "badAuthorization",
        ),
    ] {
        let status = check("ResponseStatus", fixture, &expected);
        assert_eq!(status.sub_status(), sub, "{}: sub_status()", fixture.0);
        assert!(!status.is_ok(), "{}: is_ok() on a refusal", fixture.0);
    }
}

#[test]
fn xml_response_status_ok_and_missing_sub_status() {
    for (body, sub, is_ok) in [
        (
            "<ResponseStatus><statusCode>1</statusCode><statusString>OK</statusString><subStatusCode>ok</subStatusCode></ResponseStatus>",
            "ok",
            true,
        ),
        (
            "<ResponseStatus><statusCode>0</statusCode></ResponseStatus>",
            "",
            true,
        ),
        (
            "<ResponseStatus><statusCode>1</statusCode><subStatusCode> deviceBusy </subStatusCode></ResponseStatus>",
            "deviceBusy",
            false,
        ),
        (
            "<ResponseStatus><statusCode>6</statusCode><subStatusCode>badXmlContent</subStatusCode></ResponseStatus>",
            "badXmlContent",
            false,
        ),
    ] {
        let status: ResponseStatus = parsed("ResponseStatus", ("inline", body));
        assert_eq!(
            (status.sub_status(), status.is_ok()),
            (sub, is_ok),
            "{body}"
        );
    }
}

#[test]
fn xml_user_check_fixtures() {
    let locked = UserCheck {
        version: None,
        status_value: Some(401),
        status_string: some("Unauthorized"),
        lock_status: some("lock"),
        unlock_time: Some(1772),
        retry_login_time: Some(0),
    };
    let attempts_left = UserCheck {
        version: some("2.0"),
        status_value: Some(401),
        status_string: some("Unauthorized"),
        lock_status: some("unlock"),
        unlock_time: Some(0),
        retry_login_time: Some(3),
    };
    for (fixture, expected, is_locked) in [
        (fixture!("user_check_locked.xml"), locked, true),
        (
            fixture!("user_check_attempts_left.xml"),
            attempts_left,
            false,
        ),
    ] {
        let user_check = check("userCheck", fixture, &expected);
        assert_eq!(
            user_check.is_locked(),
            is_locked,
            "{}: is_locked()",
            fixture.0
        );
    }
}

#[test]
fn xml_garbage_is_rejected_with_a_useful_message() {
    // (body, the document it was read as, what the message must say besides the document)
    let cases: &[(Fixture, &str, &[&str])] = &[
        (
            fixture!("garbage_truncated.xml"),
            "CMSearchResult",
            &["</endTime>", "not found before end of input"],
        ),
        (
            fixture!("garbage_html.xml"),
            "CMSearchResult",
            &["root element is <html>", "expected <CMSearchResult>"],
        ),
        (
            fixture!("garbage_wrong_root.xml"),
            "CMSearchResult",
            &["<CMSearchDescription>", "<CMSearchResult>"],
        ),
        (
            fixture!("garbage_bad_numbers.xml"),
            "CMSearchResult",
            &["\"abc\"", "invalid digit", "numOfMatches"],
        ),
        (
            fixture!("garbage_empty.xml"),
            "CMSearchResult",
            &["empty body"],
        ),
        (("blank", " \r\n\t "), "DeviceInfo", &["empty body"]),
        (
            ("byte order mark only", "\u{feff}\n"),
            "Time",
            &["empty body"],
        ),
        (
            ("plain text", "Unauthorized"),
            "userCheck",
            &["no root element", "Unauthorized"],
        ),
        (
            (
                "declaration only",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            ),
            "ResponseStatus",
            &["no root element"],
        ),
        (
            (
                "missing required element",
                "<CMSearchResult><numOfMatches>0</numOfMatches></CMSearchResult>",
            ),
            "CMSearchResult",
            &["missing field `responseStatusStrg`"],
        ),
        (
            (
                "mismatched end tag",
                "<ResponseStatus><statusCode>2</statusString></ResponseStatus>",
            ),
            "ResponseStatus",
            &["</statusCode>", "</statusString>"],
        ),
        (
            (
                "unescaped ampersand",
                "<downloadRequest><playbackURI>rtsp://h/?a=1&b=2</playbackURI></downloadRequest>",
            ),
            "downloadRequest",
            &["not closed"],
        ),
        (
            (
                "negative count",
                "<userCheck><unlockTime>-5</unlockTime></userCheck>",
            ),
            "userCheck",
            &["\"-5\""],
        ),
        (
            (
                "word for a boolean",
                "<StreamingChannelList><StreamingChannel><id>101</id><enabled>yes</enabled></StreamingChannel></StreamingChannelList>",
            ),
            "StreamingChannelList",
            &["\"yes\"", "boolean"],
        ),
    ];
    for &((name, body), document, fragments) in cases {
        let Some(&(_, parser)) = PARSERS.iter().find(|(root, _)| *root == document) else {
            panic!("no parser for {document}");
        };
        let message = match parser(document, body) {
            Ok(()) => panic!("{name}: accepted as {document}"),
            Err(e) => {
                assert_eq!(e.document, document, "{name}: {e}");
                e.to_string()
            }
        };
        assert!(
            message.contains(document),
            "{name}: message does not name {document}: {message}"
        );
        for fragment in fragments {
            assert!(
                message.contains(fragment),
                "{name}: message does not say {fragment:?}: {message}"
            );
        }
    }
}

#[test]
fn xml_garbage_fixtures_are_rejected_by_every_parser() {
    for (name, body) in [
        fixture!("garbage_truncated.xml"),
        fixture!("garbage_html.xml"),
        fixture!("garbage_wrong_root.xml"),
        fixture!("garbage_bad_numbers.xml"),
        fixture!("garbage_empty.xml"),
    ] {
        for &(document, parser) in PARSERS {
            // The wrong-root fixture is a good request, just not a search result.
            if name == "garbage_wrong_root.xml" && document == "CMSearchDescription" {
                continue;
            }
            match parser(document, body) {
                Ok(()) => panic!("{name}: accepted as {document}"),
                Err(e) => assert!(
                    e.document == document && e.to_string().contains(document),
                    "{name} as {document}: message does not name the document: {e}"
                ),
            }
        }
    }
}

#[test]
fn xml_every_fixture_parses_only_as_its_own_document() {
    for &(root, (name, body)) in VALID {
        for &(document, parser) in PARSERS {
            match (parser(document, body), document == root) {
                (Ok(()), true) => {}
                (Err(e), true) => panic!("{name}: not accepted as {document}: {e}"),
                (Ok(()), false) => panic!("{name}: a {root} accepted as {document}"),
                (Err(e), false) => {
                    let message = e.to_string();
                    assert!(
                        message.contains(&format!("<{root}>"))
                            && message.contains(&format!("<{document}>")),
                        "{name} as {document}: message should name both roots: {message}"
                    );
                }
            }
        }
    }
}

#[test]
fn xml_byte_order_mark_and_surrounding_whitespace_are_ignored() {
    for &(root, (name, body)) in VALID {
        let wrapped = format!("\u{feff}\r\n  {body}\r\n\r\n");
        let Some(&(_, parser)) = PARSERS.iter().find(|(document, _)| *document == root) else {
            panic!("no parser for {root}");
        };
        if let Err(e) = parser(root, &wrapped) {
            panic!("{name} with a byte order mark and blank lines: {e}");
        }
    }
    let plain: CmSearchResult = parsed("CMSearchResult", fixture!("search_result_ok.xml"));
    let wrapped: CmSearchResult = parsed(
        "CMSearchResult",
        (
            "search_result_ok.xml with BOM",
            &format!(
                "\u{feff}{}",
                include_str!("../../testdata/search_result_ok.xml")
            ),
        ),
    );
    assert_same(
        &wrapped,
        &plain,
        "search_result_ok.xml with and without a byte order mark",
    );
}

#[test]
fn xml_root_element() {
    for (body, expected) in [
        ("<CMSearchResult>", Some("CMSearchResult")),
        ("<?xml version=\"1.0\"?>\r\n<userCheck/>", Some("userCheck")),
        ("<ResponseStatus version=\"2.0\">", Some("ResponseStatus")),
        ("<Time\r\nversion=\"2.0\">", Some("Time")),
        (
            "<isapi:CMSearchResult xmlns:isapi=\"x\">",
            Some("CMSearchResult"),
        ),
        ("<!DOCTYPE html>\n<html>", Some("html")),
        ("<!-- comment --><TrackList>", Some("TrackList")),
        ("\u{feff}<DeviceInfo>", Some("DeviceInfo")),
        ("", None),
        ("plain text", None),
        ("<?xml version=\"1.0\"?>", None),
        ("<", None),
        ("<>", None),
        ("</CMSearchResult>", None),
    ] {
        assert_eq!(root_element(body), expected, "root_element({body:?})");
    }
}

#[test]
fn xml_prefixed_elements_are_read_by_local_name() {
    let body = "<isapi:ResponseStatus xmlns:isapi=\"http://www.isapi.org/ver20/XMLSchema\">\
        <isapi:statusCode>2</isapi:statusCode><isapi:subStatusCode>deviceBusy</isapi:subStatusCode>\
        </isapi:ResponseStatus>";
    let status: ResponseStatus = parsed("ResponseStatus", ("prefixed", body));
    assert_eq!((status.status_code, status.sub_status()), (2, "deviceBusy"));
}

#[test]
fn xml_fixtures_round_trip() {
    // Whatever a device sent, the simulator can send back unchanged.
    fn round_trip_fixture<T>(root: &'static str, fixture: Fixture)
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug,
    {
        let value: T = parsed(root, fixture);
        check_round_trip(root, &value);
    }
    for &(root, fixture) in VALID {
        match root {
            "DeviceInfo" => round_trip_fixture::<DeviceInfo>(root, fixture),
            "Time" => round_trip_fixture::<DeviceTime>(root, fixture),
            "StreamingChannelList" => round_trip_fixture::<StreamingChannelList>(root, fixture),
            "InputProxyChannelList" => round_trip_fixture::<InputProxyChannelList>(root, fixture),
            "TrackList" => round_trip_fixture::<TrackList>(root, fixture),
            "SearchProfile" | "CMSearchProfile" => {
                round_trip_fixture::<SearchProfile>(root, fixture);
            }
            "DeviceStatus" => round_trip_fixture::<DeviceStatus>(root, fixture),
            "CMSearchDescription" => round_trip_fixture::<CmSearchDescription>(root, fixture),
            "CMSearchResult" => round_trip_fixture::<CmSearchResult>(root, fixture),
            "ResponseStatus" => round_trip_fixture::<ResponseStatus>(root, fixture),
            "userCheck" => round_trip_fixture::<UserCheck>(root, fixture),
            other => panic!("{}: no round trip for {other}", fixture.0),
        }
    }
}

#[test]
fn xml_search_description_round_trip_in_both_shapes() {
    let base = CmSearchDescription {
        version: some("2.0"),
        xmlns: some(ISAPI_NAMESPACE),
        search_id: "C0A8F2D4-1B3E-4F5A-9C7D-2E6B8A1F3C5D".to_owned(),
        time_span_list: TimeSpanList {
            time_spans: vec![TimeSpan {
                start_time: "2026-11-24T00:00:00Z".to_owned(),
                end_time: "2026-11-24T23:59:59Z".to_owned(),
            }],
        },
        max_results: 50,
        search_result_position: Some(100),
        ..CmSearchDescription::default()
    };
    let tracks = Some(TrackIdList {
        track_ids: vec![101, 201],
    });
    for (description, list_element, other_element) in [
        (
            CmSearchDescription {
                track_list: tracks.clone(),
                ..base.clone()
            },
            "<trackList><trackID>101</trackID><trackID>201</trackID></trackList>",
            "trackIDList",
        ),
        (
            CmSearchDescription {
                track_id_list: tracks.clone(),
                ..base.clone()
            },
            "<trackIDList><trackID>101</trackID><trackID>201</trackID></trackIDList>",
            "<trackList>",
        ),
    ] {
        let text = check_round_trip("CMSearchDescription", &description);
        assert!(text.contains(list_element), "no {list_element} in\n{text}");
        assert!(
            !text.contains(other_element),
            "unexpected {other_element} in\n{text}"
        );
        // The offset goes out spelled the way devices read it.
        assert!(
            text.contains("<searchResultPostion>100</searchResultPostion>"),
            "offset not spelled searchResultPostion in\n{text}"
        );
        match parse::<CmSearchDescription>("CMSearchDescription", &text) {
            Ok(back) => assert_eq!(back.tracks(), &[101, 201], "tracks() after\n{text}"),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn xml_search_result_round_trip_keeps_special_characters() {
    let uri = "rtsp://192.168.1.64/Streaming/tracks/101/?starttime=20261124T000000Z&endtime=20261124T010203Z&name=a<b>\"c\"'d'&size=1";
    let result = CmSearchResult {
        version: some("2.0"),
        xmlns: some(ISAPI_NAMESPACE),
        search_id: some("{C0A8F2D4-1B3E-4F5A-9C7D-2E6B8A1F3C5D}"),
        response_status: Some(true),
        response_status_strg: "MORE".to_owned(),
        num_of_matches: Some(u32::MAX),
        match_list: Some(MatchList {
            items: vec![
                match_item(
                    101,
                    ("2026-11-24T00:00:00Z", "2026-11-24T01:00:00Z"),
                    "H.264",
                    uri,
                ),
                bare_item(("  spaced  ", ""), " "),
            ],
        }),
    };
    let text = check_round_trip("CMSearchResult", &result);
    assert!(text.contains("&amp;endtime="), "& not escaped in\n{text}");
    assert!(text.contains("a&lt;b&gt;"), "< > not escaped in\n{text}");
}

#[test]
fn xml_download_request_round_trip_escapes_ampersands() {
    for (uri, escaped) in [
        (
            "rtsp://192.168.1.64/Streaming/tracks/101/?starttime=20261124T000000Z&endtime=20261124T010203Z&name=00010000231000100&size=262013952",
            "?starttime=20261124T000000Z&amp;endtime=20261124T010203Z&amp;name=00010000231000100&amp;size=262013952</playbackURI>",
        ),
        ("rtsp://h/?a=1&amp;b=2", "?a=1&amp;amp;b=2</playbackURI>"),
        ("rtsp://h/?q=<x>", "?q=&lt;x&gt;</playbackURI>"),
        ("", "<playbackURI/>"),
    ] {
        let request = DownloadRequest {
            version: some("1.0"),
            xmlns: some(ISAPI_NAMESPACE),
            playback_uri: uri.to_owned(),
        };
        let text = check_round_trip("downloadRequest", &request);
        assert!(text.contains(escaped), "expected {escaped:?} in\n{text}");
        assert!(
            text.contains("<downloadRequest "),
            "root not downloadRequest in\n{text}"
        );
    }
}

#[test]
fn xml_response_status_and_user_check_round_trip() {
    for status in [
        ResponseStatus::new(
            "/ISAPI/ContentMgmt/download",
            2,
            "Device Busy",
            "deviceBusy",
        ),
        ResponseStatus::new("/ISAPI/ContentMgmt/search?x=1&y=2", 1, "OK", "ok"),
        ResponseStatus {
            error_code: Some(u64::MAX),
            error_msg: some("<not> \"valid\" & 'fine'"),
            ..ResponseStatus::new("", 6, "Invalid XML Content", "badXmlContent")
        },
    ] {
        check_round_trip("ResponseStatus", &status);
    }
    for user_check in [
        UserCheck::default(),
        UserCheck {
            version: some("2.0"),
            status_value: Some(401),
            status_string: some("Unauthorized"),
            lock_status: some("lock"),
            unlock_time: Some(1800),
            retry_login_time: Some(0),
        },
    ] {
        check_round_trip("userCheck", &user_check);
    }
}
