//! Every fault, observed from the client side.

use std::time::Duration;

use isapi::sim::{Faults, Limits};
use reqwest::{Method, StatusCode};

use crate::{
    common::{
        Isapi, PASSWORD, TempFile, USER, camera, content_type, curl, curl_body, download_request,
        eventually, start, status_of,
    },
    download::{DOWNLOAD, curl_download, nth_uri},
};

#[tokio::test]
async fn http_503_answers_every_isapi_request() {
    let sim = start(vec![camera()]).await;
    sim.set_faults(
        0,
        Faults {
            http_503: true,
            ..Faults::default()
        },
    );
    let url = format!("{}/ISAPI/System/deviceInfo", sim.devices()[0].base_url());
    let (code, output) = curl(USER, PASSWORD, &[url.as_str()]).await;
    assert_eq!(
        (code, curl_body(&output).as_str()),
        (503, "Service Unavailable")
    );
    sim.set_faults(0, Faults::default());
    let (code, _) = curl(USER, PASSWORD, &[url.as_str()]).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn xml_refusal_answers_200_with_a_response_status() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    sim.set_faults(
        0,
        Faults {
            xml_refusal: true,
            ..Faults::default()
        },
    );
    let response = Isapi::new(&sim.devices()[0])
        .send(Method::POST, DOWNLOAD, Some(&download_request(&uri)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), Some("application/xml"));
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status_of(&body), (4, "notSupport".to_owned()));
    assert_eq!(sim.stats(0).downloads_started, 0);
}

#[tokio::test]
async fn truncation_closes_the_connection_short_of_the_content_length() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    sim.set_faults(
        0,
        Faults {
            truncate_after: Some(100_000),
            ..Faults::default()
        },
    );
    let file = TempFile::new("truncated.ps");
    let (code, output) = curl_download(&sim, 0, "POST", &uri, &file).await;
    assert_eq!(code, 200, "{output:?}");
    // curl: "(18) Partial file" / "transfer closed with N bytes remaining".
    assert_eq!(
        output.status.code(),
        Some(18),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(file.read().len(), 100_000);
}

#[tokio::test]
async fn corruption_flips_16_bytes_and_the_checksum_catches_it() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    let clean = TempFile::new("clean.ps");
    let (code, _) = curl_download(&sim, 0, "POST", &uri, &clean).await;
    assert_eq!(code, 200);
    sim.set_faults(
        0,
        Faults {
            corrupt_at: Some(65_530),
            ..Faults::default()
        },
    );
    let damaged = TempFile::new("damaged.ps");
    let (code, _) = curl_download(&sim, 0, "GET", &uri, &damaged).await;
    assert_eq!(code, 200);
    let (clean, damaged) = (clean.read(), damaged.read());
    assert_eq!(clean.len(), damaged.len());
    let want = sim.checksum(0, &uri).map(|c| c.crc32);
    assert_eq!(want, Some(crc32fast::hash(&clean)));
    assert_ne!(want, Some(crc32fast::hash(&damaged)));
    let differing: Vec<usize> = (0..clean.len())
        .filter(|&i| clean[i] != damaged[i])
        .collect();
    assert_eq!(
        differing,
        (65_530..65_546).collect::<Vec<_>>(),
        "across a chunk boundary"
    );
    assert!(differing.iter().all(|&i| clean[i] ^ damaged[i] == 0xFF));
}

#[tokio::test]
async fn a_stalled_download_sends_nothing_more_until_the_client_leaves() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    sim.set_faults(
        0,
        Faults {
            stall_after: Some(200_000),
            ..Faults::default()
        },
    );
    let mut response = Isapi::new(&sim.devices()[0])
        .send(Method::POST, DOWNLOAD, Some(&download_request(&uri)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut received = 0;
    while received < 200_000 {
        match response.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            other => panic!("after {received} bytes: {other:?}"),
        }
    }
    assert_eq!(received, 200_000);
    let more = tokio::time::timeout(Duration::from_millis(500), response.chunk()).await;
    assert!(more.is_err(), "bytes after the stall: {more:?}");
    assert_eq!(sim.stats(0).downloads_active, 1);
    drop(response);
    eventually("the stalled download ends when the client leaves", || {
        sim.stats(0).downloads_active == 0
    })
    .await;
}

#[tokio::test]
async fn slow_first_byte_delays_the_download_headers() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    let isapi = Isapi::new(&sim.devices()[0]);
    isapi.get("/ISAPI/System/deviceInfo").await;
    sim.set_faults(
        0,
        Faults {
            slow_first_byte: Some(Duration::from_millis(400)),
            ..Faults::default()
        },
    );
    let started = std::time::Instant::now();
    let response = isapi
        .send(Method::POST, DOWNLOAD, Some(&download_request(&uri)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn downloads_over_the_cap_find_the_device_busy() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    sim.set_limits(
        0,
        Limits {
            max_concurrent_downloads: Some(1),
            ..Limits::default()
        },
    );
    sim.set_faults(
        0,
        Faults {
            stall_after: Some(1000),
            ..Faults::default()
        },
    );
    let isapi = Isapi::new(&sim.devices()[0]);
    let request = download_request(&uri);
    let held = isapi.send(Method::POST, DOWNLOAD, Some(&request)).await;
    assert_eq!(held.status(), StatusCode::OK);
    let busy = isapi.send(Method::POST, DOWNLOAD, Some(&request)).await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = busy.text().await.unwrap_or_default();
    assert_eq!(status_of(&body), (2, "deviceBusy".to_owned()));
    let stats = sim.stats(0);
    assert_eq!(
        (
            stats.busy_answers,
            stats.downloads_active,
            stats.downloads_started
        ),
        (1, 1, 1)
    );
    drop(held);
    eventually("the held download's slot is freed", || {
        sim.stats(0).downloads_active == 0
    })
    .await;
    sim.set_faults(0, Faults::default());
    let file = TempFile::new("after.ps");
    let (code, _) = curl_download(&sim, 0, "POST", &uri, &file).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn shutdown_ends_stalled_downloads() {
    let sim = start(vec![camera()]).await;
    let uri = nth_uri(&sim, 0, 0).await;
    sim.set_faults(
        0,
        Faults {
            stall_after: Some(1000),
            ..Faults::default()
        },
    );
    let mut response = Isapi::new(&sim.devices()[0])
        .send(Method::POST, DOWNLOAD, Some(&download_request(&uri)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    sim.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "graceful, not the grace timeout"
    );
    let mut received = 0;
    let end = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            other => break other,
        }
    };
    assert_eq!(received, 1000);
    assert!(
        end.is_err(),
        "the body ends in an error, not a clean end: {end:?}"
    );
}
