-- Migration 9: snapshot uploads. The relay grants presigned PUT URLs for a match's face crop
-- and frame on `{prefix}/uploads`; the box keeps each grant until both are uploaded (or it
-- expires, is refused, or the files are gone), counted against the outbox's quota.

CREATE TABLE upload_grants (
    search_id TEXT NOT NULL,
    match_id INTEGER NOT NULL,
    face_url TEXT NOT NULL,
    frame_url TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    face_uploaded INTEGER NOT NULL DEFAULT 0,
    frame_uploaded INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    last_error TEXT,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (search_id, match_id)
);
CREATE INDEX upload_grants_by_next_attempt ON upload_grants (next_attempt_at_ms);

ALTER TABLE outbox_usage ADD COLUMN grants INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox_usage ADD COLUMN grant_bytes INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER upload_grants_usage_insert AFTER INSERT ON upload_grants BEGIN
    UPDATE outbox_usage SET grants = grants + 1,
        grant_bytes = grant_bytes + length(NEW.face_url) + length(NEW.frame_url) WHERE id = 1;
END;
CREATE TRIGGER upload_grants_usage_update AFTER UPDATE OF face_url, frame_url ON upload_grants BEGIN
    UPDATE outbox_usage SET grant_bytes = grant_bytes - length(OLD.face_url) - length(OLD.frame_url)
        + length(NEW.face_url) + length(NEW.frame_url) WHERE id = 1;
END;
CREATE TRIGGER upload_grants_usage_delete AFTER DELETE ON upload_grants BEGIN
    UPDATE outbox_usage SET grants = grants - 1,
        grant_bytes = grant_bytes - length(OLD.face_url) - length(OLD.frame_url) WHERE id = 1;
END;
