-- Migration 1: cameras and settings.
-- Runs inside one transaction; `PRAGMA user_version` is set to 1 by the runner.

CREATE TABLE cameras (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    base_url TEXT NOT NULL,
    username TEXT NOT NULL,
    password BLOB NOT NULL,
    tracks TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
