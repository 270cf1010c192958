//! The month of metering the billing benchmark bills, written straight into the relay's
//! SQLite schema, and the check of the invoices the run made against totals priced here.

use std::collections::BTreeMap;
use std::path::Path;

use billing::{BillingMonth, Meter, MonthUsage, PricingRule};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rusqlite::{Connection, Statement, Transaction, params};
use uuid::Uuid;

use crate::BoxError;

const HOUR_MS: i64 = 3_600_000;

/// What was written: the hourly rows, and each tenant's expected invoice total.
pub(super) struct Filled {
    pub(super) hourly_rows: u64,
    month: BillingMonth,
    /// By tenant id (text).
    expected: BTreeMap<String, i64>,
}

/// The pricing rule every tenant has: ¥3 a device-day, 80 fen a GB after 1 GB free, 50 fen
/// per 1,000 API calls with half off from the 10,000th, ¥1 a search, a ¥100 minimum.
fn rule(month: BillingMonth) -> Result<PricingRule, BoxError> {
    let json = serde_json::json!({
        "effective_from": month.first_day().to_string(),
        "currency": "CNY",
        "minimum_monthly_minor": 10_000,
        "charges": {
            "device_days": {"unit_price_minor": 300},
            "traffic_bytes": {"unit_price_minor": 80, "free_allowance": 1_000_000_000},
            "api_calls": {"unit_price_minor": 50,
                "tiers": [{"from_quantity": 10_000, "discount_basis_points": 5_000}]},
            "searches": {"unit_price_minor": 100},
        },
    });
    Ok(serde_json::from_value(json)?)
}

fn tenant_id(index: u32) -> String {
    Uuid::from_u128(0xB111_0000_0000_0000_0000_0000_0000_0000 | (u128::from(index) + 1)).to_string()
}

/// One tenant's counters for one UTC hour: (meter, class, quantity), zero ones left out.
fn hour_counts(tenant: u32, boxes: u32, hour_index: i64) -> [(&'static str, &'static str, i64); 4] {
    let spread = i64::from(tenant % 7);
    [
        // Telemetry and events of every box: about 60 KB an hour each.
        (
            "traffic_bytes",
            "mqtt",
            i64::from(boxes) * 60_000 + spread * 1_000,
        ),
        ("api_calls", "read", 40 + i64::from(tenant % 5)),
        ("api_calls", "write", 4),
        ("searches", "", i64::from(hour_index % 24 == 3)),
    ]
}

/// Fills the database at `path` (already migrated) with `tenants` tenants of `boxes` boxes
/// each, metered through `month`.
pub(super) fn fill(
    path: &Path,
    month: BillingMonth,
    tenants: u32,
    boxes: u32,
) -> Result<Filled, BoxError> {
    let zone = TimeZone::get(billing::DEFAULT_TIME_ZONE)?;
    let rule = rule(month)?;
    let mut db = Connection::open(path)?;
    db.pragma_update(None, "synchronous", "OFF")?;
    let tx = db.transaction()?;
    let mut filled = Filled {
        hourly_rows: 0,
        month,
        expected: BTreeMap::new(),
    };
    {
        let mut writer = Writer::new(&tx, month, &zone, &rule, boxes)?;
        for index in 0..tenants {
            let tenant = tenant_id(index);
            let usage = writer.tenant(index, &tenant, &mut filled.hourly_rows)?;
            let draft = billing::price_month(month, &zone, std::slice::from_ref(&rule), &usage)?;
            filled.expected.insert(tenant, draft.total.minor);
        }
    }
    tx.commit()?;
    Ok(filled)
}

/// Writes one tenant after the other: what every tenant shares, and the prepared inserts.
struct Writer<'tx> {
    month: BillingMonth,
    boxes: u32,
    /// The month's first millisecond (every row's creation time).
    start: i64,
    /// Every hour of the month (its first millisecond), with its local date.
    hours: Vec<(i64, Date)>,
    dates: Vec<Date>,
    rule_json: String,
    tenant_row: Statement<'tx>,
    rule_row: Statement<'tx>,
    seen_row: Statement<'tx>,
    hour_row: Statement<'tx>,
    day_row: Statement<'tx>,
}

