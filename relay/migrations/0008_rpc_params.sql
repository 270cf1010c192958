--@postgres
-- An RPC's params stored apart (PostgreSQL; the twin is migrations/sqlite/0008_rpc_params.sql).
--@sqlite
-- An RPC's params stored apart (SQLite; the twin is migrations/postgres/0008_rpc_params.sql).
--@end
-- See docs/design/0062-remote-search.md, "Acknowledgement".
--
-- A search sends every box in its scope the same createSearch, whose params carry the
-- person's embeddings (kilobytes each): they are stored once for all its RPCs, and each
-- change of an RPC's state rewrites only its own small row (SQLite rewrites a whole row,
-- overflow pages included, on every UPDATE).
CREATE TABLE rpc_params (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The request's params (JSON).
    params TEXT NOT NULL
);
--@postgres
-- The migration reads every tenant's RPCs, as the relay's own work does.
SELECT set_config('dipper.platform', 'on', true);
--@end
INSERT INTO rpc_params (id, tenant_id, params) SELECT id, tenant_id, params FROM device_rpcs;
--@sqlite
-- Nullable only because SQLite adds a column with a foreign key only with a NULL default:
-- every row has its params (set below, and by the relay for every new RPC).
--@end
ALTER TABLE device_rpcs ADD COLUMN params_id TEXT REFERENCES rpc_params (id);
UPDATE device_rpcs SET params_id = id;
--@postgres
ALTER TABLE device_rpcs ALTER COLUMN params_id SET NOT NULL;
--@end
ALTER TABLE device_rpcs DROP COLUMN params;
CREATE INDEX device_rpcs_params ON device_rpcs (params_id);
--@postgres

--@tenant_wall rpc_params
--@end
