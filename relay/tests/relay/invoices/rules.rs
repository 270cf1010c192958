//! Pricing rules: set by the platform admin only, refused with the field at fault, stored
//! once as given, never for a month already invoiced.

use relay::db::{Mode, Scope};
use relay::store::invoices::{self, StoredInvoice};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::rule;
use crate::harness::{Backend, assert_says, expect};
use crate::on_both_backends;
use crate::world::World;

async fn rules_are_checked_and_never_backdated(backend: Backend) {
    let world = World::new(backend).await;
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    let next_month = today
        .first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .expect("date")
        .to_string();
    let good = rule(&next_month, 300, 0);
    let by_tenant = post_rule(&world, &world.a.admin_token, good.clone()).await;
    expect(by_tenant, StatusCode::FORBIDDEN);
    bad_rules_are_refused_with_the_field(&world, &good).await;
    a_rule_is_stored_once_as_given(&world, &good).await;
    no_rule_applies_to_a_month_already_invoiced(&world, today).await;
}

/// Sets the pricing rule `body` for tenant A with `token`; the status and the answer.
async fn post_rule(world: &World, token: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/api/v1/tenants/{}/pricing-rules", world.a.id);
    let relay = &world.relay;
    relay
        .call(Method::POST, &path, Some(token), Some(body))
        .await
}

/// Each field at fault in a `good` rule is named; an unknown field is a bad request.
async fn bad_rules_are_refused_with_the_field(world: &World, good: &Value) {
    let post = |body| post_rule(world, &world.root_token, body);
    let mut cases = Vec::new();
    let mut negative = good.clone();
    negative["charges"]["searches"]["unit_price_minor"] = json!(-1);
    cases.push((negative, "charges.searches.unit_price_minor"));
    let mut tiers = good.clone();
    tiers["charges"]["api_calls"]["tiers"] = json!([
        {"from_quantity": 10, "discount_basis_points": 100},
        {"from_quantity": 5, "discount_basis_points": 200}]);
    cases.push((tiers, "charges.api_calls.tiers[1].from_quantity"));
    let mut meter = good.clone();
    meter["charges"]["minutes"] = json!({"unit_price_minor": 1});
    cases.push((meter, "charges.minutes"));
    let mut currency = good.clone();
    currency["currency"] = json!("XBT");
    cases.push((currency, "currency"));
    let mut date = good.clone();
    date["effective_from"] = json!("2026-02-30");
    cases.push((date, "effective_from"));
    let mut backdated = good.clone();
    backdated["effective_from"] = json!("2020-01-01");
    cases.push((backdated, "effective_from"));
    for (body, field) in cases {
        let refused = expect(post(body.clone()).await, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused["field"], field, "{body}: {refused}");
    }
    let mut unknown = good.clone();
    unknown["vat"] = json!(6);
    expect(post(unknown).await, StatusCode::BAD_REQUEST);
}

/// `good`, stored once, is listed as given with the defaults written out.
async fn a_rule_is_stored_once_as_given(world: &World, good: &Value) {
    let (a, relay) = (&world.a, &world.relay);
    let post = |body| post_rule(world, &world.root_token, body);
    let stored = expect(post(good.clone()).await, StatusCode::CREATED);
    assert_eq!(stored["effective_from"], good["effective_from"], "{stored}");
    expect(post(good.clone()).await, StatusCode::CONFLICT);
    let path = format!("/api/v1/tenants/{}/pricing-rules", a.id);
    let listed = relay
        .expect_get(&path, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(
        listed["items"].as_array().expect("items").len(),
        1,
        "{listed}"
    );
    // Stored as given, the defaults written out.
    let charges = &listed["items"][0]["charges"];
    assert_eq!(
        charges["api_calls"]["tiers"], good["charges"]["api_calls"]["tiers"],
        "{listed}"
    );
    assert_eq!(charges["traffic_bytes"]["free_allowance"], 1_000_000_000);
    assert_eq!(charges["searches"]["free_allowance"], 0, "{listed}");
    assert_eq!(charges["searches"]["tiers"], json!([]), "{listed}");
}

/// This month (`today`'s) already invoiced (as a correction would find it): no rule for it
/// any more.
async fn no_rule_applies_to_a_month_already_invoiced(world: &World, today: jiff::civil::Date) {
    let tenant: Uuid = world.a.id.parse().expect("id");
    let db = &world.relay.state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    let period = format!("{:04}-{:02}", today.year(), today.month());
    let invoice = StoredInvoice {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        period: period.clone(),
        number: format!("TEST-{period}"),
        currency: "CNY".to_owned(),
        subtotal_minor: 0,
        total_minor: 0,
        status: "issued".to_owned(),
        time_zone: "Asia/Shanghai".to_owned(),
        period_start: 0,
        period_end: 0,
        issued_at: 0,
        due_at: 0,
        paid_minor: 0,
        credited_minor: 0,
        status_changed_at: 0,
    };
    invoices::insert(&mut tx, &invoice, &[])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    let this_month = rule(&today.to_string(), 300, 0);
    let refused = post_rule(world, &world.root_token, this_month).await;
    let refused = expect(refused, StatusCode::CONFLICT);
    assert_says(&refused, "invoiced");
}

on_both_backends!(rules_are_checked_and_never_backdated);
