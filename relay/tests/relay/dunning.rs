//! Dunning and notifications end to end: a tenant's invoice unpaid past its due date makes it
//! `overdue` (warned), then `suspended` (no search starts, no device changes, while signing in
//! and reading invoices still work), and paying everything overdue restores it at once; each
//! move audited with its reason and recorded in `relay_events`; every notice delivered to a
//! real SMTP server (aiosmtpd), a Feishu-style webhook (signature checked) and an SMS hook,
//! retried after a failure; a notice given up after its last attempt; a box offline too long
//! noticed once; the platform admins' reports.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as HttpStatus};
use axum::routing::post;
use relay::config::{Config, SmsConfig, SmtpConfig, SmtpSecurity};
use relay::db::{Mode, Scope};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::SmtpServer;
use uuid::Uuid;

use crate::harness::{Backend, expect};
use crate::invoices::{rule, run_month, set_rule_back_then};
use crate::on_both_backends;
use crate::world::{Tenant, World};

const FEISHU_SECRET: &str = "feishu-bot-secret";
const SMS_TOKEN: &str = "sms-hook-token";

/// One POST a hook received.
#[derive(Debug, Clone)]
struct Post {
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// The webhook and SMS hook: records each POST; answers 500 to the first `fail_first`, and
/// Feishu's refusal (HTTP 200, code 19021) to every one when `refuse`.
#[derive(Debug, Clone, Default)]
struct Hooks {
    posts: Arc<Mutex<Vec<Post>>>,
    fail_first: Arc<AtomicUsize>,
    refuse: bool,
}

impl Hooks {
    async fn start(fail_first: usize, refuse: bool) -> (SocketAddr, Hooks) {
        let hooks = Hooks {
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
            refuse,
            ..Hooks::default()
        };
        async fn receive(
            State(hooks): State<Hooks>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            axum::Json(body): axum::Json<Value>,
        ) -> (HttpStatus, axum::Json<Value>) {
            let authorization = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let path = uri.path().to_owned();
            hooks.posts.lock().expect("posts").push(Post {
                path,
                authorization,
                body,
            });
            let failing = hooks
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                return (HttpStatus::INTERNAL_SERVER_ERROR, axum::Json(json!({})));
            }
            if hooks.refuse {
                let refused = json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"});
                return (HttpStatus::OK, axum::Json(refused));
            }
            (
                HttpStatus::OK,
                axum::Json(json!({"code": 0, "msg": "success"})),
            )
        }
        let app = axum::Router::new()
            .route("/feishu", post(receive))
            .route("/sms", post(receive))
            .with_state(hooks.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, hooks)
    }

    fn posts(&self, path: &str) -> Vec<Post> {
        let posts = self.posts.lock().expect("posts");
        posts.iter().filter(|p| p.path == path).cloned().collect()
    }
}

/// The relay's configuration for notices through `smtp` and the hooks at `hooks`.
fn notices_to(config: &mut Config, smtp: &SmtpServer, hooks: SocketAddr) {
    let notifications = &mut config.notifications;
    notifications.smtp = Some(SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port: Some(smtp.port()),
        security: SmtpSecurity::None,
        from: "Dipper Billing <billing@dipper.test>".to_owned(),
        username: None,
        password: None,
    });
    notifications.sms = Some(SmsConfig {
        url: format!("http://{hooks}/sms"),
        token: Some(SMS_TOKEN.to_owned()),
    });
    // The hooks run on loopback.
    notifications.allow_private_targets = true;
    notifications.poll_ms = 50;
    notifications.retry_min_ms = 100;
    notifications.retry_max_ms = 400;
}

async fn add_channel(world: &World, tenant: &Tenant, body: Value) -> Value {
    let path = format!("/api/v1/tenants/{}/notification-channels", tenant.id);
    world
        .relay
        .expect_post(&path, &tenant.admin_token, body, StatusCode::CREATED)
        .await
}

async fn notices(world: &World, tenant: &Tenant) -> Vec<Value> {
    let path = format!("/api/v1/tenants/{}/notifications?limit=500", tenant.id);
    let list = world
        .relay
        .expect_get(&path, &tenant.admin_token, StatusCode::OK)
        .await;
    list["items"].as_array().expect("items").clone()
}

