//! A tenant's suspension and its end reach its boxes online at once, as `setStanding` RPCs
//! (the box side, refusing cloud searches while suspended, is tested in
//! appliance/tests/uplink.rs); an operator cannot send `setStanding` themselves.

use protocol::rpc::{Method, RpcResponse, SetStanding, Standing};
use relay::db::{Mode, Scope};
use relay::store::invoices::{self, StoredInvoice};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::harness::Backend;
use crate::on_both_backends;
use crate::site::Site;

/// An invoice of `tenant` for 2026-10, 50.00 CNY, due an hour ago.
async fn unpaid_invoice(site: &Site, tenant: Uuid) -> StoredInvoice {
    let now = jiff::Timestamp::now().as_millisecond();
    let invoice = StoredInvoice {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        period: "2026-10".to_owned(),
        number: format!("INV-202610-{}", tenant.simple()),
        currency: "CNY".to_owned(),
        subtotal_minor: 5_000,
        total_minor: 5_000,
        status: "issued".to_owned(),
        time_zone: "Asia/Shanghai".to_owned(),
        period_start: 0,
        period_end: 1,
        issued_at: now - 3_600_000,
        due_at: now - 3_600_000,
        paid_minor: 0,
        credited_minor: 0,
        status_changed_at: now - 3_600_000,
    };
    let db = &site.relay().state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    invoices::insert(&mut tx, &invoice, &[])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    invoice
}

async fn standing_sent(a_box: &mut crate::site::TestBox) -> (u64, SetStanding) {
    let (id, request) = a_box.next_rpc().await;
    match request.method {
        Method::SetStanding(set) => (id, set),
        other => panic!("expected setStanding, got {other:?}"),
    }
}

async fn a_suspension_and_its_end_reach_the_boxes_online(backend: Backend) {
    let site = Site::new(backend).await;
    let (relay, a, root) = (site.relay(), &site.world.a, &site.world.root_token);
    let mut a_box = site.box_a_online().await;
    let tenant: Uuid = a.id.parse().expect("id");
    let settings = format!("/api/v1/tenants/{}/billing/settings", a.id);
    let strict = json!({"time_zone": "Asia/Shanghai", "device_day_basis": "seen_online",
        "payment_days": 0, "overdue_after_days": 0, "suspend_after_days": 0});
    let (status, body) = relay
        .call(reqwest::Method::PUT, &settings, Some(root), Some(strict))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let invoice = unpaid_invoice(&site, tenant).await;

    let checked = relay
        .expect_post(
            "/api/v1/billing/dunning-runs",
            root,
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(checked["moved"][0]["to"], "suspended", "{checked}");
    let (id, told) = standing_sent(&mut a_box).await;
    assert_eq!(told.standing, Standing::Suspended);
    a_box
        .answer(
            id,
            RpcResponse::ok(&json!({"standing": "suspended", "applied": true})),
        )
        .await;
    let db = &site.relay().state.db;
    let read = |sql: &'static str| async move {
        let mut tx = db
            .begin(Scope::Tenant(tenant), Mode::Read)
            .await
            .expect("tx");
        let found: Option<i64> = sqlx::query_scalar(sql)
            .fetch_optional(&mut *tx)
            .await
            .expect("read");
        tx.commit().await.expect("commit");
        found.unwrap_or_default()
    };
    let answered = "SELECT COUNT(*) FROM device_rpcs WHERE method = 'setStanding' \
                    AND state = 'successful'";
    crate::site::eventually("the box's answer is stored", || async {
        read(answered).await == 1
    })
    .await;

    // The box says it is online again (a reconnection): it has the decision, nothing is sent.
    let changed_at = "SELECT status_changed_at FROM devices WHERE status = 'active'";
    let before = read(changed_at).await;
    a_box.online().await;
    crate::site::eventually("the relay applies the box's presence", || async {
        read(changed_at).await != before
    })
    .await;
    let sent = read("SELECT COUNT(*) FROM device_rpcs WHERE method = 'setStanding'").await;
    assert_eq!(sent, 1, "a box that has the decision is not sent it again");
    // Had its RPC expired while it was away (made so here), the decision goes out again.
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    sqlx::query("UPDATE device_rpcs SET state = 'expired' WHERE method = 'setStanding'")
        .execute(&mut *tx)
        .await
        .expect("expire");
    tx.commit().await.expect("commit");
    a_box.online().await;
    let (id, reminded) = standing_sent(&mut a_box).await;
    assert_eq!(reminded, told, "the same decision, not a new one");
    let kept = json!({"standing": "suspended", "applied": false});
    a_box.answer(id, RpcResponse::ok(&kept)).await;

    // The relay's own method is not an operator's.
    let rpc = format!("/api/v1/tenants/{}/devices/{}/rpc", a.id, a.device);
    let forged =
        json!({"method": "setStanding", "params": {"standing": "good", "decided_at_ms": i64::MAX}});
    let refused = relay
        .expect_post(
            &rpc,
            &a.admin_token,
            forged,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(refused["field"], "method", "{refused}");

    let payments = format!("/api/v1/tenants/{}/invoices/{}/payments", a.id, invoice.id);
    let pay = json!({"amount_minor": 5_000, "reference": "T-1", "paid_on": "2026-12-05"});
    relay
        .expect_post(&payments, root, pay, StatusCode::CREATED)
        .await;
    let (_, restored) = standing_sent(&mut a_box).await;
    assert_eq!(restored.standing, Standing::Good);
    assert!(
        restored.decided_at_ms > told.decided_at_ms,
        "the later decision is newer"
    );
}

on_both_backends!(a_suspension_and_its_end_reach_the_boxes_online);
