//! The client against devices that speak ISAPI the way some real firmware does
//! ([`isapi::sim::Quirks`]), over real sockets: zero-length or missing time spans (the range
//! comes from the playback URI), ISO 8601 URI times, log entries mixed into search pages,
//! the `CMSearchProfile` root, no search profile or an unreadable one, and
//! `/ISAPI/System/status`. Each quirky device must give exactly the recordings a plain one
//! gives, and its recordings must download byte for byte.

use std::{sync::OnceLock, time::Duration};

use futures::TryStreamExt;
use isapi::{
    Client, ClientConfig, Device, Recording, SearchQuery,
    sim::{
        DeviceConfig, FOREIGN_ITEM_EVERY, ProfileStyle, Quirks, SimConfig, Simulator,
        TimeSpanStyle, default_clips_dir,
    },
    xml::SearchProfile,
};
use jiff::{SignedDuration, Timestamp};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const USER: &str = "admin";
const PASSWORD: &str = "Quirk-pass1";

fn end() -> Timestamp {
    "2026-11-24T16:00:00Z".parse().expect("valid timestamp")
}

/// A camera with a day of 10-minute recordings (144) and the given quirks.
fn camera(quirks: Quirks) -> DeviceConfig {
    let mut config = DeviceConfig::camera(USER, PASSWORD);
    config.end = Some(end());
    config.days = 1;
    config.recording_minutes = 10;
    config.quirks = quirks;
    config
}

async fn start(devices: Vec<DeviceConfig>) -> Simulator {
    Simulator::start(SimConfig {
        devices,
        clips_dir: default_clips_dir(),
    })
    .await
    .expect("simulator starts (run scripts/make-clips first)")
}

fn device(sim: &Simulator, index: usize, config: ClientConfig) -> Device {
    Client::new(config)
        .expect("client")
        .device(&sim.devices()[index].base_url(), USER, PASSWORD)
        .expect("device")
}

fn whole_day() -> SearchQuery {
    SearchQuery {
        track: 101,
        start: end() - SignedDuration::from_hours(24),
        end: end(),
    }
}

async fn search_all(device: &Device, query: SearchQuery) -> Vec<Recording> {
    device
        .search(query)
        .try_collect()
        .await
        .expect("search succeeds")
}

/// What must agree between two devices with the same recordings (URIs name the device's
/// own address, so they differ).
fn ranges(recordings: &[Recording]) -> Vec<String> {
    recordings
        .iter()
        .map(|r| {
            format!(
                "{} {}..{} ({}..{}) {:?} {:?}",
                r.track, r.start, r.end, r.local_start, r.local_end, r.codec, r.size
            )
        })
        .collect()
}

/// Downloads `recording` whole and checks it against what the simulator says it serves.
async fn assert_downloads(sim: &Simulator, index: usize, device: &Device, recording: &Recording) {
    let mut download = device
        .download(&recording.playback_uri)
        .await
        .unwrap_or_else(|e| panic!("download of {}: {e}", recording.playback_uri));
    let mut body = Vec::new();
    download
        .read_to_end(&mut body)
        .await
        .unwrap_or_else(|e| panic!("body of {}: {e}", recording.playback_uri));
    let expected = sim
        .checksum(index, &recording.playback_uri)
        .unwrap_or_else(|| panic!("the simulator knows {}", recording.playback_uri));
    assert_eq!(
        body.len() as u64,
        expected.bytes,
        "{}",
        recording.playback_uri
    );
    assert_eq!(
        crc32fast::hash(&body),
        expected.crc32,
        "{}",
        recording.playback_uri
    );
    assert_eq!(Some(body.len() as u64), recording.size);
}

fn quirks(names: &[&str]) -> Quirks {
    let mut quirks = Quirks::default();
    for name in names {
        quirks.set(name).unwrap_or_else(|e| panic!("{e}"));
    }
    quirks
}

