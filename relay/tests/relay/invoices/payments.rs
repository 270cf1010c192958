//! Payments, credit notes and voiding, which never change an invoice's lines; the invoice
//! printed as HTML and CSV.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{meter_october, outcome, rule, run_month, set_rule_back_then};
use crate::harness::{Backend, expect};
use crate::on_both_backends;
use crate::world::World;

async fn payments_credit_notes_void_and_printing(backend: Backend) {
    let world = World::new(backend).await;
    let (a, b) = (&world.a, &world.b);
    set_rule_back_then(&world, &a.id, &rule("2026-10-01", 300, 5_000)).await;
    set_rule_back_then(&world, &b.id, &rule("2026-10-01", 300, 10_000)).await;
    meter_october(&world).await;
    let report = run_month(&world, json!({"month": "2026-10"})).await;
    let invoice_id = |tenant: &str| {
        let id = outcome(&report, tenant)["invoice_id"].as_str();
        id.expect("id").to_owned()
    };
    let (a_invoice, b_invoice) = (invoice_id(&a.id), invoice_id(&b.id));
    // 20 device-days × 300 + 200 + 550 + 300.
    assert_eq!(outcome(&report, &a.id)["total_minor"], 7_050, "{report}");
    let invoice_path = format!("/api/v1/tenants/{}/invoices/{a_invoice}", a.id);
    bad_payments_are_refused(&world, &invoice_path, &b_invoice).await;
    let read = payments_and_a_credit_note_settle_it(&world, &invoice_path).await;
    an_unpaid_invoice_is_voided(&world, &b_invoice).await;
    the_printed_invoice_is_escaped_and_loads_nothing(&world, &invoice_path).await;
    the_csv_lists_the_lines(&world, &invoice_path, &read).await;
}

/// A payment of `amount` fen with `reference`, paid on 20 November.
fn payment(amount: i64, reference: &str) -> Value {
    json!({"amount_minor": amount, "reference": reference, "paid_on": "2026-11-20"})
}

/// Records the payment `body` on the invoice at `invoice_path` as the platform admin.
async fn pay(world: &World, invoice_path: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("{invoice_path}/payments");
    let token = Some(world.root_token.as_str());
    world
        .relay
        .call(Method::POST, &path, token, Some(body))
        .await
}

/// Refused: a tenant admin; another tenant's invoice under A's id; bad fields.
async fn bad_payments_are_refused(world: &World, invoice_path: &str, b_invoice: &str) {
    let (a, relay) = (&world.a, &world.relay);
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
        let refused = expect(
            pay(world, invoice_path, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_eq!(refused["field"], field, "{refused}");
    }
}

/// A partial payment; the same reference again; more than the balance. A credit note corrects
/// it without touching its lines; the rest paid: paid, and then neither payment nor void. The
/// invoice as A's admin reads it.
async fn payments_and_a_credit_note_settle_it(world: &World, invoice_path: &str) -> Value {
    let (a, relay) = (&world.a, &world.relay);
    let paid = expect(
        pay(world, invoice_path, payment(3_000, "TX-1")).await,
        StatusCode::CREATED,
    );
    assert_eq!(paid["invoice"]["balance_minor"], 4_050, "{paid}");
    assert_eq!(paid["invoice"]["status"], "issued", "{paid}");
    expect(
        pay(world, invoice_path, payment(1_000, "TX-1")).await,
        StatusCode::CONFLICT,
    );
    let over = expect(
        pay(world, invoice_path, payment(5_000, "TX-9")).await,
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
    let settled = expect(
        pay(world, invoice_path, payment(3_000, "TX-2")).await,
        StatusCode::CREATED,
    );
    assert_eq!(settled["invoice"]["status"], "paid", "{settled}");
    assert_eq!(settled["invoice"]["balance_minor"], 0, "{settled}");
    expect(
        pay(world, invoice_path, payment(1, "TX-3")).await,
        StatusCode::CONFLICT,
    );
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
        .expect_get(invoice_path, &a.admin_token, StatusCode::OK)
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

    read
}

/// B's invoice, nothing paid on it, is voided; no payment after.
async fn an_unpaid_invoice_is_voided(world: &World, b_invoice: &str) {
    let (b, relay) = (&world.b, &world.relay);
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
}

/// Printing: escaped text, a policy that loads nothing, both languages.
async fn the_printed_invoice_is_escaped_and_loads_nothing(world: &World, invoice_path: &str) {
    let (a, relay) = (&world.a, &world.relay);
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
}

/// The CSV: a header and the invoice's lines, which add up to its total; not for a viewer.
async fn the_csv_lists_the_lines(world: &World, invoice_path: &str, read: &Value) {
    let (a, relay) = (&world.a, &world.relay);
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

on_both_backends!(payments_credit_notes_void_and_printing);