impl<'tx> Writer<'tx> {
    fn new(
        tx: &'tx Transaction<'_>,
        month: BillingMonth,
        zone: &TimeZone,
        rule: &PricingRule,
        boxes: u32,
    ) -> Result<Writer<'tx>, BoxError> {
        let start = month.start(zone)?.as_millisecond();
        let end = month.end(zone)?.as_millisecond();
        let hours: Vec<(i64, Date)> = (0..)
            .map(|i| start + i * HOUR_MS)
            .take_while(|hour| *hour < end)
            .map(|hour| {
                Ok((
                    hour,
                    billing::local_date_of_hour(jiff::Timestamp::from_millisecond(hour)?, zone),
                ))
            })
            .collect::<Result<_, BoxError>>()?;
        Ok(Writer {
            month,
            boxes,
            start,
            hours,
            dates: month.dates().collect(),
            rule_json: serde_json::to_string(rule)?,
            tenant_row: tx.prepare(
                "INSERT INTO tenants (id, name, status, created_at, updated_at) \
                 VALUES (?1, ?2, 'enabled', ?3, ?3)",
            )?,
            rule_row: tx.prepare(
                "INSERT INTO pricing_rules (id, tenant_id, effective_from, rule, created_by, \
                 created_at) VALUES (?1, ?2, ?3, ?4, 'bench', ?5)",
            )?,
            seen_row: tx.prepare(
                "INSERT INTO device_days (tenant_id, device_id, local_date) VALUES (?1, ?2, ?3)",
            )?,
            hour_row: tx.prepare(
                "INSERT INTO meter_hours (tenant_id, hour_start, meter, class, quantity, pending) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?,
            day_row: tx.prepare(
                "INSERT INTO meter_days (tenant_id, local_date, meter, class, quantity) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
        })
    }

    /// Writes tenant number `index` (id `tenant`) with its pricing rule, its boxes and its
    /// metered hours, counting the hourly rows in `hourly_rows`: its month's usage.
    fn tenant(
        &mut self,
        index: u32,
        tenant: &str,
        hourly_rows: &mut u64,
    ) -> Result<MonthUsage, BoxError> {
        self.tenant_row
            .execute(params![tenant, format!("tenant {index}"), self.start])?;
        let rule_id = Uuid::new_v4().to_string();
        let from = self.month.first_day().to_string();
        self.rule_row
            .execute(params![rule_id, tenant, from, self.rule_json, self.start])?;
        let mut usage = MonthUsage::new();
        self.devices(index, tenant, &mut usage)?;
        *hourly_rows += self.meters(index, tenant, &mut usage)?;
        Ok(usage)
    }

    /// The tenant's boxes, each seen every day of the month.
    fn devices(
        &mut self,
        index: u32,
        tenant: &str,
        usage: &mut MonthUsage,
    ) -> Result<(), BoxError> {
        for b in 0..self.boxes {
            let device = Uuid::from_u128((u128::from(index) << 32) | u128::from(b)).to_string();
            for date in &self.dates {
                self.seen_row
                    .execute(params![tenant, device, date.to_string()])?;
            }
        }
        for date in &self.dates {
            usage.add(*date, Meter::DeviceDays, u64::from(self.boxes))?;
        }
        Ok(())
    }

    /// The tenant's counters of every hour, rolled up into days but for the month's last
    /// two hours (still pending): how many hourly rows.
    fn meters(
        &mut self,
        index: u32,
        tenant: &str,
        usage: &mut MonthUsage,
    ) -> Result<u64, BoxError> {
        let mut hourly_rows = 0;
        let rolled_until = self.hours.len().saturating_sub(2);
        let mut days: BTreeMap<(Date, &str, &str), i64> = BTreeMap::new();
        for (i, (hour, date)) in self.hours.iter().enumerate() {
            let rolled = i < rolled_until;
            for (meter, class, quantity) in hour_counts(index, self.boxes, i as i64) {
                if quantity == 0 {
                    continue;
                }
                let pending = if rolled { 0 } else { quantity };
                self.hour_row
                    .execute(params![tenant, hour, meter, class, quantity, pending])?;
                hourly_rows += 1;
                if rolled {
                    *days.entry((*date, meter, class)).or_default() += quantity;
                }
                usage.add(*date, meter.parse::<Meter>()?, u64::try_from(quantity)?)?;
            }
        }
        for ((date, meter, class), quantity) in days {
            self.day_row
                .execute(params![tenant, date.to_string(), meter, class, quantity])?;
        }
        Ok(hourly_rows)
    }
}

/// The invoices of the month: how many, and how many have the expected total, equal to the
/// sum of their lines.
pub(super) fn check(path: &Path, filled: &Filled) -> Result<(u64, u64), BoxError> {
    let db = Connection::open(path)?;
    let mut query = db.prepare(
        "SELECT i.tenant_id, i.total_minor, COALESCE(SUM(l.amount_minor), 0) FROM invoices i \
         LEFT JOIN invoice_lines l ON l.invoice_id = i.id WHERE i.period = ?1 \
         GROUP BY i.id, i.tenant_id, i.total_minor",
    )?;
    let rows = query.query_map(params![filled.month.to_string()], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })?;
    let (mut invoices, mut checked) = (0, 0);
    for row in rows {
        let (tenant, total, lines) = row?;
        invoices += 1;
        if total == lines && filled.expected.get(&tenant) == Some(&total) {
            checked += 1;
        }
    }
    Ok((invoices, checked))
}