/// Waits until every notice of `tenant` is sent and there are `count`.
async fn all_sent(world: &World, tenant: &Tenant, count: usize) -> Vec<Value> {
    let what = format!("{count} notices sent");
    testkit::eventually(&what, Duration::from_secs(30), || async {
        let found = notices(world, tenant).await;
        assert!(
            found.iter().all(|n| n["status"] != "failed"),
            "a notice failed: {found:#?}"
        );
        found.len() == count && found.iter().all(|n| n["status"] == "sent")
    })
    .await;
    notices(world, tenant).await
}

async fn standing(world: &World, tenant: &Tenant) -> Value {
    let path = format!("/api/v1/tenants/{}/billing/standing", tenant.id);
    world
        .relay
        .expect_get(&path, &tenant.admin_token, StatusCode::OK)
        .await
}

async fn set_settings(world: &World, tenant: &Tenant, settings: Value) {
    let path = format!("/api/v1/tenants/{}/billing/settings", tenant.id);
    let (status, body) = world
        .relay
        .call(Method::PUT, &path, Some(&world.root_token), Some(settings))
        .await;
    expect((status, body), StatusCode::OK);
}

/// Checks a Feishu body's signature as the bot does.
fn signed_by_the_secret(body: &Value) -> bool {
    let timestamp: i64 = body["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    body["sign"] == relay::notify::feishu::sign(timestamp, FEISHU_SECRET)
        && (jiff::Timestamp::now().as_second() - timestamp).abs() < 3_600
}

async fn a_tenant_goes_overdue_then_suspended_and_paying_restores_it(backend: Backend) {
    let smtp = SmtpServer::start();
    // The webhook fails its first POST: that notice is retried.
    let (hooks_addr, hooks) = Hooks::start(1, false).await;
    let world = World::configured(backend, |config| notices_to(config, &smtp, hooks_addr)).await;
    let feishu = channels_are_set_and_checked(&world, hooks_addr).await;
    let (invoice_id, number) = an_invoice_due_at_once(&world).await;
    the_invoice_is_noticed(&world, (&smtp, &hooks), &feishu, &number).await;
    the_check_makes_it_overdue(&world, &smtp, &number).await;
    four_days_on_the_cli_suspends_it(&world).await;
    a_suspended_tenant_only_signs_in_and_reads(&world, &hooks, &number).await;
    paying_everything_overdue_restores_it(&world, &invoice_id).await;
    payments_and_the_restoration_are_noticed(&world, &smtp, &hooks).await;
    every_move_is_audited_and_recorded(&world, &number).await;
    the_reports_after_paying(&world).await;
}

/// Renames A's box as A's admin; the status and the answer.
async fn rename_box(world: &World, name: &str) -> (StatusCode, Value) {
    let a = &world.a;
    let device = format!("/api/v1/tenants/{}/devices/{}", a.id, a.device);
    let (token, body) = (Some(a.admin_token.as_str()), Some(json!({"name": name})));
    world.relay.call(Method::PATCH, &device, token, body).await
}

/// A's admin starts a search for A's person on A's box; the status and the answer.
async fn start_search(world: &World) -> (StatusCode, Value) {
    let a = &world.a;
    let searches = format!("/api/v1/tenants/{}/searches", a.id);
    let search = json!({"person_id": a.person, "from": "2026-11-01T00:00:00Z",
        "to": "2026-11-01T01:00:00Z", "devices": [a.device]});
    let token = Some(a.admin_token.as_str());
    world
        .relay
        .call(Method::POST, &searches, token, Some(search))
        .await
}

/// A's admin sets where its notices go (an e-mail, a Feishu bot at `hooks`, an SMS for
/// suspensions); bad channels are refused with the field, and B cannot see A's. The Feishu
/// channel.
async fn channels_are_set_and_checked(world: &World, hooks: SocketAddr) -> Value {
    let (a, b, relay) = (&world.a, &world.b, &world.relay);
    let email = add_channel(
        world,
        a,
        json!({"kind": "email", "target": "accounts@garden.test", "language": "en"}),
    )
    .await;
    assert_eq!(email["events"].as_array().map(Vec::len), Some(6), "{email}");
    let feishu = add_channel(
        world,
        a,
        json!({"kind": "feishu",
        "target": format!("http://{hooks}/feishu"), "secret": FEISHU_SECRET}),
    )
    .await;
    assert_eq!(feishu["signed"], true, "{feishu}");
    assert_eq!(feishu["language"], "zh", "{feishu}");
    assert!(
        feishu.get("secret").is_none(),
        "the secret is never read back: {feishu}"
    );
    add_channel(
        world,
        a,
        json!({"kind": "sms", "target": "+86 138-0013-8000",
        "language": "en", "events": ["tenant.suspended"]}),
    )
    .await;
    let channels = format!("/api/v1/tenants/{}/notification-channels", a.id);
    for (bad, field) in [
        (json!({"kind": "email", "target": "accounts@"}), "target"),
        (
            json!({"kind": "feishu", "target": "ftp://example.com/hook"}),
            "target",
        ),
        (
            json!({"kind": "sms", "target": "+8613800138000", "secret": "x"}),
            "secret",
        ),
        (
            json!({"kind": "email", "target": "a@b.test", "events": ["invoice.eaten"]}),
            "events",
        ),
    ] {
        let refused = relay
            .expect_post(
                &channels,
                &a.admin_token,
                bad.clone(),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(refused["field"], field, "{bad} -> {refused}");
    }
    // B cannot see or remove A's channels.
    let theirs = format!(
        "/api/v1/tenants/{}/notification-channels/{}",
        b.id,
        email["id"].as_str().expect("id")
    );
    let (status, _) = relay
        .call(Method::DELETE, &theirs, Some(&b.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let others = format!("/api/v1/tenants/{}/notification-channels", a.id);
    let (status, _) = relay
        .call(Method::GET, &others, Some(&b.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    feishu
}

/// A's October invoice of 50.00 CNY, due at once, overdue at once and suspended 3 days
/// after; its id and number.
async fn an_invoice_due_at_once(world: &World) -> (String, String) {
    let a = &world.a;
    set_settings(
        world,
        a,
        json!({"time_zone": "Asia/Shanghai", "device_day_basis": "seen_online",
        "payment_days": 0, "overdue_after_days": 0, "suspend_after_days": 3}),
    )
    .await;
    set_rule_back_then(world, &a.id, &rule("2026-10-01", 300, 5_000)).await;
    let report = run_month(world, json!({"month": "2026-10", "tenant_id": a.id})).await;
    assert_eq!(report["summary"]["issued"], 1, "{report}");
    let invoice = &report["outcomes"][0];
    assert_eq!(invoice["total_minor"], 5_000, "{report}");
    let text = |key: &str| invoice[key].as_str().expect(key).to_owned();
    (text("invoice_id"), text("number"))
}

/// The invoice's notices: e-mail in English, Feishu in Chinese after a retry.
async fn the_invoice_is_noticed(
    world: &World,
    (smtp, hooks): (&SmtpServer, &Hooks),
    feishu: &Value,
    number: &str,
) {
    let sent = all_sent(world, &world.a, 2).await;
    let retried = sent
        .iter()
        .find(|n| n["channel_id"] == feishu["id"])
        .expect("feishu's");
    assert_eq!(retried["attempts"], 2, "{sent:#?}");
    let mail = smtp.received();
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0].to, "accounts@garden.test");
    assert_eq!(mail[0].subject, format!("Invoice {number} for 2026-10"));
    assert!(
        mail[0].body.contains("50.00 CNY due by"),
        "{}",
        mail[0].body
    );
    let posted = hooks.posts("/feishu");
    assert_eq!(posted.len(), 2, "one failed, one delivered: {posted:#?}");
    let text = posted[1].body["content"]["text"].as_str().expect("text");
    assert!(text.contains(number) && text.contains("已开具"), "{text}");
    assert!(
        signed_by_the_secret(&posted[1].body),
        "{:?}",
        posted[1].body
    );
}

/// The check: overdue, warned, once; still allowed to work.
async fn the_check_makes_it_overdue(world: &World, smtp: &SmtpServer, number: &str) {
    let (a, relay) = (&world.a, &world.relay);
    let path = "/api/v1/billing/dunning-runs";
    let body = json!({"tenant_id": a.id});
    let checked = relay
        .expect_post(path, &world.root_token, body.clone(), StatusCode::OK)
        .await;
    assert_eq!(
        checked["moved"],
        json!([{"tenant_id": a.id, "from": "good", "to": "overdue",
        "reason": checked["moved"][0]["reason"]}]),
        "{checked}"
    );
    assert_eq!(checked["invoices_overdue"], 1, "{checked}");
    let now = standing(world, a).await;
    assert_eq!(now["standing"], "overdue", "{now}");
    assert_eq!(now["overdue"][0]["number"], number, "{now}");
    assert_eq!(now["overdue"][0]["balance_minor"], 5_000, "{now}");
    // A check made again moves nothing and notices nothing twice.
    let again = relay
        .expect_post(path, &world.root_token, body, StatusCode::OK)
        .await;
    assert_eq!(again["moved"], json!([]), "{again}");
    // Only platform admins run it.
    let (status, _) = relay
        .call(Method::POST, path, Some(&a.admin_token), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = rename_box(world, "gate-1").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an overdue tenant still works: {body}"
    );
    all_sent(world, a, 4).await;
    let mail = smtp.received();
    let warning = mail
        .iter()
        .find(|m| m.subject == "Payment overdue: service will be suspended");
    let warning = warning.unwrap_or_else(|| panic!("no warning: {mail:#?}"));
    assert!(
        warning.body.contains(number) && warning.body.contains("50.00 CNY"),
        "{}",
        warning.body
    );
}

/// Four days on (the CLI looks ahead): suspended.
async fn four_days_on_the_cli_suspends_it(world: &World) {
    let a = &world.a;
    let ahead = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(96);
    let output = Command::new(env!("CARGO_BIN_EXE_dipper-relay"))
        .args([
            "billing",
            "dunning",
            "--tenant",
            &a.id,
            "--as-of",
            &ahead.to_string(),
        ])
        .env("DIPPER_RELAY__DATABASE__URL", &world.db().config.url)
        .env_remove("DIPPER_RELAY_CONFIG")
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        (&lines[0]["from"], &lines[0]["to"]),
        (&json!("overdue"), &json!("suspended")),
        "{lines:?}"
    );
    assert_eq!(lines[1]["summary"]["moved"], 1, "{lines:?}");
    assert_eq!(standing(world, a).await["standing"], "suspended");
}

/// Suspended: no search starts, no device changes; signing in and reading still work.
async fn a_suspended_tenant_only_signs_in_and_reads(world: &World, hooks: &Hooks, number: &str) {
    let (a, b, relay) = (&world.a, &world.b, &world.relay);
    let refused = expect(start_search(world).await, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(refused["error"], "tenant_suspended", "{refused}");
    let (status, body) = rename_box(world, "gate-2").await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    let register = format!("/api/v1/tenants/{}/devices", a.id);
    let new_box = json!({"name": "gate-3", "area_id": a.building});
    let (status, body) = relay
        .call(
            Method::POST,
            &register,
            Some(&a.admin_token),
            Some(new_box.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    let token = relay.token(Some(&a.id), &a.admin_email).await;
    let invoices = format!("/api/v1/tenants/{}/invoices", a.id);
    relay.expect_get(&invoices, &token, StatusCode::OK).await;
    // B is not touched.
    let b_register = format!("/api/v1/tenants/{}/devices", b.id);
    let b_box = json!({"name": "gate-9", "area_id": b.building});
    let (status, body) = relay
        .call(Method::POST, &b_register, Some(&b.admin_token), Some(b_box))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The SMS hook got the suspension, with the operator's token.
    all_sent(world, a, 7).await;
    let sms = hooks.posts("/sms");
    assert_eq!(sms.len(), 1, "{sms:#?}");
    assert_eq!(
        sms[0].authorization.as_deref(),
        Some(format!("Bearer {SMS_TOKEN}").as_str())
    );
    assert_eq!(sms[0].body["to"], "+8613800138000");
    assert_eq!(sms[0].body["event"], "tenant.suspended");
    let text = sms[0].body["text"].as_str().expect("text");
    assert!(
        text.contains("suspended") && text.contains(number),
        "{text}"
    );
}

/// Paying everything overdue restores A at once, and only that.
async fn paying_everything_overdue_restores_it(world: &World, invoice_id: &str) {
    let (a, b, relay) = (&world.a, &world.b, &world.relay);
    // A payment on another tenant's path is not found; half of it leaves A suspended.
    let pay = |amount: i64, reference: &str| json!({"amount_minor": amount, "reference": reference, "paid_on": "2026-12-05"});
    let wrong = format!("/api/v1/tenants/{}/invoices/{invoice_id}/payments", b.id);
    let (status, _) = relay
        .call(
            Method::POST,
            &wrong,
            Some(&world.root_token),
            Some(pay(5_000, "T-0")),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let payments = format!("/api/v1/tenants/{}/invoices/{invoice_id}/payments", a.id);
    relay
        .expect_post(
            &payments,
            &world.root_token,
            pay(2_000, "T-1"),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(standing(world, a).await["standing"], "suspended");
    // Paying the rest restores it at once.
    let paid = relay
        .expect_post(
            &payments,
            &world.root_token,
            pay(3_000, "T-2"),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(paid["invoice"]["status"], "paid", "{paid}");
    let restored = standing(world, a).await;
    assert_eq!(restored["standing"], "good", "{restored}");
    assert_eq!(restored["overdue"], json!([]), "{restored}");
    let (status, body) = rename_box(world, "gate-4").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = start_search(world).await;
    assert_ne!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
}

/// Two payments (e-mail and Feishu each) and the restoration: 7 + 4 + 2 notices.
async fn payments_and_the_restoration_are_noticed(world: &World, smtp: &SmtpServer, hooks: &Hooks) {
    let sent = all_sent(world, &world.a, 13).await;
    let events: Vec<&str> = sent.iter().filter_map(|n| n["event"].as_str()).collect();
    for (event, count) in [
        ("invoice.issued", 2),
        ("tenant.overdue", 2),
        ("tenant.suspended", 3),
        ("payment.received", 4),
        ("tenant.restored", 2),
    ] {
        assert_eq!(
            events.iter().filter(|e| **e == event).count(),
            count,
            "{event}: {events:?}"
        );
    }
    let mail = smtp.received();
    assert!(
        mail.iter().any(|m| m.subject == "Service restored"),
        "{mail:#?}"
    );
    let posted = hooks.posts("/feishu");
    let restored = |p: &Post| {
        p.body["content"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("服务已恢复"))
    };
    assert!(posted.iter().any(restored), "{posted:#?}");
    assert!(
        posted.iter().skip(1).all(|p| signed_by_the_secret(&p.body)),
        "{posted:#?}"
    );
}

/// Every move audited with its reason, and recorded for an event sink.
async fn every_move_is_audited_and_recorded(world: &World, number: &str) {
    let (a, b) = (&world.a, &world.b);
    let audit = world.audit(a).await;
    let moved = |action: &str| {
        audit
            .iter()
            .find(|r| r["action"] == action)
            .unwrap_or_else(|| panic!("no {action}: {audit:#?}"))
            .clone()
    };
    let suspended = moved("tenant.suspended");
    assert_eq!(suspended["actor"], "system:dunning");
    assert!(
        suspended["detail"]
            .as_str()
            .is_some_and(|d| d.contains(number)),
        "{suspended}"
    );
    assert!(
        moved("tenant.overdue")["detail"]
            .as_str()
            .is_some_and(|d| d.contains(number))
    );
    let back = moved("tenant.restored");
    assert!(
        back["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:")),
        "{back}"
    );
    assert!(
        back["detail"]
            .as_str()
            .is_some_and(|d| d.contains("billing.payment")),
        "{back}"
    );
    assert_eq!(world.events(a, "tenant.suspended").await.len(), 1);
    assert_eq!(world.events(a, "tenant.restored").await.len(), 1);
    assert_eq!(world.events(b, "tenant.suspended").await.len(), 0);
}

/// The platform admins' reports: October invoiced and paid in full, both tenants in good
/// standing; a tenant admin reads none of them.
async fn the_reports_after_paying(world: &World) {
    let (a, relay) = (&world.a, &world.relay);
    let revenue = relay
        .expect_get(
            "/api/v1/reports/revenue?from=2026-10&to=2026-10",
            &world.root_token,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        revenue["months"],
        json!([{"month": "2026-10", "currency": "CNY", "invoices": 1,
        "invoiced_minor": 5_000, "credited_minor": 0, "paid_minor": 5_000,
        "outstanding_minor": 0, "overdue_minor": 0}]),
        "{revenue}"
    );
    let tenants = relay
        .expect_get("/api/v1/reports/tenants", &world.root_token, StatusCode::OK)
        .await;
    assert_eq!(
        tenants["by_standing"],
        json!({"good": 2, "overdue": 0, "suspended": 0}),
        "{tenants}"
    );
    assert_eq!(tenants["by_status"]["enabled"], 2, "{tenants}");
    let (status, _) = relay
        .call(
            Method::GET,
            "/api/v1/reports/tenants",
            Some(&a.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

on_both_backends!(a_tenant_goes_overdue_then_suspended_and_paying_restores_it);

async fn a_refused_notice_is_given_up_and_an_offline_box_noticed_once(backend: Backend) {
    let smtp = SmtpServer::start();
    // The webhook refuses every message as a Feishu bot does on a bad signature.
    let (hooks_addr, _hooks) = Hooks::start(0, true).await;
    let world = World::configured(backend, |config| {
        notices_to(config, &smtp, hooks_addr);
        config.notifications.max_attempts = 3;
    })
    .await;
    let a = &world.a;
    let feishu = add_channel(
        &world,
        a,
        json!({"kind": "feishu",
        "target": format!("http://{hooks_addr}/feishu"), "events": ["device.offline"]}),
    )
    .await;
    add_channel(
        &world,
        a,
        json!({"kind": "email", "target": "ops@garden.test", "language": "en",
        "events": ["device.offline"]}),
    )
    .await;

    // A's box went offline two hours ago (the tenant is told after an hour by default).
    went_offline_two_hours_ago(&world, a).await;
    let db = &world.relay.state.db;
    let now = jiff::Timestamp::now();
    assert_eq!(
        relay::dunning::offline::notice(db, now)
            .await
            .expect("notice"),
        1
    );
    assert_eq!(
        relay::dunning::offline::notice(db, now)
            .await
            .expect("notice"),
        0,
        "noticed once"
    );

    // The e-mail arrives; the refused webhook is tried 3 times, then given up with the reason.
    testkit::eventually("the notices settle", Duration::from_secs(30), || async {
        let found = notices(&world, a).await;
        found.len() == 2 && found.iter().all(|n| n["status"] != "pending")
    })
    .await;
    let found = notices(&world, a).await;
    let failed = found
        .iter()
        .find(|n| n["channel_id"] == feishu["id"])
        .expect("feishu's");
    assert_eq!(failed["status"], "failed", "{found:#?}");
    assert_eq!(failed["attempts"], 3, "{found:#?}");
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("19021")),
        "{failed}"
    );
    let mail = smtp.received();
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(
        mail[0].subject.starts_with("Box ") && mail[0].subject.ends_with(" is offline"),
        "{}",
        mail[0].subject
    );
    let failed_status = notices_with(&world, a, "failed").await;
    assert_eq!(failed_status.len(), 1);
}

on_both_backends!(a_refused_notice_is_given_up_and_an_offline_box_noticed_once);

/// Marks `tenant`'s box active and offline since two hours ago, as its last disconnection
/// would have left it.
async fn went_offline_two_hours_ago(world: &World, a: &Tenant) {
    let (tenant, device): (Uuid, Uuid) = (a.id.parse().expect("id"), a.device.parse().expect("id"));
    let db = &world.relay.state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    let two_hours_ago = jiff::Timestamp::now().as_millisecond() - 7_200_000;
    sqlx::query("UPDATE devices SET status = 'active' WHERE id = $1")
        .bind(device.to_string())
        .execute(&mut *tx)
        .await
        .expect("active");
    relay::store::uplink::set_presence(&mut tx, (tenant, device), false, None, two_hours_ago)
        .await
        .expect("offline");
    tx.commit().await.expect("commit");
}

async fn notices_with(world: &World, tenant: &Tenant, status: &str) -> Vec<Value> {
    let path = format!(
        "/api/v1/tenants/{}/notifications?status={status}",
        tenant.id
    );
    let list = world
        .relay
        .expect_get(&path, &tenant.admin_token, StatusCode::OK)
        .await;
    list["items"].as_array().expect("items").clone()
}
