//! What boxes send, applied once: a duplicate (same seq) changes nothing; a malformed, an
//! oversized, an unknown device's or another tenant's message is dropped and counted while
//! the connection stays up; a box's last will marks it offline; two relays sharing the
//! subscription both get a share and apply no message twice; an older telemetry sample never
//! replaces a newer one, also once its place is forgotten.

use protocol::search::{SearchEvent, SearchEventBody, SearchProgress};
use protocol::topics::{Topic, Topics};
use relay::db::{Mode, Scope};
use relay::store::uplink as store;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::harness::{Backend, TestRelay};
use crate::on_both_backends;
use crate::site::{RELAY_PASSWORD, RELAY_USER, Site, TestBox, eventually, get_ok, uuid};

fn progress(seq: u64) -> Vec<u8> {
    let body = SearchEventBody::Progress(SearchProgress {
        recordings_total: 10,
        recordings_done: seq,
        recordings_failed: 0,
        matches: 0,
        eta_seconds: None,
    });
    protocol::encode(&SearchEvent::new(seq, Uuid::from_u128(9), body))
}

/// Events of the box applied, read from the database.
async fn events(relay: &TestRelay, ids: (Uuid, Uuid)) -> i64 {
    let mut tx = relay
        .state
        .db
        .begin(Scope::Tenant(ids.0), Mode::Read)
        .await
        .expect("tx");
    let count = store::count_kind(&mut tx, ids, "event")
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    count
}

async fn bad_and_repeated_messages_change_nothing(backend: Backend) {
    let site = Site::new(backend).await;
    let (relay, a, b) = (site.relay(), &site.world.a, &site.world.b);
    let mut a_box = site.box_a_online().await;
    let acks = a_box.topics.topic(&Topic::Acks);
    assert!(
        a_box.subscribe(&acks).await,
        "a box reads its acknowledgements"
    );
    let ids = (uuid(&a.id), uuid(&a.device));
    let uplink = relay.state.uplink.clone().expect("uplink");
    let before = uplink.counts();

    // Each message twice, as a replay after a reconnection delivers it.
    for _ in 0..2 {
        a_box
            .publish(Topic::Telemetry, TestBox::telemetry(1, "2.0.0"))
            .await;
        a_box.publish(Topic::Events, progress(2)).await;
    }
    // Malformed, oversized, of a newer version: dropped.
    a_box.publish(Topic::Telemetry, b"{not json".to_vec()).await;
    a_box.publish(Topic::Events, vec![b' '; 300 * 1024]).await;
    a_box
        .publish(Topic::Events, br#"{"v":99,"seq":3}"#.to_vec())
        .await;
    // The relay's own identity reaches every prefix: messages for an unknown device, and
    // for tenant B's prefix naming tenant A's device, are dropped by the relay.
    let forger = Topics::for_box(uuid(&b.id), uuid(&a.device));
    let ghost = Topics::for_box(uuid(&a.id), Uuid::new_v4());
    let relay_client =
        TestBox::connect_as(&site.broker, forger.clone(), RELAY_USER, RELAY_PASSWORD)
            .await
            .expect("the relay's identity connects");
    relay_client
        .publish_to(&forger.topic(&Topic::Events), progress(5))
        .await;
    relay_client
        .publish_to(&ghost.topic(&Topic::Events), progress(6))
        .await;
    // The connection is still up: a later message is applied.
    a_box.publish(Topic::Events, progress(7)).await;
    eventually("the later event is applied", || async {
        events(relay, ids).await == 2
    })
    .await;
    eventually("every message is counted", || async {
        let now = uplink.counts();
        now.duplicates - before.duplicates == 2 && now.dropped - before.dropped == 5
    })
    .await;
    // What was applied (once or twice) is acknowledged to the box; a message of a newer
    // protocol is not (the box keeps it for a relay that reads it).
    let acked = a_box
        .acknowledged(|acked| [1, 2, 7].iter().all(|s| acked.contains(s)))
        .await;
    assert!(!acked.contains(&3), "{acked:?}");
    let now = uplink.counts();
    assert_eq!(now.disconnections, before.disconnections, "{now:?}");
    assert_eq!(now.failed, before.failed);
    let device = get_ok(&site, &site.device_path(&a.id, &a.device)).await;
    assert_eq!(device["software_version"], "2.0.0");
    let metrics = relay.expect_public_get("/metrics", StatusCode::OK).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains("relay_uplink_messages_total")
            && metrics.contains("outcome=\"too_large\""),
        "{metrics}"
    );

    // The box's power is cut: its last will marks it offline.
    a_box.cut();
    let path = site.device_path(&a.id, &a.device);
    eventually("the last will marks the box offline", || async {
        get_ok(&site, &path).await["online"] == false
    })
    .await;
}

