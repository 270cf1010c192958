//! The monthly run and its invoices: a month priced from its rule versions (a change on the
//! 15th applying from its date) and its metered usage, total equal to the sum of the lines;
//! a tenant under its minimum topped up; the run made again, after a crash half-way, or twice
//! at once, never making a second invoice; the scheduler's lease and the month it closes;
//! rules refused with the field at fault; who may read and run; the CLI.

use std::process::Command;

use relay::db::{Mode, Scope};
use relay::invoicing::{self, RunOptions, scheduler};
use relay::store::invoices::StoredInvoice;
use relay::store::{invoices, meters, pricing_rules};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, expect};
use crate::on_both_backends;
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
async fn meter_october(world: &World) {
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

pub(crate) async fn run_month(world: &World, body: Value) -> Value {
    let (status, report) = world
        .relay
        .call(
            Method::POST,
            "/api/v1/billing/runs",
            Some(&world.root_token),
            Some(body),
        )
        .await;
    expect((status, report), StatusCode::OK)
}

fn outcome<'a>(report: &'a Value, tenant: &str) -> &'a Value {
    report["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .find(|o| o["tenant_id"] == tenant)
        .unwrap_or_else(|| panic!("no outcome for {tenant}: {report}"))
}

async fn a_month_is_priced_and_invoiced_once(backend: Backend) {
    let world = World::new(backend).await;
    let (a, b, relay) = (&world.a, &world.b, &world.relay);
    set_rule_back_then(&world, &a.id, &rule("2026-10-01", 300, 5_000)).await;
    set_rule_back_then(&world, &a.id, &rule("2026-10-15", 400, 5_000)).await;
    set_rule_back_then(&world, &b.id, &rule("2026-10-01", 300, 10_000)).await;
    meter_october(&world).await;

    // A dry run prices and stores nothing.
    let dry = run_month(&world, json!({"month": "2026-10", "dry_run": true})).await;
    assert_eq!(outcome(&dry, &a.id)["outcome"], "priced", "{dry}");
    assert_eq!(outcome(&dry, &a.id)["total_minor"], 7_650, "{dry}");
    let list = format!("/api/v1/tenants/{}/invoices", a.id);
    let none = relay
        .expect_get(&list, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(none["items"], json!([]), "{none}");

    let report = run_month(&world, json!({"month": "2026-10"})).await;
    let made = outcome(&report, &a.id);
    assert_eq!(made["outcome"], "issued", "{report}");
    assert_eq!(outcome(&report, &b.id)["outcome"], "issued", "{report}");
    assert_eq!(report["summary"]["issued"], 2, "{report}");

    // A's lines, by hand: device-days 14 × 300 (1–14 Oct) and 6 × 400 (15–20 Oct, the new
    // version); 1 GB free, then 2.5 GB × 80; 10,000 calls × 50 / 1,000 and 2,000 at half
    // price; 3 searches × 100. 4200 + 2400 + 0 + 200 + 500 + 50 + 300 = 7650, above the
    // minimum of 5000 (prorated over two versions of the same minimum).
    let invoice_id = made["invoice_id"].as_str().expect("id").to_owned();
    let path = format!("{list}/{invoice_id}");
    let invoice = relay
        .expect_get(&path, &a.admin_token, StatusCode::OK)
        .await;
    let lines: Vec<(String, i64, i64)> = invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            let key = l["key"].as_str().expect("key").to_owned();
            (
                key,
                l["quantity"].as_i64().expect("q"),
                l["amount_minor"].as_i64().expect("a"),
            )
        })
        .collect();
    let expected: Vec<(String, i64, i64)> = [
        ("device_days/2026-10-01/base", 14, 4_200),
        ("device_days/2026-10-15/base", 6, 2_400),
        ("traffic_bytes/2026-10-01/free", 1_000_000_000, 0),
        ("traffic_bytes/2026-10-01/base", 2_500_000_000, 200),
        ("api_calls/2026-10-01/base", 10_000, 500),
        ("api_calls/2026-10-01/tier-0", 2_000, 50),
        ("searches/2026-10-01/base", 3, 300),
    ]
    .iter()
    .map(|(k, q, a)| ((*k).to_owned(), *q, *a))
    .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted, "{invoice}");
    let sum: i64 = lines.iter().map(|l| l.2).sum();
    assert_eq!(invoice["total_minor"], sum, "{invoice}");
    assert_eq!(invoice["total_minor"], 7_650);
    assert_eq!(invoice["status"], "issued");
    assert_eq!(invoice["currency"], "CNY");
    assert_eq!(invoice["period"], "2026-10");
    // October in Shanghai: from 30 September 16:00 UTC to 31 October 16:00 UTC.
    assert_eq!(invoice["period_start"], "2026-09-30T16:00:00Z");
    assert_eq!(invoice["period_end"], "2026-10-31T16:00:00Z");

    // B used nothing: its minimum is topped up.
    let b_invoice = outcome(&report, &b.id);
    assert_eq!(b_invoice["total_minor"], 10_000, "{report}");

    // Again: the same invoices, no second one.
    let again = run_month(&world, json!({"month": "2026-10"})).await;
    assert_eq!(outcome(&again, &a.id)["outcome"], "existing", "{again}");
    assert_eq!(outcome(&again, &a.id)["invoice_id"], invoice_id.as_str());
    assert_eq!(again["summary"]["issued"], 0, "{again}");
    let listed = relay
        .expect_get(&list, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(
        listed["items"].as_array().expect("items").len(),
        1,
        "{listed}"
    );
    let reread = relay
        .expect_get(&path, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(reread, invoice);

    // The billing.generated event was recorded with the invoice.
    let tenant: Uuid = a.id.parse().expect("id");
    let db = &relay.state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Read)
        .await
        .expect("tx");
    let events = relay::store::events::bodies(&mut tx, tenant, "billing.generated")
        .await
        .expect("events");
    tx.commit().await.expect("commit");
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains(&invoice_id), "{events:?}");

    // Who may read and run: A's viewer reads no invoice; A's admin not B's, nor runs.
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    relay
        .expect_get(&list, &viewer, StatusCode::FORBIDDEN)
        .await;
    let b_path = format!(
        "/api/v1/tenants/{}/invoices/{}",
        b.id,
        b_invoice["invoice_id"].as_str().expect("id")
    );
    relay
        .expect_get(&b_path, &a.admin_token, StatusCode::NOT_FOUND)
        .await;
    let crossed = format!("{list}/{}", b_invoice["invoice_id"].as_str().expect("id"));
    relay
        .expect_get(&crossed, &a.admin_token, StatusCode::NOT_FOUND)
        .await;
    let (status, _) = relay
        .call(
            Method::POST,
            "/api/v1/billing/runs",
            Some(&a.admin_token),
            Some(json!({"month": "2026-10"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (body, field) in [
        (json!({"month": "2026-13"}), Some("month")),
        (
            json!({"month": "2026-10", "tenant_id": Uuid::new_v4()}),
            None,
        ),
    ] {
        let (status, answer) = relay
            .call(
                Method::POST,
                "/api/v1/billing/runs",
                Some(&world.root_token),
                Some(body),
            )
            .await;
        match field {
            Some(field) => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
                assert_eq!(answer["field"], field, "{answer}");
            }
            None => assert_eq!(status, StatusCode::NOT_FOUND, "{answer}"),
        }
    }
}

async fn reruns_crashes_and_rivals_make_one_invoice_each(backend: Backend) {
    let world = World::new(backend).await;
    let (a, b) = (&world.a, &world.b);
    for tenant in [&a.id, &b.id] {
        set_rule_back_then(&world, tenant, &rule("2026-08-01", 300, 1_000)).await;
    }
    let db = &world.relay.state.db;
    let now = jiff::Timestamp::now();
    let september = "2026-09".parse().expect("month");
    let a_id: Uuid = a.id.parse().expect("id");

    // A run that got as far as tenant A, then died; the run again finishes the rest.
    let first = RunOptions {
        month: Some(september),
        tenant: Some(a_id),
        dry_run: false,
    };
    let summary = invoicing::run(db, first, now, |_| {}).await.expect("run");
    assert_eq!(summary.issued, 1, "{summary:?}");
    let a_invoice = invoice_of(&world, &a.id, "2026-09")
        .await
        .expect("A's invoice");
    let all = RunOptions {
        month: Some(september),
        tenant: None,
        dry_run: false,
    };
    let summary = invoicing::run(db, all, now, |_| {}).await.expect("run");
    assert_eq!((summary.issued, summary.existing), (1, 1), "{summary:?}");
    assert_eq!(invoice_of(&world, &a.id, "2026-09").await, Some(a_invoice));

    // Two runs at once (two relays): one invoice per tenant.
    let august = RunOptions {
        month: Some("2026-08".parse().expect("month")),
        tenant: None,
        dry_run: false,
    };
    let (one, two) = tokio::join!(
        invoicing::run(db, august, now, |_| {}),
        invoicing::run(db, august, now, |_| {}),
    );
    let (one, two) = (one.expect("one"), two.expect("two"));
    assert_eq!(one.issued + two.issued, 2, "{one:?} {two:?}");
    assert_eq!(one.existing + two.existing, 2, "{one:?} {two:?}");
    for tenant in [&a.id, &b.id] {
        let id: Uuid = tenant.parse().expect("id");
        let mut tx = db.begin(Scope::Tenant(id), Mode::Read).await.expect("tx");
        let count = invoices::count_of_period(&mut tx, id, "2026-08")
            .await
            .expect("count");
        tx.commit().await.expect("commit");
        assert_eq!(count, 1);
    }

    // A month not ended is not closed (a dry run may price it).
    let this_month = billing::BillingMonth::containing(now, &jiff::tz::TimeZone::UTC)
        .expect("month")
        .next()
        .expect("next");
    let early = RunOptions {
        month: Some(this_month),
        tenant: Some(a_id),
        dry_run: false,
    };
    let summary = invoicing::run(db, early, now, |_| {}).await.expect("run");
    assert_eq!(summary.not_ended, 1, "{summary:?}");

    // The scheduler. At 00:30 on 1 November in Shanghai, October ended within the grace
    // hour: the month it closes is still September (invoiced), not October. At 01:30 it
    // closes October. Meanwhile the lease (three checks long) keeps a second relay out, until
    // it expires.
    let every = std::time::Duration::from_secs(60);
    let at = |text: &str| text.parse::<jiff::Timestamp>().expect("instant");
    let check = |holder: &'static str, when: &'static str| {
        scheduler::check(db, None, (holder, every), at(when))
    };
    assert!(
        check("relay-1", "2026-11-01T00:30:00+08:00")
            .await
            .expect("check")
    );
    assert!(
        invoice_of(&world, &a.id, "2026-10").await.is_none(),
        "within the grace hour"
    );
    assert!(
        check("relay-1", "2026-11-01T01:30:00+08:00")
            .await
            .expect("check")
    );
    assert!(
        invoice_of(&world, &a.id, "2026-10").await.is_some(),
        "October closed"
    );
    assert!(
        invoice_of(&world, &b.id, "2026-10").await.is_some(),
        "October closed"
    );
    let second = check("relay-2", "2026-11-01T01:31:00+08:00")
        .await
        .expect("check");
    assert!(!second, "the lease is held for three checks");
    let later = check("relay-2", "2026-11-01T01:40:00+08:00")
        .await
        .expect("check");
    assert!(later, "an expired lease is taken over");
}

/// `tenant`'s invoice of `period`, if any.
async fn invoice_of(world: &World, tenant: &str, period: &str) -> Option<StoredInvoice> {
    let id: Uuid = tenant.parse().expect("id");
    let db = &world.relay.state.db;
    let mut tx = db.begin(Scope::Tenant(id), Mode::Read).await.expect("tx");
    let found = invoices::of_period(&mut tx, id, period)
        .await
        .expect("invoice");
    tx.commit().await.expect("commit");
    found
}

async fn rules_are_checked_and_never_backdated(backend: Backend) {
    let world = World::new(backend).await;
    let (a, relay) = (&world.a, &world.relay);
    let path = format!("/api/v1/tenants/{}/pricing-rules", a.id);
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    let next_month = today
        .first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .expect("date")
        .to_string();
    let good = rule(&next_month, 300, 0);

    let post = |token: &str, body: Value| {
        let token = token.to_owned();
        let path = path.clone();
        async move {
            relay
                .call(Method::POST, &path, Some(&token), Some(body))
                .await
        }
    };
    expect(
        post(&a.admin_token, good.clone()).await,
        StatusCode::FORBIDDEN,
    );
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
        let refused = expect(
            post(&world.root_token, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_eq!(refused["field"], field, "{body}: {refused}");
    }
    let mut unknown = good.clone();
    unknown["vat"] = json!(6);
    expect(
        post(&world.root_token, unknown).await,
        StatusCode::BAD_REQUEST,
    );

    let stored = expect(
        post(&world.root_token, good.clone()).await,
        StatusCode::CREATED,
    );
    assert_eq!(stored["effective_from"], next_month.as_str(), "{stored}");
    expect(
        post(&world.root_token, good.clone()).await,
        StatusCode::CONFLICT,
    );
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

    // This month already invoiced (as a correction would find it): no rule for it any more.
    let tenant: Uuid = a.id.parse().expect("id");
    let db = &relay.state.db;
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
    let refused = expect(
        post(&world.root_token, this_month).await,
        StatusCode::CONFLICT,
    );
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("invoiced"),
        "{refused}"
    );
}

async fn the_cli_runs_a_month(backend: Backend) {
    let world = World::new(backend).await;
    set_rule_back_then(&world, &world.a.id, &rule("2026-10-01", 300, 5_000)).await;
    meter_october(&world).await;
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dipper-relay"))
            .args(["billing", "run"])
            .args(args)
            .env("DIPPER_RELAY__DATABASE__URL", &world.db().config.url)
            .env_remove("DIPPER_RELAY_CONFIG")
            .output()
            .expect("run")
    };
    let lines = |output: &std::process::Output| -> Vec<Value> {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    };
    let dry = run(&["--month", "2026-10", "--tenant", &world.a.id, "--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let printed = lines(&dry);
    assert_eq!(printed.len(), 2, "{printed:?}");
    assert_eq!(printed[0]["outcome"], "priced");
    // 20 device-days × 300 + 200 + 550 + 300 = 7050.
    assert_eq!(printed[0]["total_minor"], 7_050);
    assert_eq!(printed[1]["summary"]["priced"], 1);
    assert!(invoice_of(&world, &world.a.id, "2026-10").await.is_none());

    let real = run(&["--month", "2026-10"]);
    assert!(
        real.status.success(),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    let printed = lines(&real);
    let summary = &printed.last().expect("summary")["summary"];
    assert_eq!(summary["issued"], 1, "{printed:?}");
    assert_eq!(summary["no_rule"], 1, "B has no rule: {printed:?}");
    assert!(invoice_of(&world, &world.a.id, "2026-10").await.is_some());

    let bad = run(&["--month", "2026-13"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("2026-13"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

async fn payments_credit_notes_void_and_printing(backend: Backend) {
    let world = World::new(backend).await;
    let (a, b, relay) = (&world.a, &world.b, &world.relay);
    set_rule_back_then(&world, &a.id, &rule("2026-10-01", 300, 5_000)).await;
    set_rule_back_then(&world, &b.id, &rule("2026-10-01", 300, 10_000)).await;
    meter_october(&world).await;
    let report = run_month(&world, json!({"month": "2026-10"})).await;
    let a_invoice = outcome(&report, &a.id)["invoice_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b_invoice = outcome(&report, &b.id)["invoice_id"]
        .as_str()
        .expect("id")
        .to_owned();
    // 20 device-days × 300 + 200 + 550 + 300.
    assert_eq!(outcome(&report, &a.id)["total_minor"], 7_050, "{report}");
    let invoice_path = format!("/api/v1/tenants/{}/invoices/{a_invoice}", a.id);
    let pay = |body: Value| {
        let path = format!("{invoice_path}/payments");
        let token = world.root_token.clone();
        async move {
            relay
                .call(Method::POST, &path, Some(&token), Some(body))
                .await
        }
    };
    let payment = |amount: i64, reference: &str| json!({"amount_minor": amount, "reference": reference, "paid_on": "2026-11-20"});

    // Refused: a tenant admin; another tenant's invoice under A's id; bad fields.
    let path = format!("{invoice_path}/payments");
    let (status, _) = relay
        .call(
            Method::POST,
            &path,
            Some(&a.admin_token),
            Some(payment(100, "X")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let crossed = format!("/api/v1/tenants/{}/invoices/{b_invoice}/payments", a.id);
    let (status, _) = relay
        .call(
            Method::POST,
            &crossed,
            Some(&world.root_token),
            Some(payment(100, "X")),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (body, field) in [
        (payment(0, "TX"), "amount_minor"),
        (payment(100, "  "), "reference"),
        (
            json!({"amount_minor": 100, "reference": "TX", "paid_on": "20/11/2026"}),
            "paid_on",
        ),
    ] {
        let refused = expect(pay(body).await, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused["field"], field, "{refused}");
    }

    // A partial payment; the same reference again; more than the balance.
    let paid = expect(pay(payment(3_000, "TX-1")).await, StatusCode::CREATED);
    assert_eq!(paid["invoice"]["balance_minor"], 4_050, "{paid}");
    assert_eq!(paid["invoice"]["status"], "issued", "{paid}");
    expect(pay(payment(1_000, "TX-1")).await, StatusCode::CONFLICT);
    let over = expect(
        pay(payment(5_000, "TX-9")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(over["field"], "amount_minor", "{over}");

    // A credit note corrects it without touching its lines; the rest paid: paid.
    let credit_path = format!("{invoice_path}/credit-notes");
    let note = relay
        .expect_call(
            (Method::POST, &credit_path),
            Some(&world.root_token),
            Some(json!({"amount_minor": 1_050, "reason": "SLA credit for 3 October"})),
            StatusCode::CREATED,
        )
        .await;
    assert!(
        note["credit_note"]["number"]
            .as_str()
            .expect("number")
            .ends_with("-CN1")
    );
    assert_eq!(note["invoice"]["balance_minor"], 3_000, "{note}");
    let settled = expect(pay(payment(3_000, "TX-2")).await, StatusCode::CREATED);
    assert_eq!(settled["invoice"]["status"], "paid", "{settled}");
    assert_eq!(settled["invoice"]["balance_minor"], 0, "{settled}");
    expect(pay(payment(1, "TX-3")).await, StatusCode::CONFLICT);
    let void = format!("{invoice_path}/void");
    relay
        .expect_call(
            (Method::POST, &void),
            Some(&world.root_token),
            None,
            StatusCode::CONFLICT,
        )
        .await;
    let read = relay
        .expect_get(&invoice_path, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(
        read["total_minor"], 7_050,
        "lines and total never change: {read}"
    );
    assert_eq!(read["paid_minor"], 6_000);
    assert_eq!(read["credited_minor"], 1_050);
    assert_eq!(
        read["payments"].as_array().expect("payments").len(),
        2,
        "{read}"
    );
    assert_eq!(
        read["credit_notes"][0]["reason"],
        "SLA credit for 3 October"
    );

    // B's invoice, nothing paid on it, is voided; no payment after.
    let b_path = format!("/api/v1/tenants/{}/invoices/{b_invoice}", b.id);
    let voided = relay
        .expect_call(
            (Method::POST, &format!("{b_path}/void")),
            Some(&world.root_token),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(voided["status"], "void", "{voided}");
    let (status, _) = relay
        .call(
            Method::POST,
            &format!("{b_path}/payments"),
            Some(&world.root_token),
            Some(payment(100, "TX")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Printing: escaped text, a policy that loads nothing, both languages; the CSV's lines.
    let tenant_path = format!("/api/v1/tenants/{}", a.id);
    relay
        .expect_call(
            (Method::PATCH, &tenant_path),
            Some(&world.root_token),
            Some(json!({"name": "<img src=x onerror=alert(1)> Estate"})),
            StatusCode::OK,
        )
        .await;
    for (lang, words) in [
        ("en", ["Invoice", "Balance due"]),
        ("zh", ["账单", "应付余额"]),
    ] {
        let response = relay
            .raw(Method::GET, &format!("{invoice_path}/html?lang={lang}"))
            .bearer_auth(&a.admin_token)
            .send()
            .await
            .expect("html");
        assert_eq!(response.status(), StatusCode::OK);
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script"),
            "{csp}"
        );
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/html")
        );
        let page = response.text().await.expect("page");
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt; Estate"),
            "{page}"
        );
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("70.50") && page.contains("10.50"), "{page}");
        for word in words {
            assert!(page.contains(word), "{lang}: {word} missing");
        }
    }
    let csv = relay
        .raw(Method::GET, &format!("{invoice_path}/csv"))
        .bearer_auth(&a.admin_token)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.expect("csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows.len(),
        1 + read["lines"].as_array().expect("lines").len(),
        "{csv}"
    );
    assert!(rows[0].starts_with("invoice,period,currency,key"), "{csv}");
    let amounts: i64 = rows[1..]
        .iter()
        .map(|row| {
            row.rsplit(',')
                .next()
                .expect("amount")
                .parse::<i64>()
                .expect("int")
        })
        .sum();
    assert_eq!(amounts, 7_050, "{csv}");
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    let (status, _) = relay
        .call(
            Method::GET,
            &format!("{invoice_path}/csv"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

on_both_backends!(
    a_month_is_priced_and_invoiced_once,
    payments_credit_notes_void_and_printing,
    reruns_crashes_and_rivals_make_one_invoice_each,
    rules_are_checked_and_never_backdated,
    the_cli_runs_a_month,
);
