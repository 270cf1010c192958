-- Migration 11: the tenant's billing standing as the relay last decided it (`setStanding`):
-- one row, absent until the relay first says. While it is `suspended` the box refuses the
-- relay's new searches; its local work goes on.

CREATE TABLE tenant_standing (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    standing TEXT NOT NULL CHECK (standing IN ('good', 'suspended')),
    decided_at_ms INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL
);
