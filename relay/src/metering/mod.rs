//! Billing's meters on the relay (docs/design/0080-billing.md, "Meters on the relay"):
//! what each tenant used, counted as it happens into hourly counters (`store::meters`), then
//! rolled up into days of the tenant's zone.
//!
//! The uplink and the search route add to the counters in the transaction of what they count
//! (a replayed message or a retried search counts nothing, since it changes nothing); what
//! boxes report of their own work (footage searched, snapshot bytes) is bounded
//! ([`reported`]). API
//! calls are the exception: one write per request would double the cost of every read, so
//! [`Meters`] sums them in memory by tenant, UTC hour and route class and writes the sums
//! every [`FLUSH_EVERY`]; a call carrying an `Idempotency-Key` counts once per key and tenant
//! for a day. A flush that fails keeps its sums for the next; a crash loses at most one
//! interval of API calls and never counts one twice.

pub mod calls;
pub mod reported;
pub mod rollup;
pub mod usage;
pub mod zones;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use uuid::Uuid;

use crate::db::{Db, DbError, Mode, Scope, Tx, now_ms};
use crate::store::meters as store;

pub use calls::CallClass;

/// How often summed API calls are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// How often finished hours are rolled up into days.
pub const ROLL_UP_EVERY: Duration = Duration::from_secs(300);
/// How long an API call's Idempotency-Key is kept.
const KEY_KEPT_MS: i64 = 24 * 3_600_000;

/// The meter names as stored (`billing::Meter::name`).
pub const API_CALLS: &str = "api_calls";
pub const TRAFFIC_BYTES: &str = "traffic_bytes";
pub const SEARCHES: &str = "searches";
/// Stored in camera-seconds (`billing` bills hours).
pub const CAMERA_HOURS: &str = "camera_hours";

/// The relay's API-call meter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Meters {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    calls: Mutex<Calls>,
    /// Held through a flush, so that a flush returns only once every call counted before it
    /// was written (or kept after a failure), whoever else is flushing.
    flushing: tokio::sync::Mutex<()>,
}

/// API calls not yet written.
#[derive(Debug, Default)]
struct Calls {
    /// Calls without a key, by (tenant, hour start, class).
    counts: HashMap<(Uuid, i64, CallClass), i64>,
    /// Calls with a key, each counted only if its key is new.
    keyed: Vec<Keyed>,
}

#[derive(Debug)]
struct Keyed {
    tenant: Uuid,
    at: i64,
    class: CallClass,
    key: String,
}

impl Calls {
    fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.keyed.is_empty()
    }

    /// Puts back what a failed flush took.
    fn merge(&mut self, other: Calls) {
        for (key, count) in other.counts {
            *self.counts.entry(key).or_default() += count;
        }
        self.keyed.extend(other.keyed);
    }
}

impl Meters {
    pub fn new(db: Db) -> Self {
        Meters {
            inner: Arc::new(Inner {
                db,
                calls: Mutex::new(Calls::default()),
                flushing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Counts one API call of `tenant` at `at` (ms), once per `idempotency_key` if it has
    /// one.
    pub fn call(&self, tenant: Uuid, class: CallClass, idempotency_key: Option<String>, at: i64) {
        let mut calls = self.lock();
        match idempotency_key {
            Some(key) => calls.keyed.push(Keyed {
                tenant,
                at,
                class,
                key,
            }),
            None => {
                *calls
                    .counts
                    .entry((tenant, zones::hour_start(at), class))
                    .or_default() += 1;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.inner
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the calls counted so far, in one transaction; on failure they are kept for the
    /// next flush.
    pub async fn flush(&self) -> Result<(), DbError> {
        let _flushing = self.inner.flushing.lock().await;
        let taken = std::mem::take(&mut *self.lock());
        if taken.is_empty() {
            return Ok(());
        }
        match self.write(&taken).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.lock().merge(taken);
                Err(error)
            }
        }
    }

    async fn write(&self, calls: &Calls) -> Result<(), DbError> {
        let now = now_ms();
        let mut tx = self.inner.db.begin(Scope::Platform, Mode::Write).await?;
        for (&(tenant, hour, class), &count) in &calls.counts {
            store::add(&mut tx, tenant, hour, (API_CALLS, class.as_str()), count).await?;
        }
        for keyed in &calls.keyed {
            let expires = keyed.at.saturating_add(KEY_KEPT_MS);
            if store::claim_key(&mut tx, keyed.tenant, &keyed.key, (now, expires)).await? {
                let hour = zones::hour_start(keyed.at);
                let meter = (API_CALLS, keyed.class.as_str());
                store::add(&mut tx, keyed.tenant, hour, meter, 1).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes the API calls every [`FLUSH_EVERY`] and rolls finished hours up into days every
    /// [`ROLL_UP_EVERY`], until dropped; a last flush when `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        // The first rollup one period after the start, not at once.
        let first = tokio::time::Instant::now() + ROLL_UP_EVERY;
        let mut roll_up = tokio::time::interval_at(first, ROLL_UP_EVERY);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = flush.tick() => {
                    if let Err(error) = self.flush().await {
                        tracing::warn!(%error, "could not write the API calls counted; kept for the next try");
                    }
                }
                _ = roll_up.tick() => {
                    if let Err(error) = rollup::roll_up(&self.inner.db, now_ms()).await {
                        tracing::warn!(%error, "could not roll the meters up into days");
                    }
                }
                () = &mut stop => break,
            }
        }
        if let Err(error) = self.flush().await {
            tracing::warn!(%error, "could not write the last API calls counted");
        }
    }
}

/// Counts what a box's message applied now says of its tenant's use, in the transaction
/// applying it: `bytes` of uplink traffic of `class` (`mqtt` for outbox messages, `rpc` for
/// answers to RPCs; none for presence), and the box seen on the tenant's local date. Called
/// only for a message applied for the first time, so a replay counts nothing.
pub async fn box_message(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    traffic: Option<(&str, usize)>,
    now: i64,
) -> Result<(), DbError> {
    if let Some((class, bytes)) = traffic {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let hour = zones::hour_start(now);
        store::add(tx, tenant, hour, (TRAFFIC_BYTES, class), bytes).await?;
    }
    let settings = store::settings(tx, tenant).await?;
    let zone = zones::zone_or_default(&settings.time_zone);
    let date = zones::local_date(now, &zone).to_string();
    store::seen(tx, (tenant, device), &date).await?;
    Ok(())
}

/// Counts one search started by `tenant`, in the transaction storing it.
pub async fn search_started(tx: &mut Tx, tenant: Uuid, now: i64) -> Result<(), DbError> {
    store::add(tx, tenant, zones::hour_start(now), (SEARCHES, ""), 1).await
}
