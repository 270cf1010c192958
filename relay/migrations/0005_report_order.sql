--@postgres
-- The order of a box's reports (PostgreSQL; the twin is migrations/sqlite/0005_report_order.sql).
--@sqlite
-- The order of a box's reports (SQLite; the twin is migrations/postgres/0005_report_order.sql).
--@end
-- See docs/design/0051-relay-uplink-and-rpc.md.
--
-- The outbox sequence of the telemetry sample and the client attributes kept on a device's
-- row: an older one (two relays sharing a box's messages, or a replay) never replaces a
-- newer one.
ALTER TABLE devices ADD COLUMN telemetry_seq BIGINT;
ALTER TABLE devices ADD COLUMN client_attributes_seq BIGINT;
