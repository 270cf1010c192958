//! Billing's meters through the API and the store: API calls counted to the caller's own
//! tenant by route class, once per Idempotency-Key, never for a platform admin or a server
//! error; the settings (who may read and set them, a zone that is not one); hourly counters
//! rolled up into the days of the tenant's zone exactly once, with an addition landing after
//! its hour was rolled up counted at the next rollup; device-days on the `registered` basis
//! following a box's registration and decommissioning.

use relay::db::{Mode, Scope};
use relay::metering::rollup;
use relay::store::meters;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, expect};
use crate::on_both_backends;
use crate::world::{World, counted};

/// Tenant `tenant`'s usage of `month` (this month when `None`), read by the platform admin
/// (whose calls are not counted), after the counted calls are written.
async fn usage(world: &World, tenant: &str, month: Option<&str>) -> Value {
    world.relay.state.meters.flush().await.expect("flush");
    let query = month.map(|m| format!("?month={m}")).unwrap_or_default();
    let path = format!("/api/v1/tenants/{tenant}/usage{query}");
    world
        .relay
        .expect_get(&path, &world.root_token, StatusCode::OK)
        .await
}

async fn api_calls_count_to_the_callers_tenant_once(backend: Backend) {
    let world = World::new(backend).await;
    let (a, b) = (&world.a, &world.b);
    let relay = &world.relay;
    let before_a = usage(&world, &a.id, None).await;
    let before_b = usage(&world, &b.id, None).await;

    // Three reads, one of them of tenant B's areas (404, counted to A, the caller); a write;
    // a write sent twice with one Idempotency-Key; the platform admin's calls; an
    // unauthenticated call.
    let areas_a = format!("/api/v1/tenants/{}/areas", a.id);
    let areas_b = format!("/api/v1/tenants/{}/areas", b.id);
    relay
        .expect_get(&areas_a, &a.admin_token, StatusCode::OK)
        .await;
    relay
        .expect_get(&areas_a, &a.admin_token, StatusCode::OK)
        .await;
    relay
        .expect_get(&areas_b, &a.admin_token, StatusCode::NOT_FOUND)
        .await;
    relay
        .created(&areas_a, &a.admin_token, json!({"name": "Gatehouse"}))
        .await;
    for _ in 0..2 {
        let response = relay
            .raw_json(
                Method::POST,
                (&areas_a, &a.admin_token),
                json!({"name": "Carpark"}).to_string(),
            )
            .header("idempotency-key", "retry-7")
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    relay
        .expect_get(&areas_b, &world.root_token, StatusCode::OK)
        .await;
    relay
        .expect_public_get(&areas_a, StatusCode::UNAUTHORIZED)
        .await;

    let after_a = usage(&world, &a.id, None).await;
    let after_b = usage(&world, &b.id, None).await;
    let delta = |meter, class| counted(&after_a, meter, class) - counted(&before_a, meter, class);
    assert_eq!(delta("api_calls", "read"), 3, "{after_a}");
    assert_eq!(delta("api_calls", "write"), 2, "{after_a}");
    assert_eq!(
        after_a["totals"]["api_calls"].as_i64().expect("total")
            - before_a["totals"]["api_calls"].as_i64().unwrap_or(0),
        5,
        "{after_a}"
    );
    assert_eq!(
        counted(&after_b, "api_calls", "read"),
        counted(&before_b, "api_calls", "read"),
        "B pays for nothing A or the platform admin did: {after_b}"
    );
    assert_eq!(after_a["time_zone"], "Asia/Shanghai");
    assert_eq!(after_a["device_day_basis"], "seen_online");

    // Who may read: A's admin its own; A's viewer nothing; A's admin not B's; a month that
    // is not one.
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    let own = format!("/api/v1/tenants/{}/usage", a.id);
    relay.expect_get(&own, &a.admin_token, StatusCode::OK).await;
    relay.expect_get(&own, &viewer, StatusCode::FORBIDDEN).await;
    let other = format!("/api/v1/tenants/{}/usage", b.id);
    relay
        .expect_get(&other, &a.admin_token, StatusCode::NOT_FOUND)
        .await;
    for month in ["2026-13", "26-11", "november"] {
        let answer = relay
            .expect_get(
                &format!("{own}?month={month}"),
                &a.admin_token,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(answer["field"], "month", "{answer}");
    }
}

async fn settings_are_the_platforms_to_set(backend: Backend) {
    let world = World::new(backend).await;
    let (a, relay) = (&world.a, &world.relay);
    let path = format!("/api/v1/tenants/{}/billing/settings", a.id);
    let settings = relay
        .expect_get(&path, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(
        settings,
        json!({"time_zone": "Asia/Shanghai", "device_day_basis": "seen_online", "payment_days": 15,
            "overdue_after_days": 7, "suspend_after_days": 14, "box_offline_minutes": 60})
    );
    let wanted = json!({"time_zone": "America/New_York", "device_day_basis": "registered",
        "payment_days": 30, "overdue_after_days": 3, "suspend_after_days": 10,
        "box_offline_minutes": 0});
    let put = |token: &str, body: Value| {
        let token = token.to_owned();
        let path = path.clone();
        async move {
            relay
                .call(Method::PUT, &path, Some(&token), Some(body))
                .await
        }
    };
    let refused = expect(
        put(&a.admin_token, wanted.clone()).await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(refused["error"], "forbidden", "{refused}");
    let bad_zone = json!({"time_zone": "Mars/Olympus", "device_day_basis": "registered"});
    let refused = expect(
        put(&world.root_token, bad_zone).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(refused["field"], "time_zone", "{refused}");
    let unknown = json!({"time_zone": "UTC", "device_day_basis": "registered", "vat": 6});
    expect(
        put(&world.root_token, unknown).await,
        StatusCode::BAD_REQUEST,
    );
    let too_long = json!({"time_zone": "UTC", "device_day_basis": "registered",
        "payment_days": 400});
    let refused = expect(
        put(&world.root_token, too_long).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(refused["field"], "payment_days", "{refused}");
    for (field, value) in [
        ("overdue_after_days", 366),
        ("suspend_after_days", 1_000),
        ("box_offline_minutes", 10_081),
    ] {
        let mut body = json!({"time_zone": "UTC", "device_day_basis": "registered"});
        body[field] = json!(value);
        let refused = expect(
            put(&world.root_token, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_eq!(refused["field"], field, "{refused}");
    }
    expect(put(&world.root_token, wanted.clone()).await, StatusCode::OK);
    let stored = relay
        .expect_get(&path, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(stored, wanted);
    let audit = relay
        .expect_get(
            &format!("/api/v1/tenants/{}/audit", a.id),
            &a.admin_token,
            StatusCode::OK,
        )
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(
        actions.iter().filter(|a| **a == "billing.settings").count() >= 2,
        "the refusals and the change are audited: {actions:?}"
    );
}

/// 2026-11-30T15:00Z and 16:00Z: 23:00 on 30 November and 00:00 on 1 December in Shanghai.
const NOV_30_1500Z: i64 = 1_796_050_800_000;
const NOV_30_1600Z: i64 = 1_796_054_400_000;

async fn add(world: &World, tenant: Uuid, hour: i64, quantity: i64) {
    let db = &world.relay.state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    meters::add(&mut tx, tenant, hour, ("traffic_bytes", "mqtt"), quantity)
        .await
        .expect("add");
    tx.commit().await.expect("commit");
}

fn traffic(report: &Value) -> Vec<(String, i64)> {
    report["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter_map(|day| {
            let quantity: i64 = day["counts"]
                .as_array()
                .expect("counts")
                .iter()
                .filter(|c| c["meter"] == "traffic_bytes")
                .map(|c| c["quantity"].as_i64().expect("quantity"))
                .sum();
            (quantity > 0).then(|| (day["date"].as_str().expect("date").to_owned(), quantity))
        })
        .collect()
}

async fn hours_roll_up_into_local_days_once(backend: Backend) {
    let world = World::new(backend).await;
    let tenant: Uuid = world.a.id.parse().expect("id");
    let db = &world.relay.state.db;
    add(&world, tenant, NOV_30_1500Z, 1_000).await;
    add(&world, tenant, NOV_30_1500Z, 500).await;
    add(&world, tenant, NOV_30_1600Z, 7).await;

    // Before any rollup the usage comes from the hours; after it, from the days; the same.
    let pending_nov = usage(&world, &world.a.id, Some("2026-11")).await;
    let pending_dec = usage(&world, &world.a.id, Some("2026-12")).await;
    assert_eq!(traffic(&pending_nov), [("2026-11-30".to_owned(), 1_500)]);
    assert_eq!(traffic(&pending_dec), [("2026-12-01".to_owned(), 7)]);
    let before = NOV_30_1600Z + 3_600_000;
    let done = rollup::roll_up_before(db, before).await.expect("rollup");
    assert!(done.hours >= 2, "{done:?}");
    let again = rollup::roll_up_before(db, before).await.expect("rollup");
    assert_eq!(again.hours, 0, "nothing left to roll up: {again:?}");
    let rolled_nov = usage(&world, &world.a.id, Some("2026-11")).await;
    assert_eq!(traffic(&rolled_nov), traffic(&pending_nov));
    assert_eq!(
        traffic(&usage(&world, &world.a.id, Some("2026-12")).await),
        [("2026-12-01".to_owned(), 7)]
    );

    // An addition that lands after its hour was rolled up counts, once, at the next rollup
    // (and in the usage before it).
    add(&world, tenant, NOV_30_1500Z, 25).await;
    let late = usage(&world, &world.a.id, Some("2026-11")).await;
    assert_eq!(traffic(&late), [("2026-11-30".to_owned(), 1_525)]);
    let done = rollup::roll_up_before(db, before).await.expect("rollup");
    assert_eq!(done.hours, 1, "{done:?}");
    let rolled = usage(&world, &world.a.id, Some("2026-11")).await;
    assert_eq!(traffic(&rolled), [("2026-11-30".to_owned(), 1_525)]);

    // In New York both hours are on 30 November (10:00 and 11:00 local): a tenant's zone
    // places hours rolled up after it is set.
    let settings = format!("/api/v1/tenants/{}/billing/settings", world.b.id);
    let new_york = json!({"time_zone": "America/New_York", "device_day_basis": "seen_online"});
    expect(
        world
            .relay
            .call(
                Method::PUT,
                &settings,
                Some(&world.root_token),
                Some(new_york),
            )
            .await,
        StatusCode::OK,
    );
    let b: Uuid = world.b.id.parse().expect("id");
    add(&world, b, NOV_30_1500Z, 3).await;
    add(&world, b, NOV_30_1600Z, 4).await;
    rollup::roll_up_before(db, before).await.expect("rollup");
    let report = usage(&world, &world.b.id, Some("2026-11")).await;
    assert_eq!(traffic(&report), [("2026-11-30".to_owned(), 7)]);
    assert_eq!(report["time_zone"], "America/New_York");
}

async fn registered_boxes_bill_from_registration_to_decommissioning(backend: Backend) {
    let world = World::new(backend).await;
    let (a, relay) = (&world.a, &world.relay);
    let settings = format!("/api/v1/tenants/{}/billing/settings", a.id);
    let registered = json!({"time_zone": "Asia/Shanghai", "device_day_basis": "registered"});
    expect(
        relay
            .call(
                Method::PUT,
                &settings,
                Some(&world.root_token),
                Some(registered),
            )
            .await,
        StatusCode::OK,
    );
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    let month = format!("{:04}-{:02}", today.year(), today.month());
    let boxes_on = |report: &Value, date: jiff::civil::Date| -> i64 {
        report["days"]
            .as_array()
            .expect("days")
            .iter()
            .filter(|day| day["date"] == date.to_string())
            .flat_map(|day| day["counts"].as_array().expect("counts").iter())
            .filter(|c| c["meter"] == "device_days")
            .map(|c| c["quantity"].as_i64().expect("quantity"))
            .sum()
    };
    // A's one box, registered today, bills today and every later day of the month.
    let report = usage(&world, &a.id, Some(&month)).await;
    assert_eq!(boxes_on(&report, today), 1, "{report}");
    let last_day = today.last_of_month();
    assert_eq!(boxes_on(&report, last_day), 1, "{report}");
    let expected_days = i64::from(last_day.day() - today.day()) + 1;
    assert_eq!(report["totals"]["device_days"], expected_days, "{report}");
    if let Ok(yesterday) = today.yesterday()
        && yesterday.month() == today.month()
    {
        assert_eq!(boxes_on(&report, yesterday), 0, "{report}");
    }

    // Decommissioned today: it bills today only.
    let decommission = format!("/api/v1/tenants/{}/devices/{}/decommission", a.id, a.device);
    relay
        .expect_post(&decommission, &a.admin_token, Value::Null, StatusCode::OK)
        .await;
    let report = usage(&world, &a.id, Some(&month)).await;
    assert_eq!(boxes_on(&report, today), 1, "{report}");
    assert_eq!(report["totals"]["device_days"], 1, "{report}");
}

on_both_backends!(
    api_calls_count_to_the_callers_tenant_once,
    settings_are_the_platforms_to_set,
    hours_roll_up_into_local_days_once,
    registered_boxes_bill_from_registration_to_decommissioning,
);
