//! The client against the simulator over real sockets: discovery, paginated search in both
//! pagination styles and both request shapes, exact downloads, every fault mapped to its
//! typed error, wrong passwords without a retry storm, and the lockout.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use isapi::{
    Client, ClientConfig, Container, Device, ErrorKind, Recording, SearchQuery,
    client::SearchShape as ClientShape,
    sim::{
        Codec, DeviceConfig, DownloadMethods, Faults, SearchShape, SimConfig, Simulator,
        default_clips_dir,
    },
};
use jiff::{SignedDuration, Timestamp};

const USER: &str = "admin";
const PASSWORD: &str = "Cam3ra-pass";

/// A fixed end of the recorded period, so counts are exact.
fn end() -> Timestamp {
    "2026-11-24T16:00:00Z".parse().expect("valid timestamp")
}

async fn start(devices: Vec<DeviceConfig>) -> Simulator {
    Simulator::start(SimConfig {
        devices,
        clips_dir: default_clips_dir(),
    })
    .await
    .expect("simulator starts (run scripts/make-clips first)")
}

fn camera() -> DeviceConfig {
    let mut config = DeviceConfig::camera(USER, PASSWORD);
    config.end = Some(end());
    config.days = 1;
    config.recording_minutes = 10;
    config
}

fn client_config() -> ClientConfig {
    ClientConfig {
        stall_timeout: Duration::from_millis(500),
        first_byte_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    }
}

fn device(sim: &Simulator, index: usize, client_config: ClientConfig) -> Device {
    Client::new(client_config)
        .expect("client")
        .device(&sim.devices()[index].base_url(), USER, PASSWORD)
        .expect("device")
}

