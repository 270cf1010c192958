--@postgres
-- The face library (PostgreSQL; the twin is migrations/sqlite/0006_face_library.sql).
--@sqlite
-- The face library (SQLite; the twin is migrations/postgres/0006_face_library.sql).
--@end
-- See docs/design/0061-face-library.md.
--
-- A tenant's people and their enrolled photos. A photo is kept as its face's embedding
-- (with the model that made it, as base64 of little-endian f32, the wire's form) and as the
-- photo itself in the object store; a search looks for every photo of a person and the best
-- distance counts.
CREATE TABLE people (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    -- A JSON array of strings.
    labels TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX people_tenant_name ON people (tenant_id, name);

CREATE TABLE face_photos (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    -- The embedding model's registry id, and the vector.
    model TEXT NOT NULL,
    embedding TEXT NOT NULL,
    -- The photo in the object store: its key, content type and size in bytes.
    object_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    -- The face picked in the upright photo: [x, y, width, height] in pixels (JSON), the
    -- detector's score.
    face_box TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX face_photos_person ON face_photos (person_id, created_at);
CREATE INDEX face_photos_tenant ON face_photos (tenant_id);
--@postgres

--@tenant_wall people

--@tenant_wall face_photos
--@end
