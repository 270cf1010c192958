//! The monthly run and its invoices: a month priced from its rule versions (a change on the
//! 15th applying from its date) and its metered usage, total equal to the sum of the lines;
//! a tenant under its minimum topped up (`month.rs`); the run made again, after a crash
//! half-way, or twice at once, never making a second invoice; the scheduler's lease and the
//! month it closes (`runs.rs`); rules refused with the field at fault (`rules.rs`); payments,
//! credit notes, voiding and printing (`payments.rs`). This file holds what they share: the
//! rules, the metered October and the runs.

mod month;
mod payments;
mod rules;
mod runs;

use relay::db::{Mode, Scope};
use relay::store::invoices::{self, StoredInvoice};
use relay::store::{meters, pricing_rules};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::expect;
use crate::world::World;

/// A rule version from `from`: ¥3 a device-day (`device_day` fen), 80 fen a GB after 1 GB
/// free, 50 fen per 1,000 API calls with half off from the 10,000th, ¥1 a search, and a
/// minimum of `minimum` fen a month.
pub(crate) fn rule(from: &str, device_day: i64, minimum: i64) -> Value {
    json!({
        "effective_from": from,
        "currency": "CNY",
        "minimum_monthly_minor": minimum,
        "charges": {
            "device_days": {"unit_price_minor": device_day},
            "traffic_bytes": {"unit_price_minor": 80, "free_allowance": 1_000_000_000},
            "api_calls": {"unit_price_minor": 50,
                "tiers": [{"from_quantity": 10_000, "discount_basis_points": 5_000}]},
            "searches": {"unit_price_minor": 100},
        },
    })
}

/// Stores `rule` for `tenant` as if set back then (the API refuses dates before this month).
pub(crate) async fn set_rule_back_then(world: &World, tenant: &str, rule: &Value) {
    let parsed: billing::PricingRule = serde_json::from_value(rule.clone()).expect("a rule");
    parsed.validate().expect("valid");
    let tenant: Uuid = tenant.parse().expect("id");
    let db = &world.relay.state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    let stored = pricing_rules::StoredRule {
        id: Uuid::new_v4(),
        effective_from: parsed.effective_from.to_string(),
        rule: serde_json::to_string(&parsed).expect("json"),
        created_by: "test".to_owned(),
        created_at: 0,
    };
    pricing_rules::insert(&mut tx, tenant, &stored)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
}

/// Tenant A's October 2026: its box seen 1 to 20 October, 3.5 GB on the 5th, 12,000 API
/// calls on the 10th, 3 searches on the 12th.
pub(crate) async fn meter_october(world: &World) {
    let tenant: Uuid = world.a.id.parse().expect("id");
    let device: Uuid = world.a.device.parse().expect("id");
    let db = &world.relay.state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    for day in 1..=20 {
        let date = format!("2026-10-{day:02}");
        meters::seen(&mut tx, (tenant, device), &date)
            .await
            .expect("seen");
    }
    let days = [
        ("2026-10-05", ("traffic_bytes", "mqtt"), 3_500_000_000),
        ("2026-10-10", ("api_calls", "read"), 7_000),
        ("2026-10-10", ("api_calls", "write"), 5_000),
        ("2026-10-12", ("searches", ""), 3),
    ];
    for (date, meter, quantity) in days {
        meters::add_day(&mut tx, tenant, date, meter, quantity)
            .await
            .expect("day");
    }
    tx.commit().await.expect("commit");
}

/// Starts a billing run of `body` with `token`; the status and the report.
pub(crate) async fn start_run(world: &World, token: &str, body: Value) -> (StatusCode, Value) {
    let path = "/api/v1/billing/runs";
    world
        .relay
        .call(Method::POST, path, Some(token), Some(body))
        .await
}

/// Runs the month of `body` as the platform admin, asserting 200; the report.
pub(crate) async fn run_month(world: &World, body: Value) -> Value {
    expect(
        start_run(world, &world.root_token, body).await,
        StatusCode::OK,
    )
}

pub(crate) fn outcome<'a>(report: &'a Value, tenant: &str) -> &'a Value {
    report["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .find(|o| o["tenant_id"] == tenant)
        .unwrap_or_else(|| panic!("no outcome for {tenant}: {report}"))
}

/// `tenant`'s invoice of `period`, if any.
pub(crate) async fn invoice_of(world: &World, tenant: &str, period: &str) -> Option<StoredInvoice> {
    let id: Uuid = tenant.parse().expect("id");
    let db = &world.relay.state.db;
    let mut tx = db.begin(Scope::Tenant(id), Mode::Read).await.expect("tx");
    let found = invoices::of_period(&mut tx, id, period)
        .await
        .expect("invoice");
    tx.commit().await.expect("commit");
    found
}
