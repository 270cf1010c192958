--@postgres
-- Dunning and notifications (PostgreSQL; the twin is migrations/sqlite/0010_dunning.sql).
--@sqlite
-- Dunning and notifications (SQLite; the twin is migrations/postgres/0010_dunning.sql).
--@end
-- See docs/design/0080-billing.md, "Dunning" and "Notifications".
--
-- How long a tenant may leave an invoice unpaid: `overdue` once an invoice is unpaid
-- `overdue_after_days` after its due date (a warning), `suspended` `suspend_after_days` after
-- that. `box_offline_minutes`: a box offline longer than this is notified (0: never).
ALTER TABLE tenant_billing ADD COLUMN overdue_after_days INTEGER NOT NULL DEFAULT 7
    CHECK (overdue_after_days BETWEEN 0 AND 365);
ALTER TABLE tenant_billing ADD COLUMN suspend_after_days INTEGER NOT NULL DEFAULT 14
    CHECK (suspend_after_days BETWEEN 0 AND 365);
ALTER TABLE tenant_billing ADD COLUMN box_offline_minutes INTEGER NOT NULL DEFAULT 60
    CHECK (box_offline_minutes BETWEEN 0 AND 10080);

-- A tenant's standing; a tenant without a row is in good standing. Moved forward (good ->
-- overdue -> suspended) only by the dunning check, back to good only when nothing of the
-- tenant is overdue any more (a payment, a credit note, a void), in that change's
-- transaction.
CREATE TABLE tenant_standing (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    standing TEXT NOT NULL CHECK (standing IN ('good', 'overdue', 'suspended')),
    since BIGINT NOT NULL,
    -- Why, as the audit log and the notifications say it.
    reason TEXT NOT NULL
);
CREATE INDEX tenant_standing_standing ON tenant_standing (standing);

-- A tenant's invoices by status and due date: the dunning check's per-tenant reads (without
-- it the planner walks `invoices_status`, every tenant's issued invoices, for each tenant).
CREATE INDEX invoices_tenant_status ON invoices (tenant_id, status, due_at);

-- Where a tenant's notices go: an e-mail address, a Feishu bot's webhook (signed when
-- `secret` is set) or a phone number for the SMS hook; in Chinese or English; for the events
-- listed in `events` (`,invoice.issued,payment.received,` with leading and trailing commas).
CREATE TABLE notification_channels (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('email', 'feishu', 'sms')),
    target TEXT NOT NULL,
    secret TEXT,
    language TEXT NOT NULL CHECK (language IN ('zh', 'en')),
    events TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX notification_channels_tenant ON notification_channels (tenant_id, created_at);

-- The notifications outbox: one row per channel and event, written in the transaction of the
-- change it reports (so a notice is never lost, nor made twice: the unique key), delivered
-- by every relay instance's sender, which claims a row (`claimed_until`) before sending it.
-- `facts` is the event's JSON; the text is made from it in the channel's language when sent.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    -- What makes the event one: `invoice.issued/<invoice id>`.
    event_key TEXT NOT NULL,
    facts TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    UNIQUE (channel_id, event_key)
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_tenant ON notifications (tenant_id, created_at);

-- Why an audited change was made, when the action alone does not say (a tenant suspended
-- for which invoice).
ALTER TABLE audit_log ADD COLUMN detail TEXT;
--@postgres

--@tenant_wall tenant_standing

--@tenant_wall notification_channels

--@tenant_wall notifications
--@end