#[tokio::test]
async fn ranges_come_from_the_uri_when_the_time_span_says_nothing() {
    let variants: [&[&str]; 5] = [
        &["degenerate-time-spans"],
        &["missing-time-spans"],
        &["iso-uri-times"],
        &["degenerate-time-spans", "iso-uri-times"],
        &["missing-time-spans", "iso-uri-times"],
    ];
    let mut configs = vec![camera(Quirks::default())];
    configs.extend(variants.iter().map(|names| camera(quirks(names))));
    let sim = start(configs).await;
    let plain = search_all(&device(&sim, 0, ClientConfig::default()), whole_day()).await;
    assert_eq!(plain.len(), 144);
    for (i, names) in variants.iter().enumerate() {
        let index = i + 1;
        let quirky = device(&sim, index, ClientConfig::default());
        let found = search_all(&quirky, whole_day()).await;
        assert_eq!(ranges(&found), ranges(&plain), "{names:?}");
        assert!(
            found
                .iter()
                .all(|r| r.end.duration_since(r.start) == SignedDuration::from_mins(10)),
            "{names:?}: every recording lasts 10 minutes"
        );
        assert_eq!(quirky.skipped_search_items(), [], "{names:?}");
        if names.contains(&"iso-uri-times") {
            assert!(
                found[0].playback_uri.contains("starttime=2026-"),
                "{}",
                found[0].playback_uri
            );
        }
        // A time filter that cuts the day: the URI ranges are what the search filters on.
        let afternoon = SearchQuery {
            track: 101,
            start: end() - SignedDuration::from_hours(3),
            end: end() - SignedDuration::from_mins(95),
        };
        let part = search_all(&quirky, afternoon.clone()).await;
        let plain_part = search_all(&device(&sim, 0, ClientConfig::default()), afternoon).await;
        assert_eq!(ranges(&part), ranges(&plain_part), "{names:?}");
        assert_eq!(part.len(), 9, "{names:?}");
        for recording in [&found[0], &found[143]] {
            assert_downloads(&sim, index, &quirky, recording).await;
        }
    }
}

/// The process's metrics, recorded from the first call on.
fn metrics() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only recorder of this test binary");
        snapshotter
    })
}

fn skipped_counter(reason: &str) -> u64 {
    metrics()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "isapi_search_items_skipped_total")
        .filter(|(key, ..)| {
            key.key()
                .labels()
                .any(|l| l.key() == "reason" && l.value() == reason)
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            other => panic!("not a counter: {other:?}"),
        })
        .sum()
}

#[tokio::test]
async fn foreign_items_are_skipped_counted_and_paged_over() {
    metrics();
    // Small pages so that log entries fall on many pages, in both paging styles.
    let mut by_position = camera(quirks(&["foreign-items"]));
    by_position.limits.max_results_per_page = 10;
    let mut by_time = by_position.clone();
    by_time.limits.ignores_position = true;
    let sim = start(vec![camera(Quirks::default()), by_position, by_time]).await;
    let plain = search_all(&device(&sim, 0, ClientConfig::default()), whole_day()).await;
    let before = skipped_counter("not_a_recording");
    for index in [1, 2] {
        let quirky = device(&sim, index, ClientConfig::default());
        let found = search_all(&quirky, whole_day()).await;
        assert_eq!(ranges(&found), ranges(&plain), "device {index}");
        let skipped = quirky.skipped_search_items();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].0, "not_a_recording");
        if index == 1 {
            // Paged by position: each log entry is seen exactly once.
            assert_eq!(skipped[0].1, 144 / FOREIGN_ITEM_EVERY, "{skipped:?}");
        } else {
            // Paged by time: each page is a new search, whose own log entries are skipped.
            assert!(skipped[0].1 >= 144 / 10, "{skipped:?}");
        }
        assert!(
            sim.stats(index).searches >= 144 / 10,
            "device {index} was searched page by page"
        );
    }
    assert!(
        skipped_counter("not_a_recording") >= before + 144 / FOREIGN_ITEM_EVERY + 144 / 10,
        "isapi_search_items_skipped_total counts them"
    );
}