async fn two_relays_share_the_boxes_and_apply_each_message_once(backend: Backend) {
    let site = Site::new(backend).await;
    let a = &site.world.a;
    let second = site.another_relay("relay-b").await;
    let a_box = site.box_a_online().await;
    let ids = (uuid(&a.id), uuid(&a.device));
    let uplinks = [
        site.relay().state.uplink.clone().expect("first"),
        second.state.uplink.clone().expect("second"),
    ];
    let before = uplinks.each_ref().map(|u| u.counts());
    // 40 events, each delivered twice: wherever each copy goes, it applies once.
    for _ in 0..2 {
        for seq in 100..140 {
            a_box.publish(Topic::Events, progress(seq)).await;
        }
    }
    eventually("every copy is handled", || async {
        let handled: u64 = uplinks
            .iter()
            .zip(&before)
            .map(|(u, b)| {
                let c = u.counts();
                (c.applied - b.applied) + (c.duplicates - b.duplicates)
            })
            .sum();
        handled == 80
    })
    .await;
    assert_eq!(events(site.relay(), ids).await, 40);
    let applied: Vec<u64> = uplinks
        .iter()
        .zip(&before)
        .map(|(u, b)| u.counts().applied - b.applied)
        .collect();
    assert_eq!(applied.iter().sum::<u64>(), 40, "{applied:?}");
    assert!(
        applied.iter().all(|n| *n > 0),
        "both relays got a share: {applied:?}"
    );
}

/// A report's kept state, read from the database: the latest telemetry's seq and how many
/// telemetry places are remembered.
async fn telemetry_state(relay: &TestRelay, ids: (Uuid, Uuid)) -> (Option<u64>, i64) {
    let mut tx = (relay.state.db)
        .begin(Scope::Tenant(ids.0), Mode::Read)
        .await
        .expect("tx");
    let presence = store::presence(&mut tx, ids).await.expect("presence");
    let places = store::count_kind(&mut tx, ids, "telemetry")
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    let seq = presence
        .and_then(|p| p.telemetry)
        .and_then(|t| protocol::Sequenced::of(t.as_bytes()));
    (seq, places)
}

/// Telemetry applied out of order (relays sharing a box's messages, or a replay) never
/// replaces a newer sample; the places of old telemetry are forgotten, and a sample sent
/// again after that still changes nothing. Search events keep their places.
async fn an_older_report_never_replaces_a_newer_one(backend: Backend) {
    let site = Site::new(backend).await;
    let (relay, a) = (site.relay(), &site.world.a);
    let a_box = site.box_a_online().await;
    let ids = (uuid(&a.id), uuid(&a.device));
    a_box
        .publish(Topic::Telemetry, TestBox::telemetry(5, "2.0.5"))
        .await;
    a_box
        .publish(Topic::Telemetry, TestBox::telemetry(3, "2.0.3"))
        .await;
    // In order after both: once it is applied, so are they.
    a_box.publish(Topic::Events, progress(6)).await;
    eventually("the marker event", || async {
        events(relay, ids).await == 1
    })
    .await;
    assert_eq!(telemetry_state(relay, ids).await, (Some(5), 2));
    let device = get_ok(&site, &site.device_path(&a.id, &a.device)).await;
    assert_eq!(device["software_version"], "2.0.5", "{device}");

    let mut tx = (relay.state.db)
        .begin(Scope::Platform, Mode::Write)
        .await
        .expect("tx");
    let forgotten = store::forget_old_reports(&mut tx, relay::db::now_ms() + 1)
        .await
        .expect("forget");
    tx.commit().await.expect("commit");
    assert_eq!(forgotten, 2, "the two telemetry places, not the event's");
    assert_eq!(events(relay, ids).await, 1);

    a_box
        .publish(Topic::Telemetry, TestBox::telemetry(3, "2.0.3"))
        .await;
    a_box.publish(Topic::Events, progress(7)).await;
    eventually("the second marker", || async {
        events(relay, ids).await == 2
    })
    .await;
    assert_eq!(telemetry_state(relay, ids).await, (Some(5), 1));
    let device = get_ok(&site, &site.device_path(&a.id, &a.device)).await;
    assert_eq!(device["software_version"], "2.0.5", "{device}");
}

on_both_backends!(
    bad_and_repeated_messages_change_nothing,
    two_relays_share_the_boxes_and_apply_each_message_once,
    an_older_report_never_replaces_a_newer_one,
);
