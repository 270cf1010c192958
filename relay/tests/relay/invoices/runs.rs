//! Runs made again, after a crash half-way or twice at once, make one invoice per tenant and
//! month; a month not ended is not closed; the scheduler closes a month after its grace
//! hour, one relay at a time.

use relay::db::{Mode, Scope};
use relay::invoicing::{self, RunOptions, RunSummary, scheduler};
use relay::store::invoices;
use uuid::Uuid;

use super::{invoice_of, rule, set_rule_back_then};
use crate::harness::Backend;
use crate::on_both_backends;
use crate::world::World;

async fn reruns_crashes_and_rivals_make_one_invoice_each(backend: Backend) {
    let world = World::new(backend).await;
    for tenant in [&world.a.id, &world.b.id] {
        set_rule_back_then(&world, tenant, &rule("2026-08-01", 300, 1_000)).await;
    }
    a_run_that_died_is_finished_by_the_next(&world).await;
    two_runs_at_once_make_one_invoice_each(&world).await;
    a_month_not_ended_is_not_closed(&world).await;
    the_scheduler_closes_a_month_after_the_grace_hour(&world).await;
}

/// A real run of `month`, of `tenant` only (`None`: of every tenant).
fn real_run(month: &str, tenant: Option<&str>) -> RunOptions {
    RunOptions {
        month: Some(month.parse().expect("month")),
        tenant: tenant.map(|id| id.parse().expect("id")),
        dry_run: false,
    }
}

/// Runs `options` now through the library, as the scheduler and the CLI do; the summary.
async fn run_now(world: &World, options: RunOptions) -> RunSummary {
    let now = jiff::Timestamp::now();
    let db = &world.relay.state.db;
    invoicing::run(db, options, now, |_| {}).await.expect("run")
}

/// A run that got as far as tenant A, then died; the run again finishes the rest.
async fn a_run_that_died_is_finished_by_the_next(world: &World) {
    let a = &world.a;
    let summary = run_now(world, real_run("2026-09", Some(&a.id))).await;
    assert_eq!(summary.issued, 1, "{summary:?}");
    let a_invoice = invoice_of(world, &a.id, "2026-09")
        .await
        .expect("A's invoice");
    let summary = run_now(world, real_run("2026-09", None)).await;
    assert_eq!((summary.issued, summary.existing), (1, 1), "{summary:?}");
    assert_eq!(invoice_of(world, &a.id, "2026-09").await, Some(a_invoice));
}

/// Two runs at once (two relays): one invoice per tenant.
async fn two_runs_at_once_make_one_invoice_each(world: &World) {
    let august = real_run("2026-08", None);
    let (one, two) = tokio::join!(run_now(world, august), run_now(world, august));
    assert_eq!(one.issued + two.issued, 2, "{one:?} {two:?}");
    assert_eq!(one.existing + two.existing, 2, "{one:?} {two:?}");
    let db = &world.relay.state.db;
    for tenant in [&world.a.id, &world.b.id] {
        let id: Uuid = tenant.parse().expect("id");
        let mut tx = db.begin(Scope::Tenant(id), Mode::Read).await.expect("tx");
        let count = invoices::count_of_period(&mut tx, id, "2026-08")
            .await
            .expect("count");
        tx.commit().await.expect("commit");
        assert_eq!(count, 1);
    }
}

/// A month not ended is not closed (a dry run may price it).
async fn a_month_not_ended_is_not_closed(world: &World) {
    let now = jiff::Timestamp::now();
    let this_month = billing::BillingMonth::containing(now, &jiff::tz::TimeZone::UTC)
        .expect("month")
        .next()
        .expect("next");
    let early = RunOptions {
        month: Some(this_month),
        tenant: Some(world.a.id.parse().expect("id")),
        dry_run: false,
    };
    let summary = run_now(world, early).await;
    assert_eq!(summary.not_ended, 1, "{summary:?}");
}

/// The scheduler. At 00:30 on 1 November in Shanghai, October ended within the grace hour:
/// the month it closes is still September (invoiced), not October. At 01:30 it closes
/// October. Meanwhile the lease (three checks long) keeps a second relay out, until it
/// expires.
async fn the_scheduler_closes_a_month_after_the_grace_hour(world: &World) {
    let db = &world.relay.state.db;
    let every = std::time::Duration::from_secs(60);
    let check = |holder: &'static str, when: &'static str| async move {
        let at = when.parse::<jiff::Timestamp>().expect("instant");
        let checked = scheduler::check(db, None, (holder, every), at).await;
        checked.expect("check")
    };
    assert!(check("relay-1", "2026-11-01T00:30:00+08:00").await);
    assert!(
        invoice_of(world, &world.a.id, "2026-10").await.is_none(),
        "within the grace hour"
    );
    assert!(check("relay-1", "2026-11-01T01:30:00+08:00").await);
    for tenant in [&world.a.id, &world.b.id] {
        let closed = invoice_of(world, tenant, "2026-10").await;
        assert!(closed.is_some(), "October closed");
    }
    let second = check("relay-2", "2026-11-01T01:31:00+08:00").await;
    assert!(!second, "the lease is held for three checks");
    let later = check("relay-2", "2026-11-01T01:40:00+08:00").await;
    assert!(later, "an expired lease is taken over");
}

on_both_backends!(reruns_crashes_and_rivals_make_one_invoice_each);
