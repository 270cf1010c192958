-- Migration 10: the local page's access. One administrator password (Argon2id), the signed-in
-- sessions (their cookie's SHA-256 only) and the failed sign-ins that slow guessing down.

CREATE TABLE admin_password (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash TEXT NOT NULL,
    set_at_ms INTEGER NOT NULL
);

CREATE TABLE sessions (
    digest BLOB PRIMARY KEY,
    csrf TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);

CREATE TABLE login_throttle (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    failures INTEGER NOT NULL,
    last_failure_ms INTEGER NOT NULL
);