#[tokio::test]
async fn every_search_profile_variant_lets_the_device_be_added_and_searched() {
    let mut configs = Vec::new();
    for style in [
        ProfileStyle::SearchProfile,
        ProfileStyle::CmSearchProfile,
        ProfileStyle::Missing,
        ProfileStyle::Unreadable,
    ] {
        let mut config = camera(Quirks {
            search_profile: style,
            ..Quirks::default()
        });
        config.limits.max_results_per_page = 50;
        configs.push(config);
    }
    let sim = start(configs).await;
    let mut reference: Option<Vec<String>> = None;
    for (index, expected) in [
        (0, (Some(50), Some(1), None)),
        (1, (Some(50), Some(1), Some("full"))),
        (2, fallback_parts()),
        (3, fallback_parts()),
    ] {
        let device = device(&sim, index, ClientConfig::default());
        let discovery = device
            .discover()
            .await
            .unwrap_or_else(|e| panic!("device {index} can be added: {e}"));
        let profile = discovery.search_profile;
        assert_eq!(
            (
                profile.max_results,
                profile.max_concurrent_searches,
                profile.level.as_deref()
            ),
            expected,
            "device {index}: {profile:?}"
        );
        if index == 1 {
            assert_eq!(profile.max_search_tracks, Some(1));
            assert_eq!(profile.max_search_timespans, Some(1));
        }
        let found = ranges(&search_all(&device, whole_day()).await);
        assert_eq!(found.len(), 144, "device {index}");
        match &reference {
            None => reference = Some(found),
            Some(first) => assert_eq!(&found, first, "device {index}"),
        }
    }
}

/// The fallback profile's parts as the variant test compares them.
fn fallback_parts() -> (Option<u32>, Option<u32>, Option<&'static str>) {
    let fallback = SearchProfile::fallback();
    assert_eq!(fallback.max_results, Some(64));
    assert_eq!(fallback.max_concurrent_searches, Some(1));
    (fallback.max_results, fallback.max_concurrent_searches, None)
}

#[tokio::test]
async fn a_profile_that_fails_for_a_passing_reason_is_not_replaced_by_the_fallback() {
    // A wrong password must stay an error (the device is not added with defaults), and so
    // must an unreachable device.
    let sim = start(vec![camera(quirks(&["no-search-profile"]))]).await;
    let wrong = Client::new(ClientConfig::default())
        .expect("client")
        .device(&sim.devices()[0].base_url(), USER, "wrong-password")
        .expect("device");
    let error = wrong.search_profile().await.expect_err("wrong password");
    assert!(
        matches!(error.kind, isapi::ErrorKind::BadCredentials { .. }),
        "{error}"
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    let unreachable = Client::new(config)
        .expect("client")
        .device(&closed, USER, PASSWORD)
        .expect("device");
    let error = unreachable.search_profile().await.expect_err("unreachable");
    assert!(error.is_retryable(), "{error}");
}

#[tokio::test]
async fn system_status_answers_like_a_camera() {
    let sim = start(vec![camera(Quirks::default())]).await;
    let device = device(&sim, 0, ClientConfig::default());
    let status = device.status().await.expect("status");
    let clock = status.current_device_time.expect("currentDeviceTime");
    let zoned: jiff::Zoned = clock
        .parse::<Timestamp>()
        .map(|ts| ts.to_zoned(jiff::tz::TimeZone::UTC))
        .unwrap_or_else(|e| panic!("{clock}: {e}"));
    let skew = Timestamp::now().duration_since(zoned.timestamp()).abs();
    assert!(skew < SignedDuration::from_mins(1), "{clock}");
    assert!(clock.ends_with("+08:00"), "{clock}");
    assert!(status.device_up_time.is_some());
    assert_eq!(status.cpu_list.map(|l| l.cpus.len()), Some(1));
}

#[test]
fn quirk_names_are_all_accepted_and_unknown_ones_refused() {
    for name in Quirks::NAMES {
        let mut quirks = Quirks::default();
        quirks.set(name).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(quirks, Quirks::default(), "{name} changes something");
    }
    let mut quirks = Quirks::default();
    let error = quirks.set("zero-length").expect_err("unknown");
    assert!(error.contains("degenerate-time-spans"), "{error}");
    assert_eq!(Quirks::default().time_spans, TimeSpanStyle::Exact);
}
