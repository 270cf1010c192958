//! Downloads as curl and ffprobe see them: exact size and checksum, playable video of the
//! recording's length, MP4, methods, the checksum endpoint, rate limits.

use std::time::Duration;

use isapi::sim::{Codec, Container, DownloadMethods, Limits, Simulator};
use reqwest::{Method, StatusCode};

use crate::common::{
    Isapi, PASSWORD, TempFile, USER, camera, content_type, curl, download_request, eventually, run,
    search_request, start, status_of,
};

pub(crate) const DOWNLOAD: &str = "/ISAPI/ContentMgmt/download";

/// The playback URI of track 101's `n`th recording, found by searching.
pub(crate) async fn nth_uri(sim: &Simulator, device: usize, n: u32) -> String {
    let isapi = Isapi::new(&sim.devices()[device]);
    let page = isapi
        .search(&search_request(
            &[101],
            "2000-01-01T00:00:00Z",
            "2100-01-01T00:00:00Z",
            1,
            n,
        ))
        .await;
    page.items()
        .first()
        .map(|i| i.media_segment_descriptor.playback_uri.clone())
        .unwrap_or_else(|| panic!("no recording {n}"))
}

/// `curl --digest -X <method> --data-binary <downloadRequest> -o <file>`.
pub(crate) async fn curl_download(
    sim: &Simulator,
    device: usize,
    method: &str,
    uri: &str,
    file: &TempFile,
) -> (u16, std::process::Output) {
    let url = format!("{}{DOWNLOAD}", sim.devices()[device].base_url());
    let request = download_request(uri);
    curl(
        USER,
        PASSWORD,
        &[
            "-X",
            method,
            "--data-binary",
            &request,
            "-o",
            file.str(),
            &url,
        ],
    )
    .await
}

fn size_in(uri: &str) -> u64 {
    uri.rsplit("size=")
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no size in {uri}"))
}

/// `ffprobe -v error` with `args`; stdout as `key=value` lines, and stderr.
async fn ffprobe(file: &TempFile, args: &[&str]) -> (String, String) {
    let mut all: Vec<String> = ["-v", "error", "-of", "default=nw=1"]
        .map(String::from)
        .to_vec();
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all.push(file.str().to_owned());
    let output = run("ffprobe", all).await;
    assert!(
        output.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn value<'a>(lines: &'a str, key: &str) -> &'a str {
    lines
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|l| l.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {lines}"))
}

async fn downloaded_recording_plays(codec: Codec, codec_name: &str) {
    let mut config = camera();
    config.codec = codec;
    let sim = start(vec![config]).await;
    let uri = nth_uri(&sim, 0, 5).await;
    let file = TempFile::new(&format!("recording-{codec_name}.ps"));
    let (code, output) = curl_download(&sim, 0, "POST", &uri, &file).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&output.stderr));
    let body = file.read();
    assert_eq!(body.len() as u64, size_in(&uri), "size in the playback URI");
    let sum = sim
        .checksum(0, &uri)
        .unwrap_or_else(|| panic!("no checksum for {uri}"));
    assert_eq!(sum.bytes, body.len() as u64);
    assert_eq!(
        sum.crc32,
        crc32fast::hash(&body),
        "checksum of the exact body"
    );

    // A pack header, the system header, then the padding packet naming the recording.
    assert_eq!(body[..4], [0, 0, 1, 0xBA]);
    let tag = b"dipper-sim device=DS-2CD2345-SIM0000 track=101 start=20261123T120500 rep=0";
    let at = body
        .windows(tag.len())
        .take(512)
        .position(|w| w == tag)
        .unwrap_or_else(|| panic!("no padding packet at the start"));
    assert_eq!(body[at - 6..at - 2], [0, 0, 1, 0xBE]);

    let (lines, errors) = ffprobe(
        &file,
        &["-show_entries", "format=duration:stream=codec_name"],
    )
    .await;
    assert_eq!(value(&lines, "codec_name"), codec_name);
    let duration: f64 = value(&lines, "duration").parse().unwrap_or(0.0);
    assert!((duration - 60.0).abs() < 0.5, "ffprobe duration {duration}");
    assert!(errors.is_empty(), "{errors}");
    let (lines, errors) = ffprobe(
        &file,
        &["-count_frames", "-show_entries", "stream=nb_read_frames"],
    )
    .await;
    assert_eq!(
        value(&lines, "nb_read_frames"),
        "1500",
        "60 s at 25 fps, all decoded"
    );
    assert!(errors.is_empty(), "decoding errors: {errors}");

    let stats = sim.stats(0);
    assert_eq!((stats.downloads_started, stats.bytes_sent), (1, sum.bytes));
    eventually("the download slot is freed", || {
        sim.stats(0).downloads_active == 0
    })
    .await;
    assert_eq!(sim.stats(0).peak_concurrent_downloads, 1);
}

