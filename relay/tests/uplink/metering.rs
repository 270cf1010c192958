//! What boxes send, metered once: a sequenced message's bytes count as the tenant's uplink
//! traffic and its box as seen today, and the same message delivered again counts nothing.

use protocol::search::{SearchEvent, SearchEventBody, SearchProgress};
use protocol::topics::Topic;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::harness::Backend;
use crate::on_both_backends;
use crate::site::{Site, TestBox, eventually};

/// Tenant A's usage this month, read by the platform admin (not counted).
async fn usage(site: &Site) -> Value {
    let path = format!("/api/v1/tenants/{}/usage", site.world.a.id);
    site.relay()
        .expect_get(&path, &site.world.root_token, StatusCode::OK)
        .await
}

fn total(report: &Value, meter: &str, class: &str) -> i64 {
    report["days"]
        .as_array()
        .expect("days")
        .iter()
        .flat_map(|day| day["counts"].as_array().expect("counts").iter())
        .filter(|c| c["meter"] == meter && c["class"] == class)
        .map(|c| c["quantity"].as_i64().expect("quantity"))
        .sum()
}

async fn a_replayed_message_is_metered_once(backend: Backend) {
    let site = Site::new(backend).await;
    let a_box = site.box_a_online().await;
    let uplink = site.relay().state.uplink.clone().expect("uplink");
    let before = usage(&site).await;
    let counts = uplink.counts();

    let telemetry = TestBox::telemetry(1, "2.0.0");
    let progress = protocol::encode(&SearchEvent::new(
        2,
        Uuid::from_u128(9),
        SearchEventBody::Progress(SearchProgress {
            recordings_total: 4,
            recordings_done: 1,
            recordings_failed: 0,
            matches: 0,
            eta_seconds: None,
        }),
    ));
    for _ in 0..2 {
        a_box.publish(Topic::Telemetry, telemetry.clone()).await;
        a_box.publish(Topic::Events, progress.clone()).await;
    }
    eventually("both copies of both messages are handled", || async {
        let now = uplink.counts();
        now.duplicates - counts.duplicates == 2
    })
    .await;

    let after = usage(&site).await;
    let sent = i64::try_from(telemetry.len() + progress.len()).expect("size");
    assert_eq!(
        total(&after, "traffic_bytes", "mqtt") - total(&before, "traffic_bytes", "mqtt"),
        sent,
        "{after}"
    );
    assert_eq!(
        after["totals"]["device_days"], 1,
        "the box seen today: {after}"
    );
}

on_both_backends!(a_replayed_message_is_metered_once);
