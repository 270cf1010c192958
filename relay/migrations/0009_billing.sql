--@postgres
-- Billing: meters, pricing rules and invoices (PostgreSQL; the SQLite twin is migrations/sqlite/0009_billing.sql).
--@sqlite
-- Billing: meters, pricing rules and invoices (SQLite; the twin is migrations/postgres/0009_billing.sql).
--@end
-- See docs/design/0080-billing.md.
--
-- A tenant's billing settings; a tenant without a row has the defaults.
CREATE TABLE tenant_billing (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    -- The IANA zone its months, days and invoices are in.
    time_zone TEXT NOT NULL DEFAULT 'Asia/Shanghai',
    -- Which days of a box bill: those it was seen online ('seen_online'), or every day from
    -- its registration to its decommissioning ('registered').
    device_day_basis TEXT NOT NULL DEFAULT 'seen_online'
        CHECK (device_day_basis IN ('seen_online', 'registered')),
    -- Days after its issue an invoice is due.
    payment_days INTEGER NOT NULL DEFAULT 15 CHECK (payment_days BETWEEN 0 AND 365),
    updated_at BIGINT NOT NULL
);

-- Counters per tenant, UTC hour, meter and class (the API's route class, the traffic's kind;
-- '' when the meter has none). `quantity` is the hour's count; `pending` the part of it not
-- yet added to meter_days, so an addition that lands after its hour was rolled up is rolled
-- up the next time, never lost and never counted twice. A rollup takes the pending part in
-- one UPDATE (`last_rolled = pending, pending = 0 ... RETURNING last_rolled`), which two
-- relays rolling up at once cannot both take.
CREATE TABLE meter_hours (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hour_start BIGINT NOT NULL,
    meter TEXT NOT NULL,
    class TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    pending BIGINT NOT NULL,
    last_rolled BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, hour_start, meter, class)
);
CREATE INDEX meter_hours_pending ON meter_hours (pending, hour_start);

-- The hourly counters added up per local date of the tenant's zone.
CREATE TABLE meter_days (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- YYYY-MM-DD in the tenant's zone.
    local_date TEXT NOT NULL,
    meter TEXT NOT NULL,
    class TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, local_date, meter, class)
);

-- The Idempotency-Key of a counted API call, so that a retried request counts once; kept a
-- day.
CREATE TABLE meter_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
);
CREATE INDEX meter_keys_expires ON meter_keys (expires_at);

-- The local dates (tenant's zone) on which a box was seen online. No foreign key to the
-- device: a billed day outlives the device's row.
CREATE TABLE device_days (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    local_date TEXT NOT NULL,
    PRIMARY KEY (tenant_id, device_id, local_date)
);
CREATE INDEX device_days_date ON device_days (tenant_id, local_date);
--@postgres

-- When a box was decommissioned (for the 'registered' basis); NULL while it is not.
ALTER TABLE devices ADD COLUMN decommissioned_at BIGINT;
UPDATE devices SET decommissioned_at = updated_at WHERE status = 'decommissioned';
--@end

-- A tenant's pricing rule versions, each a `billing::PricingRule` as JSON, in effect from its
-- local date until the next version's (docs/design/0080-billing.md, "Rules and invoices").
CREATE TABLE pricing_rules (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- YYYY-MM-DD in the tenant's zone.
    effective_from TEXT NOT NULL,
    rule TEXT NOT NULL,
    -- Who set it, as the audit log names them.
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, effective_from)
);

-- One invoice per tenant and month, never a second (the unique key): the monthly run made
-- again, or after a crash, finds the one it made. An issued invoice's amounts never change
-- (a correction is a credit note). No foreign key to the tenant: billing records outlive it.
CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    -- YYYY-MM, a month of the tenant's zone.
    period TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE,
    currency TEXT NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('issued', 'paid', 'overdue', 'void')),
    time_zone TEXT NOT NULL,
    -- The month's first and end instants in that zone (end excluded), Unix ms.
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    -- What payments and credit notes took off the total; the balance is
    -- total - credited - paid, never below 0 (checked by the updates that move them).
    paid_minor BIGINT NOT NULL DEFAULT 0,
    credited_minor BIGINT NOT NULL DEFAULT 0,
    -- When it was paid in full, voided or last changed state.
    status_changed_at BIGINT NOT NULL,
    UNIQUE (tenant_id, period)
);
CREATE INDEX invoices_status ON invoices (status, due_at);

-- An invoice's lines as `billing::price_month` made them, in order.
CREATE TABLE invoice_lines (
    invoice_id TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    -- Stable across runs: `{meter}/{version date}/{band}`, or `minimum`.
    line_key TEXT NOT NULL,
    description TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    units_per_price BIGINT NOT NULL,
    discount_basis_points INTEGER NOT NULL,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- Payments recorded by platform admins (no payment gateway): an amount against an invoice,
-- the payer's reference and the date paid. A reference is unique per invoice, so a payment
-- entered twice is refused.
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    reference TEXT NOT NULL,
    -- YYYY-MM-DD.
    paid_on TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (invoice_id, reference)
);
CREATE INDEX payments_tenant_created ON payments (tenant_id, created_at);

-- Corrections of an issued invoice, which is never edited: an amount credited and why.
CREATE TABLE credit_notes (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    number TEXT NOT NULL UNIQUE,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, created_at);

-- What happened that a later event sink (Kafka, NATS) may forward: `billing.generated`, a
-- tenant suspended or restored. Written in the transaction of the change.
CREATE TABLE relay_events (
    id TEXT PRIMARY KEY,
    -- NULL for platform-wide events; no foreign key, so the record outlives the tenant.
    tenant_id TEXT,
    kind TEXT NOT NULL,
    -- JSON.
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX relay_events_created ON relay_events (created_at);

-- Which relay instance runs a periodic job (`billing`: the monthly run), until when; another
-- instance takes the job over only once the lease expired.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

--@postgres
--@tenant_wall tenant_billing

--@tenant_wall meter_hours

--@tenant_wall meter_days

--@tenant_wall meter_keys

--@tenant_wall device_days

--@tenant_wall pricing_rules

--@tenant_wall invoices

--@tenant_wall invoice_lines

--@tenant_wall relay_events

--@platform_only job_leases

--@tenant_wall payments

--@tenant_wall credit_notes
--@sqlite
-- When a box was decommissioned (for the 'registered' basis); NULL while it is not.
ALTER TABLE devices ADD COLUMN decommissioned_at BIGINT;
UPDATE devices SET decommissioned_at = updated_at WHERE status = 'decommissioned';
--@end
