//! A month priced from its rule versions and its metered usage, invoiced once, read only by
//! whom it concerns; and the same through the CLI.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{invoice_of, meter_october, outcome, rule, run_month, set_rule_back_then, start_run};
use crate::harness::Backend;
use crate::on_both_backends;
use crate::world::World;

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
    let invoice_id = made["invoice_id"].as_str().expect("id");
    let invoice = a_lines_are_priced_by_hand(&world, invoice_id).await;

    // B used nothing: its minimum is topped up.
    let b_made = outcome(&report, &b.id);
    assert_eq!(b_made["total_minor"], 10_000, "{report}");
    let b_invoice = b_made["invoice_id"].as_str().expect("id");

    running_again_makes_no_second_invoice(&world, invoice_id, &invoice).await;
    // The billing.generated event was recorded with the invoice.
    let events = world.events(a, "billing.generated").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains(invoice_id), "{events:?}");
    who_may_read_and_run(&world, b_invoice).await;
}

/// A's invoice `invoice_id`, its lines checked by hand; the invoice.
async fn a_lines_are_priced_by_hand(world: &World, invoice_id: &str) -> Value {
    // By hand: device-days 14 × 300 (1–14 Oct) and 6 × 400 (15–20 Oct, the new
    // version); 1 GB free, then 2.5 GB × 80; 10,000 calls × 50 / 1,000 and 2,000 at half
    // price; 3 searches × 100. 4200 + 2400 + 0 + 200 + 500 + 50 + 300 = 7650, above the
    // minimum of 5000 (prorated over two versions of the same minimum).
    let (a, relay) = (&world.a, &world.relay);
    let path = format!("/api/v1/tenants/{}/invoices/{invoice_id}", a.id);
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
    invoice
}

/// Again: the same invoices, no second one.
async fn running_again_makes_no_second_invoice(world: &World, invoice_id: &str, invoice: &Value) {
    let (a, relay) = (&world.a, &world.relay);
    let list = format!("/api/v1/tenants/{}/invoices", a.id);
    let path = format!("{list}/{invoice_id}");
    let again = run_month(world, json!({"month": "2026-10"})).await;
    assert_eq!(outcome(&again, &a.id)["outcome"], "existing", "{again}");
    assert_eq!(outcome(&again, &a.id)["invoice_id"], invoice_id);
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
    assert_eq!(&reread, invoice);
}

/// Who may read and run: A's viewer reads no invoice; A's admin not B's (`b_invoice`), nor
/// runs; a run of no month or of no tenant is refused.
async fn who_may_read_and_run(world: &World, b_invoice: &str) {
    let (a, b, relay) = (&world.a, &world.b, &world.relay);
    let list = format!("/api/v1/tenants/{}/invoices", a.id);
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    relay
        .expect_get(&list, &viewer, StatusCode::FORBIDDEN)
        .await;
    let b_path = format!("/api/v1/tenants/{}/invoices/{b_invoice}", b.id);
    relay
        .expect_get(&b_path, &a.admin_token, StatusCode::NOT_FOUND)
        .await;
    let crossed = format!("{list}/{b_invoice}");
    relay
        .expect_get(&crossed, &a.admin_token, StatusCode::NOT_FOUND)
        .await;
    let (status, _) = start_run(world, &a.admin_token, json!({"month": "2026-10"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (body, field) in [
        (json!({"month": "2026-13"}), Some("month")),
        (
            json!({"month": "2026-10", "tenant_id": Uuid::new_v4()}),
            None,
        ),
    ] {
        let (status, answer) = start_run(world, &world.root_token, body).await;
        match field {
            Some(field) => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
                assert_eq!(answer["field"], field, "{answer}");
            }
            None => assert_eq!(status, StatusCode::NOT_FOUND, "{answer}"),
        }
    }
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

on_both_backends!(a_month_is_priced_and_invoiced_once, the_cli_runs_a_month);
