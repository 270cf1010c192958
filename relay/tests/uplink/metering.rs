//! What boxes send, metered once: a sequenced message's bytes count as the tenant's uplink
//! traffic and its box as seen today, and the same message delivered again counts nothing;
//! the footage a box's part of a search covered counts as camera-hours and a match's
//! snapshots as snapshot traffic once, however often the box reports them, and not at all
//! when no box could truly have done that much.

use protocol::search::{SearchEvent, SearchEventBody, SearchProgress};
use protocol::topics::Topic;
use relay::metering::reported::{MAX_CAMERA_SECONDS_PER_PART, MAX_SNAPSHOT_BYTES_PER_MATCH};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::Backend;
use crate::on_both_backends;
use crate::searches::{
    SearchSite, accept, found, id, next_search, part, send_event, send_event_as,
};
use crate::site::{Site, TestBox, eventually, uuid};
use crate::world::counted;

/// Tenant A's usage this month, read by the platform admin (not counted).
async fn usage(site: &Site) -> Value {
    let path = format!("/api/v1/tenants/{}/usage", site.world.a.id);
    site.relay()
        .expect_get(&path, &site.world.root_token, StatusCode::OK)
        .await
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
        counted(&after, "traffic_bytes", "mqtt") - counted(&before, "traffic_bytes", "mqtt"),
        sent,
        "{after}"
    );
    assert_eq!(
        after["totals"]["device_days"], 1,
        "the box seen today: {after}"
    );
}

/// A box's part of a search reports the footage it covered once it ends, and each match's
/// snapshot bytes once they are stored: each counts once, whether the same event comes again
/// (same seq) or the box reports it again (a new seq, for a part already ended or snapshots
/// already stored); an absurd quantity counts nothing, and its event still applies.
async fn footage_searched_and_snapshot_bytes_are_metered_once(backend: Backend) {
    let site = SearchSite::new(backend).await;
    let a_box = site.first_box().await;
    let mut online = site.online(&a_box).await;
    let uplink = site.relay().state.uplink.clone().expect("uplink");
    let scope = json!({"devices": [a_box.0]});
    let search = site.start(site.body(scope.clone())).await;
    let absurd = site.start(site.body(scope)).await;
    for _ in 0..2 {
        let (rpc, create) = next_search(&mut online).await;
        accept(&mut online, rpc, &format!("task-{}", create.search_id)).await;
    }
    for started in [&search, &absurd] {
        site.until(started, "the box's part is accepted", |s| {
            part(s, a_box.0)["state"] == "accepted"
        })
        .await;
    }
    let before = usage(&site.site).await;
    let counts = uplink.counts();

    let (search_id, absurd_id) = (uuid(id(&search)), uuid(id(&absurd)));
    let (camera_seconds, bytes) = (2 * 7_200, 48_213);
    let uploaded = SearchEventBody::SnapshotsUploaded {
        match_id: 5,
        bytes: Some(bytes),
    };
    let end = SearchEventBody::Finished {
        state: "done".to_owned(),
        reason: None,
        camera_seconds: Some(camera_seconds),
        matches: None,
    };
    send_event(&mut online, search_id, found(5, 150, 0.33)).await;
    let uploaded_seq = send_event(&mut online, search_id, uploaded.clone()).await;
    send_event(&mut online, search_id, uploaded.clone()).await;
    let end_seq = send_event(&mut online, search_id, end.clone()).await;
    send_event(&mut online, search_id, end.clone()).await;
    // A box's bug: more than any part or match can hold.
    send_event(&mut online, absurd_id, found(6, 150, 0.40)).await;
    let too_many_bytes = SearchEventBody::SnapshotsUploaded {
        match_id: 6,
        bytes: Some(MAX_SNAPSHOT_BYTES_PER_MATCH + 1),
    };
    send_event(&mut online, absurd_id, too_many_bytes).await;
    let too_much_footage = SearchEventBody::Finished {
        state: "done".to_owned(),
        reason: None,
        camera_seconds: Some(MAX_CAMERA_SECONDS_PER_PART + 1),
        matches: None,
    };
    send_event(&mut online, absurd_id, too_much_footage).await;
    // Replays of the counted ones, last.
    send_event_as(&online, uploaded_seq, search_id, uploaded).await;
    send_event_as(&online, end_seq, search_id, end).await;
    eventually("every event is handled, the replays last", || async {
        let now = uplink.counts();
        now.applied - counts.applied >= 8 && now.duplicates - counts.duplicates == 2
    })
    .await;

    for ended in [&search, &absurd] {
        let read = site.search(ended).await;
        assert_eq!(part(&read, a_box.0)["state"], "done", "{read}");
    }
    let after = usage(&site.site).await;
    let added =
        |meter: &str, class: &str| counted(&after, meter, class) - counted(&before, meter, class);
    assert_eq!(
        added("camera_hours", ""),
        i64::try_from(camera_seconds).expect("seconds"),
        "{after}"
    );
    assert_eq!(
        added("traffic_bytes", "snapshots"),
        i64::try_from(bytes).expect("bytes"),
        "{after}"
    );
}

on_both_backends!(
    a_replayed_message_is_metered_once,
    footage_searched_and_snapshot_bytes_are_metered_once
);
