//! The outbox on a real database: sequences never reused (also after every row is gone and
//! after reopening), rows kept until acknowledged, telemetry thinned at the quota while
//! RPC responses and search events are never dropped. The tenant's standing on a real
//! database: the latest decision kept, each answered in the outbox, kept across reopening.

use protocol::rpc::{RpcResponse, SetStanding, Standing};

use super::outbox::{self, Enqueued, Kind};
use super::standing::{self, TenantStanding};
use crate::db::Database;

fn enqueue(db: &Database, kind: Kind, quota: u64, size: usize) -> Enqueued {
    db.write_blocking(move |tx| {
        outbox::enqueue(tx, kind, "telemetry", quota, 1_000, move |seq| {
            let mut payload = format!("{{\"seq\":{seq},\"pad\":\"").into_bytes();
            payload.resize(size.saturating_sub(2), b'x');
            payload.extend_from_slice(b"\"}");
            payload
        })
    })
    .expect("written")
}

fn seq(enqueued: Enqueued) -> u64 {
    match enqueued {
        Enqueued::Stored { seq, .. } => seq,
        Enqueued::Dropped => panic!("dropped"),
    }
}

fn waiting(db: &Database) -> Vec<u64> {
    db.read_blocking(|c| outbox::pending(c, 0, 10_000))
        .expect("read")
        .into_iter()
        .map(|p| p.seq)
        .collect()
}

#[test]
fn sequences_increase_and_are_never_reused_across_acks_and_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let quota = 1 << 20;
    let db = Database::open(dir.path()).expect("open");
    let first: Vec<u64> = (0..3)
        .map(|_| seq(enqueue(&db, Kind::RpcResponse, quota, 50)))
        .collect();
    assert_eq!(first, vec![1, 2, 3]);
    let payload = db
        .read_blocking(|c| outbox::pending(c, 1, 1))
        .expect("read")
        .remove(0)
        .payload;
    assert_eq!(
        protocol::Sequenced::of(&payload),
        Some(2),
        "the payload carries its seq"
    );
    db.write_blocking(|tx| outbox::acknowledged(tx, &[(1, 3)]))
        .expect("acked");
    assert!(waiting(&db).is_empty());
    drop(db);
    let db = Database::open(dir.path()).expect("reopen");
    assert_eq!(seq(enqueue(&db, Kind::Telemetry, quota, 50)), 4);
    let usage = db
        .read_blocking(|c| outbox::usage(c, quota))
        .expect("usage");
    assert_eq!(
        (usage.messages, usage.oldest_ms, usage.last_seq),
        (1, Some(1_000), 4)
    );
}

#[test]
fn only_acknowledged_rows_go_and_the_rest_replay_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path()).expect("open");
    for _ in 0..5 {
        enqueue(&db, Kind::SearchEvent, 1 << 20, 40);
    }
    db.write_blocking(|tx| outbox::acknowledged(tx, &[(2, 2), (4, 4)]))
        .expect("acked");
    assert_eq!(waiting(&db), vec![1, 3, 5]);
    let after_three = db
        .read_blocking(|c| outbox::pending(c, 3, 10))
        .expect("read");
    assert_eq!(
        after_three.iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![5]
    );
}

#[test]
fn at_the_quota_telemetry_is_thinned_and_results_are_never_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path()).expect("open");
    let quota = 10_000;
    // 20 telemetry samples of 500 bytes fill the quota exactly.
    for _ in 0..20 {
        assert!(matches!(
            enqueue(&db, Kind::Telemetry, quota, 500),
            Enqueued::Stored { thinned: 0, .. }
        ));
    }
    // One more: every other older sample goes.
    let Enqueued::Stored { thinned, .. } = enqueue(&db, Kind::Telemetry, quota, 500) else {
        panic!("dropped");
    };
    assert_eq!(thinned, 10);
    assert_eq!(waiting(&db).len(), 11);
    // Results beyond the quota: telemetry goes first, then they are kept anyway.
    let results: Vec<u64> = (0..30)
        .map(|_| seq(enqueue(&db, Kind::RpcResponse, quota, 500)))
        .collect();
    let left = waiting(&db);
    for result in &results {
        assert!(left.contains(result), "result {result} dropped");
    }
    let telemetry_left = left.iter().filter(|s| !results.contains(s)).count();
    assert!(telemetry_left <= 1, "telemetry left: {telemetry_left}");
    let usage = db
        .read_blocking(|c| outbox::usage(c, quota))
        .expect("usage");
    assert!(usage.over(), "{usage:?}");
    // Over the quota with nothing to thin: a new telemetry sample is dropped.
    assert_eq!(enqueue(&db, Kind::Telemetry, quota, 500), Enqueued::Dropped);
    // Its sequence is spent all the same: the next message does not reuse it.
    assert_eq!(seq(enqueue(&db, Kind::SearchEvent, quota, 500)), 53);
}