fn whole_period(track: u32, days: i64) -> SearchQuery {
    SearchQuery {
        track,
        start: end() - SignedDuration::from_hours(24 * days),
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

async fn download_all(device: &Device, uri: &str) -> Result<Vec<u8>, isapi::Error> {
    let mut download = device.download(uri).await?;
    let mut body = Vec::new();
    download.read_to_end(&mut body).await?;
    Ok(body)
}

/// The recordings are exactly one per period, back to back, in order, none twice.
fn assert_complete(recordings: &[Recording], expected: usize, minutes: i64) {
    assert_eq!(recordings.len(), expected, "number of recordings");
    for pair in recordings.windows(2) {
        assert_eq!(
            pair[1].start.duration_since(pair[0].start),
            SignedDuration::from_mins(minutes),
            "{} then {}",
            pair[0].playback_uri,
            pair[1].playback_uri
        );
    }
}

#[tokio::test]
async fn discovers_cameras_and_nvrs() {
    let mut nvr = DeviceConfig::nvr(USER, PASSWORD, 4);
    nvr.end = Some(end());
    nvr.days = 1;
    let sim = start(vec![camera(), nvr]).await;

    let cam = device(&sim, 0, client_config())
        .discover()
        .await
        .expect("camera discovery");
    assert!(!cam.info.is_recorder(), "{:?}", cam.info);
    assert_eq!(cam.info.serial_number, sim.devices()[0].config.serial);
    assert_eq!(cam.tracks.iter().map(|t| t.id).collect::<Vec<_>>(), [101]);
    assert!(cam.proxy_channels.is_empty());
    assert_eq!(cam.search_profile.max_results, Some(64));
    assert_eq!(cam.search_profile.max_concurrent_searches, Some(1));
    assert!(cam.streaming_channels.iter().any(|c| c.id == 101));

    let nvr = device(&sim, 1, client_config())
        .discover()
        .await
        .expect("NVR discovery");
    assert!(nvr.info.is_recorder(), "{:?}", nvr.info);
    assert_eq!(
        nvr.tracks.iter().map(|t| t.id).collect::<Vec<_>>(),
        [101, 201, 301, 401]
    );
    assert_eq!(nvr.proxy_channels.len(), 4);
    // The simulated devices are in CST-8 (UTC+8).
    let local = nvr.zone.to_local(end());
    assert_eq!(local.to_string(), "2026-11-25T00:00:00");
}

#[tokio::test]
async fn recording_times_are_converted_from_the_device_clock() {
    let sim = start(vec![camera()]).await;
    let device = device(&sim, 0, client_config());
    let recordings = search_all(&device, whole_period(101, 1)).await;
    let last = recordings.last().expect("recordings");
    assert_eq!(last.end, end());
    // The device wrote its wall clock (UTC+8) with a Z; the client did not believe the Z.
    assert_eq!(last.local_end.to_string(), "2026-11-25T00:00:00");
    assert_eq!(
        last.end.duration_since(last.start),
        SignedDuration::from_mins(10)
    );
}

/// Thousands of recordings over many pages, every combination of pagination style and
/// request shape the firmware in the field uses.
#[tokio::test]
async fn search_pages_through_thousands_of_recordings() {
    let mut devices = Vec::new();
    for (ignores_position, shape) in [
        (false, SearchShape::Both),
        (true, SearchShape::TrackListOnly),
        (false, SearchShape::TrackIdListOnly),
        (true, SearchShape::TrackIdListOnly),
    ] {
        let mut config = camera();
        config.days = 3;
        config.recording_minutes = 2;
        config.limits.ignores_position = ignores_position;
        config.limits.search_shape = shape;
        devices.push(config);
    }
    let sim = start(devices).await;
    let expected = 3 * 24 * 30;
    assert_eq!(sim.recordings(0, 101), expected);
    let mut reference: Option<Vec<Recording>> = None;
    for index in 0..sim.devices().len() {
        let device = device(&sim, index, client_config());
        let recordings = search_all(&device, whole_period(101, 3)).await;
        assert_complete(&recordings, expected, 2);
        let searches = sim.stats(index).searches;
        assert!(
            searches >= (expected / 64) as u64,
            "device {index}: {searches} search requests for {expected} recordings at most 64 a page"
        );
        let starts: Vec<_> = recordings.iter().map(|r| r.start).collect();
        match &reference {
            None => reference = Some(recordings),
            Some(first) => assert_eq!(
                starts,
                first.iter().map(|r| r.start).collect::<Vec<_>>(),
                "device {index} found other recordings"
            ),
        }
    }
}

#[tokio::test]
async fn search_is_lazy() {
    let mut config = camera();
    config.days = 3;
    config.recording_minutes = 1;
    let sim = start(vec![config]).await;
    let device = device(&sim, 0, client_config());
    let first: Vec<_> = device
        .search(whole_period(101, 3))
        .take(5)
        .try_collect()
        .await
        .expect("search");
    assert_eq!(first.len(), 5);
    assert_eq!(
        sim.stats(0).searches,
        1,
        "only the first page was asked for"
    );
}

#[tokio::test]
async fn search_without_matches_is_empty_and_bad_spans_are_refused() {
    let sim = start(vec![camera()]).await;
    let device = device(&sim, 0, client_config());
    let before = SearchQuery {
        track: 101,
        start: end() - SignedDuration::from_hours(24 * 30),
        end: end() - SignedDuration::from_hours(24 * 20),
    };
    assert!(search_all(&device, before).await.is_empty());
    let backwards = SearchQuery {
        track: 101,
        start: end(),
        end: end() - SignedDuration::from_hours(1),
    };
    let err = device
        .search(backwards)
        .try_collect::<Vec<_>>()
        .await
        .expect_err("a backwards span is refused");
    assert!(matches!(err.kind, ErrorKind::InvalidRequest(_)), "{err}");
}

#[tokio::test]
async fn searches_are_serialised_on_a_one_search_device() {
    let mut config = camera();
    config.days = 2;
    config.recording_minutes = 2;
    let sim = start(vec![config]).await;
    let device = device(&sim, 0, client_config());
    let searches = (0..4).map(|_| {
        let device = device.clone();
        async move { search_all(&device, whole_period(101, 2)).await.len() }
    });
    let counts = futures::future::join_all(searches).await;
    assert_eq!(counts, [2 * 24 * 30; 4]);
    assert_eq!(
        sim.stats(0).busy_answers,
        0,
        "the client never ran two searches at once"
    );
}

#[tokio::test]
async fn downloads_are_exact_in_both_codecs() {
    let mut config = camera();
    config.channels = 2;
    config.recording_minutes = 1;
    config.codec = Codec::Mixed;
    let sim = start(vec![config]).await;
    let device = device(&sim, 0, client_config());
    for track in [101, 201] {
        let recordings = search_all(&device, whole_period(track, 1)).await;
        let recording = recordings.last().expect("recordings");
        let mut download = device
            .download(&recording.playback_uri)
            .await
            .expect("download");
        assert_eq!(download.container(), Container::MpegPs);
        let mut body = Vec::new();
        download.read_to_end(&mut body).await.expect("body");
        let want = sim.checksum(0, &recording.playback_uri).expect("checksum");
        assert_eq!(body.len() as u64, want.bytes);
        assert_eq!(recording.size, Some(want.bytes));
        assert_eq!(download.content_length(), Some(want.bytes));
        assert_eq!(crc32fast::hash(&body), want.crc32, "track {track}");
    }
}

#[tokio::test]
async fn downloads_fall_back_to_post_and_small_buffers_work() {
    let mut post_only = camera();
    post_only.limits.download_methods = DownloadMethods::PostOnly;
    let sim = start(vec![post_only]).await;
    let device = device(&sim, 0, client_config());
    let recording = search_all(&device, whole_period(101, 1)).await.remove(0);
    let want = sim.checksum(0, &recording.playback_uri).expect("checksum");
    for _ in 0..2 {
        let mut download = device
            .download(&recording.playback_uri)
            .await
            .expect("download");
        let mut crc = crc32fast::Hasher::new();
        let mut buf = [0u8; 1000];
        loop {
            let n = download.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
        }
        assert_eq!(download.bytes_read(), want.bytes);
        assert_eq!(crc.finalize(), want.crc32);
    }
}

#[tokio::test]
async fn every_fault_is_a_typed_error() {
    let sim = start(vec![camera()]).await;
    let device = device(&sim, 0, client_config());
    let recording = search_all(&device, whole_period(101, 1)).await.remove(0);
    let uri = recording.playback_uri.as_str();
    let want = sim.checksum(0, uri).expect("checksum");

    sim.set_faults(
        0,
        Faults {
            http_503: true,
            ..Faults::default()
        },
    );
    let err = download_all(&device, uri).await.expect_err("503");
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(
            err.kind,
            ErrorKind::Http { status: 503, .. }
                | ErrorKind::Device {
                    http_status: 503,
                    ..
                }
        ),
        "{err}"
    );

    sim.set_faults(
        0,
        Faults {
            xml_refusal: true,
            ..Faults::default()
        },
    );
    let err = download_all(&device, uri).await.expect_err("refusal");
    assert!(matches!(err.kind, ErrorKind::Refused { .. }), "{err}");
    assert_eq!(err.sub_status(), Some("notSupport"));
    assert!(!err.is_retryable(), "{err}");

    sim.set_faults(
        0,
        Faults {
            truncate_after: Some(100_000),
            ..Faults::default()
        },
    );
    let err = download_all(&device, uri).await.expect_err("truncated");
    assert!(
        matches!(err.kind, ErrorKind::Truncated { offset: 100_000, expected } if expected == want.bytes),
        "{err}"
    );
    assert!(err.is_retryable());

    sim.set_faults(
        0,
        Faults {
            stall_after: Some(200_000),
            ..Faults::default()
        },
    );
    let err = download_all(&device, uri).await.expect_err("stall");
    assert!(
        matches!(
            err.kind,
            ErrorKind::Stalled {
                offset: 200_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());

    sim.set_faults(
        0,
        Faults {
            corrupt_at: Some(50_000),
            ..Faults::default()
        },
    );
    let body = download_all(&device, uri)
        .await
        .expect("corrupted bytes still arrive");
    assert_eq!(body.len() as u64, want.bytes);
    assert_ne!(
        crc32fast::hash(&body),
        want.crc32,
        "corruption is caught by the checksum"
    );

    sim.set_faults(
        0,
        Faults {
            slow_first_byte: Some(Duration::from_secs(5)),
            ..Faults::default()
        },
    );
    let err = download_all(&device, uri)
        .await
        .expect_err("slow first byte");
    assert!(matches!(err.kind, ErrorKind::Timeout { .. }), "{err}");

    sim.set_faults(0, Faults::default());
    let body = download_all(&device, uri).await.expect("healthy again");
    assert_eq!(crc32fast::hash(&body), want.crc32);
    // Every message names the device and the request.
    assert!(
        err.to_string()
            .contains(&sim.devices()[0].addr.port().to_string()),
        "{err}"
    );
    assert!(
        err.to_string().contains("/ISAPI/ContentMgmt/download"),
        "{err}"
    );
}

#[tokio::test]
async fn a_full_device_answers_busy() {
    let mut config = camera();
    config.limits.max_concurrent_downloads = Some(1);
    config.limits.bytes_per_second = Some(100_000);
    let sim = start(vec![config]).await;
    let device = device(&sim, 0, client_config());
    let uri = search_all(&device, whole_period(101, 1))
        .await
        .remove(0)
        .playback_uri;
    let _holding = device.download(&uri).await.expect("first download");
    let err = device
        .download(&uri)
        .await
        .expect_err("second is over the cap");
    assert!(err.is_device_busy() && err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_wrong_password_is_tried_once_even_under_concurrency() {
    let sim = start(vec![camera()]).await;
    let device = Client::new(client_config())
        .expect("client")
        .device(&sim.devices()[0].base_url(), USER, "wrong")
        .expect("device");
    let attempts = (0..20).map(|_| {
        let device = device.clone();
        async move { device.device_info().await }
    });
    let results = futures::future::join_all(attempts).await;
    let mut rejected = 0;
    for result in results {
        let err = result.expect_err("wrong password");
        assert!(err.is_credentials() && !err.is_retryable(), "{err}");
        if let ErrorKind::BadCredentials { attempts_left } = err.kind {
            rejected += 1;
            assert_eq!(
                attempts_left,
                Some(4),
                "the device's count of attempts left"
            );
        } else {
            assert!(
                matches!(err.kind, ErrorKind::CredentialsRejectedEarlier),
                "{err}"
            );
        }
    }
    assert_eq!(rejected, 1);
    assert_eq!(
        sim.stats(0).auth_failures,
        1,
        "one failed login on the device"
    );

    device.set_credentials(USER, PASSWORD);
    assert!(device.device_info().await.is_ok());
}

#[tokio::test]
async fn lockout_is_reported_and_honoured() {
    let mut config = camera();
    config.limits.lockout_after = 3;
    let sim = start(vec![config]).await;
    let device = device(&sim, 0, client_config());
    for attempt in 0..3 {
        device.set_credentials(USER, &format!("guess-{attempt}"));
        let err = device.device_info().await.expect_err("wrong");
        // The failure that reaches the limit may already be answered with the lock.
        let locking = attempt == 2 && matches!(err.kind, ErrorKind::LockedOut { .. });
        assert!(
            matches!(err.kind, ErrorKind::BadCredentials { .. }) || locking,
            "{err}"
        );
    }
    device.set_credentials(USER, PASSWORD);
    let err = device
        .device_info()
        .await
        .expect_err("locked even with the right password");
    match err.kind {
        ErrorKind::LockedOut {
            unlock_after: Some(after),
        } => {
            assert!(after > Duration::from_secs(60), "{after:?}")
        }
        _ => panic!("expected a lockout, got {err}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(sim.stats(0).auth_failures, 3);
}

#[tokio::test]
async fn stale_nonces_are_re_challenged_not_failed() {
    let mut config = camera();
    config.limits.nonce_lifetime = Duration::from_millis(300);
    let sim = start(vec![config]).await;
    let device = device(&sim, 0, client_config());
    device.device_info().await.expect("first login");
    // Nonce expiry is a matter of time; there is nothing to await but the clock.
    tokio::time::sleep(Duration::from_millis(400)).await;
    device
        .device_info()
        .await
        .expect("stale nonce re-challenged");
    assert_eq!(sim.stats(0).auth_failures, 0);
}

#[tokio::test]
async fn a_known_search_shape_is_used_directly() {
    let mut config = camera();
    config.limits.search_shape = SearchShape::TrackIdListOnly;
    let sim = start(vec![config]).await;
    let device = device(
        &sim,
        0,
        ClientConfig {
            search_shape: Some(ClientShape::TrackIdList),
            ..client_config()
        },
    );
    let recordings = search_all(&device, whole_period(101, 1)).await;
    assert_complete(&recordings, 24 * 6, 10);
    assert_eq!(sim.stats(0).searches, (24 * 6_u64).div_ceil(64));
}

/// A year of hourly recordings on one track: the search streams through all of them page
/// by page without the caller ever holding more than one.
#[tokio::test]
async fn a_year_of_recordings_streams_through() {
    let mut config = camera();
    config.days = 365;
    config.recording_minutes = 60;
    let sim = start(vec![config]).await;
    let device = device(&sim, 0, client_config());
    let (count, last_start) = device
        .search(whole_period(101, 365))
        .try_fold(
            (0usize, None::<Timestamp>),
            |(count, previous), recording| async move {
                if let Some(previous) = previous {
                    assert!(recording.start > previous, "in order, none twice");
                }
                Ok((count + 1, Some(recording.start)))
            },
        )
        .await
        .expect("search");
    assert_eq!(count, 365 * 24);
    assert_eq!(sim.recordings(0, 101), 365 * 24);
    assert_eq!(last_start, Some(end() - SignedDuration::from_hours(1)));
    assert_eq!(sim.stats(0).searches, (365 * 24_u64).div_ceil(64));
}
