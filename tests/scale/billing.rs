//! The monthly billing run with three relays: every instance's scheduler checks every second
//! whether a month is due (`billing.check_every_seconds = 1`), all three under libfaketime
//! (Debian's `faketime`) sharing one clock file. The tenants' prices are set with the clock
//! in the middle of last month (the API takes no rule dated before the current month); then
//! the clock is set right, all three schedulers see last month ended, and the one holding the
//! `billing` lease bills it: one invoice and one `billing.generated` event per tenant, one
//! instance logging each invoice issued. Then that instance is killed (`kill -9`): another
//! takes the lease over once it expired, runs the month again, and bills nothing twice.

use std::path::Path;

use serde_json::json;
use testkit::eventually;
use testkit::relay::ROOT;

use crate::cluster::{Cluster, NAMES};
use crate::site::WAIT;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const TENANTS: usize = 3;

/// Last month ("2026-11"), and the offset in seconds from now to its 15th at noon in
/// Shanghai (the tenants' default zone; negative).
fn last_month() -> (String, i64) {
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
    let now = jiff::Zoned::now().with_time_zone(zone.clone());
    let last = now
        .date()
        .first_of_month()
        .yesterday()
        .expect("a day before")
        .first_of_month();
    let mid = last
        .with()
        .day(15)
        .build()
        .expect("the 15th")
        .at(12, 0, 0, 0)
        .to_zoned(zone)
        .expect("in the zone");
    let offset = mid.timestamp().as_second() - now.timestamp().as_second();
    (format!("{:04}-{:02}", last.year(), last.month()), offset)
}

/// How many times each relay logged an invoice issued.
fn issued_by_each(cluster: &Cluster) -> Vec<usize> {
    cluster
        .relays
        .iter()
        .map(|relay| relay.log_text().matches("\"invoice issued\"").count())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_bill_each_tenant_once_and_a_takeover_bills_nothing_twice() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} missing: scripts/test installs Debian's faketime"
    );
    let clock_dir = tempfile::tempdir().expect("tempdir");
    let clock = clock_dir.path().join("faketime");
    let (month, offset) = last_month();
    // Mid-last-month on every relay's clock from its start.
    std::fs::write(&clock, format!("{offset:+}")).expect("the clock file");
    let env = [
        ("LD_PRELOAD", LIBFAKETIME.to_owned()),
        ("FAKETIME_TIMESTAMP_FILE", clock.display().to_string()),
        // Read at every call, so a change takes effect at once.
        ("FAKETIME_NO_CACHE", "1".to_owned()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
        ("DIPPER_RELAY__BILLING__CHECK_EVERY_SECONDS", "1".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let mut cluster = Cluster::start("", &env).await;

    // A tenant made on each instance, its price set on the next.
    let root = login(&cluster, 0).await;
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        let (status, tenant) = cluster
            .send(
                i,
                (reqwest::Method::POST, "/api/v1/tenants"),
                Some(&root),
                Some(&json!({ "name": format!("Community {i}") })),
                Some(&format!("billing-tenant-{i}")),
            )
            .await;
        assert!((200..300).contains(&status), "{status} {tenant}");
        let id = tenant["id"].as_str().expect("id").to_owned();
        let rule = json!({
            "effective_from": format!("{month}-01"), "currency": "CNY",
            "minimum_monthly_minor": 10_000 + i,
            "charges": { "device_days": { "unit_price_minor": 300 } },
        });
        let rules = format!("/api/v1/tenants/{id}/pricing-rules");
        cluster.post_ok((i + 1) % 3, &rules, &root, &rule).await;
        tenants.push(id);
    }

    // Today again: last month has ended for all three schedulers.
    std::fs::write(&clock, "+0").expect("the clock file");
    let root = login(&cluster, 1).await;
    for (i, tenant) in tenants.iter().enumerate() {
        let path = format!("/api/v1/tenants/{tenant}/invoices");
        eventually(&format!("{tenant}'s invoice for {month}"), WAIT, || async {
            let invoices = cluster.get_ok(2, &path, &root).await;
            invoices["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|inv| inv["period"] == month.as_str()))
        })
        .await;
        let invoices = cluster.get_ok(i, &path, &root).await;
        let invoice = &invoices["items"][0];
        assert_eq!(invoice["total_minor"], 10_000 + i, "{invoices}");
    }
    let billed_once = |cluster: &Cluster| {
        for tenant in &tenants {
            let invoices = cluster.number(&format!(
                "SELECT count(*) FROM invoices WHERE tenant_id = '{tenant}' AND period = '{month}'"
            ));
            let events = cluster.number(&format!(
                "SELECT count(*) FROM relay_events WHERE tenant_id = '{tenant}' \
                 AND kind = 'billing.generated'"
            ));
            assert_eq!((invoices, events), (1, 1), "{tenant}\n{}", cluster.logs());
        }
        let issued = issued_by_each(cluster);
        assert_eq!(
            issued.iter().sum::<usize>(),
            TENANTS,
            "each invoice issued once, by the lease's holder: {issued:?}"
        );
        issued
    };
    let issued = billed_once(&cluster);
    let holder = issued
        .iter()
        .position(|&n| n == TENANTS)
        .unwrap_or_else(|| panic!("one instance issued every invoice: {issued:?}"));
    let lease = |cluster: &Cluster| {
        let rows =
            cluster.query("SELECT holder, expires_at FROM job_leases WHERE name = 'billing'");
        let row = rows.first().expect("the billing lease");
        (row[0].clone(), row[1].parse::<i64>().expect("expires_at"))
    };
    let (held_by, _) = lease(&cluster);

    // The holder dies. Another instance takes the lease once it expired (three checks'
    // time), runs the month again, and finds every invoice made.
    cluster.relays[holder].kill9();
    let mut taken = None;
    eventually("another instance took the billing lease", WAIT, || {
        let (by, until) = lease(&cluster);
        let moved = by != held_by;
        if moved {
            taken = Some((by, until));
        }
        async move { moved }
    })
    .await;
    let (new_holder, first_until) = taken.expect("the new holder");
    // Its next renewal comes after the run the takeover started has ended.
    eventually("the new holder renewed its lease", WAIT, || {
        let (by, until) = lease(&cluster);
        let renewed = by == new_holder && until > first_until;
        async move { renewed }
    })
    .await;
    let after = billed_once(&cluster);
    assert_eq!(
        after, issued,
        "relay {} held the lease; its successor issued nothing",
        NAMES[holder]
    );
}

/// Signs the platform administrator in on relay `i`: the access token.
async fn login(cluster: &Cluster, i: usize) -> String {
    let body = json!({ "email": ROOT, "password": testkit::relay::PASSWORD });
    let answer = cluster
        .send(
            i,
            (reqwest::Method::POST, "/api/v1/auth/login"),
            None,
            Some(&body),
            None,
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["access_token"].as_str().expect("token").to_owned()
}