/// Runs `setStanding` (`standing` decided at `decided_at_ms`) as request `id`; checks the
/// standing then in force, whether it was applied, and the answer the outbox holds.
fn check_standing(
    db: &Database,
    id: u64,
    (standing, decided_at_ms): (Standing, i64),
    expected_in_force: (Standing, i64),
    expected_applied: bool,
) {
    let decision = SetStanding {
        standing,
        decided_at_ms,
    };
    let decided = db
        .write_blocking(move |tx| standing::decide_and_answer(tx, id, &decision, 1 << 20, 5_000))
        .expect("written");
    let in_force = (
        decided.in_force.standing,
        decided.in_force.decided_at_ms.unwrap_or(-1),
    );
    assert_eq!(
        (in_force, decided.applied),
        (expected_in_force, expected_applied),
        "setStanding {standing:?} at {decided_at_ms}: (in force, applied)"
    );
    let stored = db.read_blocking(standing::stored).expect("read");
    assert_eq!(stored, decided.in_force, "the row and the answer agree");
    let answer = db
        .read_blocking(|c| outbox::pending(c, 0, 10_000))
        .expect("read")
        .into_iter()
        .find(|p| p.topic == format!("rpc/response/{id}"))
        .expect("the answer is in the outbox");
    let answer = RpcResponse::decode(&answer.payload).expect("a response");
    assert_eq!(
        answer.result,
        Some(serde_json::json!({
            "standing": serde_json::to_value(expected_in_force.0).expect("json"),
            "applied": expected_applied,
        }))
    );
}

#[test]
fn the_latest_standing_decision_is_kept_and_a_late_older_one_is_answered_but_not_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path()).expect("open");
    assert_eq!(
        db.read_blocking(standing::stored).expect("read"),
        TenantStanding::UNDECIDED,
        "in good standing until the relay says"
    );
    use Standing::{Good, Suspended};
    check_standing(&db, 1, (Suspended, 2_000), (Suspended, 2_000), true);
    // Delivered late: the restoration decided before the suspension changes nothing.
    check_standing(&db, 2, (Good, 1_000), (Suspended, 2_000), false);
    // The same decision again (a redelivery) is applied: nothing changes.
    check_standing(&db, 3, (Suspended, 2_000), (Suspended, 2_000), true);
    check_standing(&db, 4, (Good, 3_000), (Good, 3_000), true);
    check_standing(&db, 5, (Suspended, 2_500), (Good, 3_000), false);
    let stored = db.read_blocking(standing::stored).expect("read");
    assert_eq!(
        (stored.cloud_searches, stored.received_at_ms),
        ("served", Some(5_000))
    );
}

#[test]
fn a_suspension_outlives_reopening_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path()).expect("open");
    check_standing(
        &db,
        1,
        (Standing::Suspended, 2_000),
        (Standing::Suspended, 2_000),
        true,
    );
    drop(db);
    let db = Database::open(dir.path()).expect("reopen");
    let stored = db.read_blocking(standing::stored).expect("read");
    assert!(stored.suspended(), "{stored:?}");
    assert_eq!(
        (stored.cloud_searches, stored.decided_at_ms),
        ("refused", Some(2_000))
    );
    // A newer decision (a restored tenant) is a decision that supersedes it; an older one
    // is not.
    let restored = |decided_at_ms| {
        let mut restored = TenantStanding::UNDECIDED;
        restored.decided_at_ms = Some(decided_at_ms);
        restored
    };
    assert!(restored(2_001).supersedes(&stored));
    assert!(!restored(1_999).supersedes(&stored));
    assert!(stored.supersedes(&TenantStanding::UNDECIDED));
    // De-provisioned, the box belongs to no tenant: the standing goes with the identity.
    db.write_blocking(standing::forget).expect("forget");
    let forgotten = db.read_blocking(standing::stored).expect("read");
    assert_eq!(forgotten, TenantStanding::UNDECIDED);
}