#[tokio::test]
async fn an_h264_recording_downloads_whole_and_plays_for_its_length() {
    downloaded_recording_plays(Codec::H264, "h264").await;
}

#[tokio::test]
async fn an_h265_recording_downloads_whole_and_plays_for_its_length() {
    downloaded_recording_plays(Codec::H265, "hevc").await;
}

#[tokio::test]
async fn mp4_recordings_are_the_clip_with_get_and_a_body() {
    let mut config = camera();
    config.container = Container::Mp4;
    let sim = start(vec![config]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    let file = TempFile::new("recording.mp4");
    let (code, _) = curl_download(&sim, 0, "GET", &uri, &file).await;
    assert_eq!(code, 200);
    let body = file.read();
    assert_eq!(&body[4..8], b"ftyp");
    assert_eq!(
        sim.checksum(0, &uri).map(|c| (c.bytes, c.crc32)),
        Some((body.len() as u64, crc32fast::hash(&body)))
    );
    let (lines, errors) = ffprobe(&file, &["-show_entries", "format=duration"]).await;
    let duration: f64 = value(&lines, "duration").parse().unwrap_or(0.0);
    assert!((duration - 10.0).abs() < 0.5, "one clip long: {duration}");
    assert!(errors.is_empty(), "{errors}");
    let response = Isapi::new(&sim.devices()[0])
        .send(Method::POST, DOWNLOAD, Some(&download_request(&uri)))
        .await;
    assert_eq!(content_type(&response), Some("video/mp4"));
}

#[tokio::test]
async fn devices_refuse_the_method_they_do_not_take_and_unknown_uris() {
    let mut post_only = camera();
    post_only.limits.download_methods = DownloadMethods::PostOnly;
    let mut get_only = camera();
    get_only.limits.download_methods = DownloadMethods::GetOnly;
    let sim = start(vec![post_only, get_only]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    let request = download_request(&uri);
    for (device, refused) in [(0, Method::GET), (1, Method::POST)] {
        let isapi = Isapi::new(&sim.devices()[device]);
        let response = isapi.send(refused.clone(), DOWNLOAD, Some(&request)).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{refused} on device {device}"
        );
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status_of(&body), (4, "methodNotAllowed".to_owned()));
    }
    let file = TempFile::new("get.ps");
    let other_uri = nth_uri(&sim, 1, 0).await;
    let (code, _) = curl_download(&sim, 1, "GET", &other_uri, &file).await;
    assert_eq!(code, 200, "GET with a body");

    let isapi = Isapi::new(&sim.devices()[0]);
    for bad in [
        uri.replace("size=", "size=9"),
        other_uri.replace("tracks/101", "tracks/201"),
    ] {
        let (status, body) = isapi.post(DOWNLOAD, &download_request(&bad)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(status_of(&body), (4, "badParameters".to_owned()));
    }
    let (status, body) = isapi.post(DOWNLOAD, "<downloadRequest><playbackURI>").await;
    assert_eq!((status, status_of(&body).0), (StatusCode::BAD_REQUEST, 5));
}

#[tokio::test]
async fn the_checksum_endpoint_serves_other_processes() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 3).await;
    let want = sim.checksum(0, &uri).unwrap_or_else(|| panic!("checksum"));
    let encoded = percent_encoding::utf8_percent_encode(&uri, percent_encoding::NON_ALPHANUMERIC);
    let base = sim.devices()[0].base_url();
    let response = reqwest::get(format!("{base}/sim/checksum?playbackURI={encoded}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::OK, "no auth needed");
    let body = response.text().await.unwrap_or_default();
    assert_eq!(
        body,
        format!(r#"{{"bytes":{},"crc32":{}}}"#, want.bytes, want.crc32)
    );
    let unknown = percent_encoding::utf8_percent_encode(
        "rtsp://x/Streaming/tracks/101/?starttime=1",
        percent_encoding::NON_ALPHANUMERIC,
    );
    let response = reqwest::get(format!("{base}/sim/checksum?playbackURI={unknown}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        sim.stats(0).requests,
        2,
        "only the search counts as ISAPI requests"
    );
}

#[tokio::test]
async fn downloads_are_paced_to_the_rate_limit() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    let rate = 4_000_000;
    sim.set_limits(
        0,
        Limits {
            bytes_per_second: Some(rate),
            ..Limits::default()
        },
    );
    let file = TempFile::new("paced.ps");
    let started = std::time::Instant::now();
    let (code, _) = curl_download(&sim, 0, "POST", &uri, &file).await;
    let elapsed = started.elapsed();
    assert_eq!(code, 200);
    let len = size_in(&uri);
    assert_eq!(file.read().len() as u64, len);
    // Every byte but the last chunk (rate/8) waits for its turn.
    let least = Duration::from_secs_f64((len - rate / 8) as f64 / rate as f64);
    assert!(
        elapsed >= least && elapsed < least * 3,
        "{len} bytes at {rate} B/s took {elapsed:?}"
    );
}
