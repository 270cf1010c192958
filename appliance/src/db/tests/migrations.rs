//! Migrations, generic over `MIGRATIONS`: the fresh schema equals `schema.sql`, every older
//! version upgrades with its rows intact, a newer database is refused untouched, and a
//! migration that fails midway leaves the previous version.
//!
//! Adding migration N needs one line in `SAMPLE_ROWS` (rows for the tables it creates).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;

use super::super::migrations::latest_version;
use super::super::{Database, DbErrorKind, MIGRATIONS, Migration};
use super::raw;

/// For each schema version, rows to insert into the tables it added, so an upgrade from
/// that version can be checked to keep them. One entry per migration.
const SAMPLE_ROWS: &[(u32, &str)] = &[
    (
        1,
        "INSERT INTO cameras (id, name, base_url, username, password, tracks, enabled, created_at_ms)
             VALUES (7, 'gate', 'http://192.0.2.1', 'admin', x'00112233', '[101,201]', 1, 1700000000000),
                    (9, 'lobby', 'http://192.0.2.2', 'viewer', x'445566', '[]', 0, 1700000000001);
         INSERT INTO settings (key, value) VALUES ('box_id', '\"b-1\"'), ('uplink', 'on');",
    ),
    (
        2,
        "INSERT INTO tasks (id, state, priority, from_ms, to_ms, cameras, match_distance,
                        created_at_ms, recordings_total, recordings_done, matches)
         VALUES ('t-1', 'running', 0, 1700000000000, 1700003600000, '[7]', 0.37,
                 1700000000500, 2, 1, 1);
     INSERT INTO task_sources (task_id, camera_id, track, cursor_ms, search_done)
         VALUES ('t-1', 7, 101, 1700000060000, 1);
     INSERT INTO recordings (id, camera_id, track, playback_uri, start_ms, end_ms,
                             indexed_at_ms, first_entry, end_entry, keyframes, faces)
         VALUES (3, 7, 101, 'rtsp://192.0.2.1/a', 1700000000000, 1700000060000,
                 1700000070000, 0, 2, 30, 2),
                (4, 7, 101, 'rtsp://192.0.2.1/b', 1700000060000, 1700000120000,
                 NULL, NULL, NULL, NULL, NULL);
     INSERT INTO task_recordings (task_id, recording_id, seq, state)
         VALUES ('t-1', 3, 1, 'done'), ('t-1', 4, 2, 'pending');
     INSERT INTO matches (task_id, entry_id, recording_id, camera_id, time_ms, distance,
                          box_x, box_y, box_width, box_height, face_index)
         VALUES ('t-1', 1, 3, 7, 1700000012000, 0.25, 10, 20, 100, 120, 0);",
    ),
    (
        3,
        "INSERT INTO index_coverage (camera_id, track, covered_from_ms, covered_to_ms,
                                     recordings_waiting, recordings_indexed, updated_at_ms)
             VALUES (7, 101, 1700000000000, 1700000120000, 1, 1, 1700000130000);
         UPDATE recordings SET index_error = 'video: no keyframe in the recording' WHERE id = 4;",
    ),
    (
        4,
        "UPDATE cameras SET motion_state = '{\"gop\":{}}' WHERE id = 7;
         UPDATE recordings SET keyframes_decoded = 12, keyframes_detected = 3 WHERE id = 3;
         UPDATE tasks SET keyframes_decoded = 12, keyframes_detected = 3 WHERE id = 't-1';",
    ),
    (
        5,
        "UPDATE recordings SET retired_at_ms = 1700000200000 WHERE id = 4;",
    ),
    (
        6,
        "INSERT INTO tasks (id, state, priority, from_ms, to_ms, cameras, match_distance,
                        created_at_ms, has_photo)
         VALUES ('t-2', 'queued', 5, 1700000000000, 1700003600000, '[9]', 0.37,
                 1700000000600, 1);
     INSERT INTO task_photos (task_id, photo) VALUES ('t-2', x'ffd8ffe0');",
    ),
    (
        7,
        "INSERT INTO uplink_identity (id, relay_url, device_id, tenant_id, credential, broker_url,
                                      broker_username, topic_prefix, activated_at_ms)
             VALUES (1, 'https://relay.example', 'd-1', 't-1', x'0011', 'mqtts://broker:8883',
                     'd-1', 'dipper/t-1/d-1', 1700000300000);
         INSERT INTO config_overrides (key, value, set_at_ms)
             VALUES ('uplink.telemetry_seconds', '60', 1700000300001);
         INSERT INTO outbox (kind, topic, payload, created_at_ms)
             VALUES ('telemetry', 'telemetry', '{\"seq\":1}', 1700000300002);
         INSERT INTO remote_searches (search_id, task_id, created_at_ms)
             VALUES ('s-1', 't-1', 1700000300003);",
    ),
    (
        8,
        "INSERT INTO task_embeddings (task_id, n, model, embedding)
             VALUES ('t-1', 0, 'dlib-resnet-v1', x'0000803f'),
                    ('t-1', 1, 'dlib-resnet-v1', x'000080bf');",
    ),
    (
        9,
        "INSERT INTO upload_grants (search_id, match_id, face_url, frame_url, expires_at_ms,
                                    next_attempt_at_ms, received_at_ms)
             VALUES ('s-1', 1, 'https://store.example/f', 'https://store.example/k',
                     1700000900000, 1700000400000, 1700000400000);",
    ),
    (
        10,
        "INSERT INTO admin_password (id, hash, set_at_ms)
             VALUES (1, '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', 1700001000000);
         INSERT INTO sessions (digest, csrf, created_at_ms, last_seen_ms)
             VALUES (x'0102', 'csrf-1', 1700001000000, 1700001000001);
         INSERT INTO login_throttle (id, failures, last_failure_ms) VALUES (1, 3, 1700001000002);",
    ),
    (
        11,
        "INSERT INTO tenant_standing (id, standing, decided_at_ms, received_at_ms)
             VALUES (1, 'suspended', 1700002000000, 1700002000500);",
    ),
    (
        12,
        "UPDATE uplink_identity SET software_key = 'Ab3ZqNw8cV0l3sQ7jYw2bFf5u2P0m7xk9h1e4r6t8yA=' WHERE id = 1;",
    ),
];

/// Columns a migration dropped, with the migration: the upgrade test compares the others
/// (where the values went is checked by a test of that migration).
const DROPPED: &[(u32, &str, &str)] = &[
    (6, "tasks", "photo"),
    (8, "tasks", "model"),
    (8, "tasks", "embedding"),
];

/// The schema of `conn` as (type, name, table, normalised SQL), sorted: what `sqlite_master`
/// says, with comments and layout removed so `schema.sql` may be commented freely.
fn schema_of(conn: &Connection) -> Vec<(String, String, String, String)> {
    let mut statement = conn
        .prepare(
            "SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name",
        )
        .unwrap();
    statement
        .query_map([], |row| {
            let sql: String = row.get(3)?;
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, normalise_sql(&sql)))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Drops `--` comments, collapses whitespace, and removes it around punctuation.
fn normalise_sql(sql: &str) -> String {
    let without_comments: Vec<&str> = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect();
    let collapsed = without_comments
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = String::with_capacity(collapsed.len());
    let chars: Vec<char> = collapsed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let punctuation = |c: char| matches!(c, '(' | ')' | ',' | ';');
        if c == ' '
            && (chars.get(i + 1).is_some_and(|&n| punctuation(n))
                || i.checked_sub(1).is_some_and(|p| punctuation(chars[p])))
        {
            continue;
        }
        out.push(c);
    }
    out
}

/// The schema `schema.sql` describes, applied to an empty database.
fn documented_schema() -> Vec<(String, String, String, String)> {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(include_str!("../schema.sql"))
        .expect("schema.sql applies to an empty database");
    schema_of(&conn)
}

/// Every row of every table of `conn`, each row rendered as text, by table.
fn rows_of(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let rows = rows_of_table(conn, &table, &columns_of(conn, &table));
            (table, rows)
        })
        .collect()
}

fn columns_of(conn: &Connection, table: &str) -> Vec<String> {
    conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .unwrap()
        .query_map([table], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The rows of `table`, only `columns` of them (those that existed before an upgrade).
fn rows_of_table(conn: &Connection, table: &str, columns: &[String]) -> Vec<String> {
    let list = columns
        .iter()
        .map(|c| format!("quote(\"{c}\")"))
        .collect::<Vec<_>>()
        .join(" || ',' || ");
    let mut rows: Vec<String> = conn
        .prepare(&format!("SELECT {list} FROM \"{table}\""))
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    rows
}

fn user_version(conn: &Connection) -> u32 {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[test]
fn migration_versions_are_consecutive_and_have_sample_rows() {
    for (i, migration) in MIGRATIONS.iter().enumerate() {
        assert_eq!(migration.version as usize, i + 1, "{migration:?}");
        assert!(
            SAMPLE_ROWS.iter().any(|(v, _)| *v == migration.version),
            "SAMPLE_ROWS has no rows for migration {} ({}): add a line so the upgrade test \
             checks its tables",
            migration.version,
            migration.name
        );
    }
}

#[test]
fn fresh_schema_matches_schema_sql() {
    let dir = tempfile::tempdir().unwrap();
    drop(super::open(dir.path()));
    let conn = raw(dir.path());
    assert_eq!(user_version(&conn), latest_version(MIGRATIONS));
    let fresh = schema_of(&conn);
    let documented = documented_schema();
    assert!(!documented.is_empty(), "schema.sql creates nothing");
    assert_eq!(
        fresh, documented,
        "\nleft: schema built by the migrations\nright: schema.sql\n"
    );
}

#[test]
fn every_older_version_upgrades_with_its_rows_intact() {
    let latest = latest_version(MIGRATIONS);
    for start in 1..=latest {
        let dir = tempfile::tempdir().unwrap();
        let old = &MIGRATIONS[..start as usize];
        drop(Database::open_with(dir.path(), old).unwrap());
        let before = {
            let conn = raw(dir.path());
            for (_, sql) in SAMPLE_ROWS.iter().filter(|(v, _)| *v <= start) {
                conn.execute_batch(sql).unwrap();
            }
            assert_eq!(user_version(&conn), start);
            // The columns that outlive the upgrade, and the rows as those show them.
            let columns: BTreeMap<String, Vec<String>> = rows_of(&conn)
                .into_keys()
                .map(|table| {
                    let mut columns = columns_of(&conn, &table);
                    columns.retain(|c| {
                        !DROPPED
                            .iter()
                            .any(|&(v, t, d)| v > start && t == table && d == c)
                    });
                    (table, columns)
                })
                .collect();
            let rows: BTreeMap<String, Vec<String>> = columns
                .iter()
                .map(|(table, kept)| (table.clone(), rows_of_table(&conn, table, kept)))
                .collect();
            assert!(rows.values().any(|r| !r.is_empty()), "no sample rows");
            (columns, rows)
        };

        drop(super::open(dir.path()));

        let conn = raw(dir.path());
        assert_eq!(user_version(&conn), latest, "upgrade from {start}");
        let (columns, rows) = before;
        for (table, old_rows) in rows {
            assert_eq!(
                rows_of_table(&conn, &table, &columns[&table]),
                old_rows,
                "rows of {table} after the upgrade from version {start}"
            );
        }
        assert_eq!(
            schema_of(&conn),
            documented_schema(),
            "\nleft: schema upgraded from version {start}\nright: schema.sql\n"
        );
    }
}

/// Every file of `dir` with its bytes.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let bytes = std::fs::read(entry.path()).unwrap();
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

#[test]
fn newer_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(super::open(dir.path()));
    let known = latest_version(MIGRATIONS);
    {
        let conn = raw(dir.path());
        conn.execute_batch(SAMPLE_ROWS[0].1).unwrap();
        conn.pragma_update(None, "user_version", known + 1).unwrap();
    }
    let before = files_of(dir.path());

    let error = Database::open(dir.path()).expect_err("a newer database must be refused");

    assert_eq!(
        *error.kind(),
        DbErrorKind::TooNew {
            found: known + 1,
            known
        }
    );
    let message = error.to_string();
    for needle in [
        format!("version {}", known + 1),
        format!("up to {known}"),
        "upgrade dipper".to_owned(),
    ] {
        assert!(message.contains(&needle), "{needle:?} not in {message:?}");
    }
    assert!(message.contains("box.db"), "no path in {message:?}");
    let after = files_of(dir.path());
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &before {
        assert!(after[name] == *bytes, "{name} changed");
    }
}

#[test]
fn failed_migration_leaves_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    drop(super::open(dir.path()));
    let known = latest_version(MIGRATIONS);
    raw(dir.path()).execute_batch(SAMPLE_ROWS[0].1).unwrap();
    let rows_before = rows_of(&raw(dir.path()));

    let mut broken: Vec<Migration> = MIGRATIONS.to_vec();
    broken.push(Migration {
        version: known + 1,
        name: "broken",
        sql: "CREATE TABLE half_done (x INTEGER);
              INSERT INTO half_done VALUES (1);
              UPDATE settings SET value = 'changed';
              INSERT INTO no_such_table VALUES (1);",
    });
    let error = Database::open_with(dir.path(), &broken).expect_err("the migration fails");
    let message = error.to_string();
    assert!(
        message.contains(&format!("migration {} (broken)", known + 1)),
        "{message:?}"
    );

    let conn = raw(dir.path());
    assert_eq!(user_version(&conn), known);
    assert_eq!(
        rows_of(&conn),
        rows_before,
        "the failed migration left changes"
    );
    drop(conn);
    drop(super::open(dir.path()));
}

#[test]
fn normalise_sql_ignores_comments_and_layout() {
    assert_eq!(
        normalise_sql("CREATE TABLE t (\n  -- the id\n  id INTEGER,\n  x TEXT -- a note\n)"),
        "CREATE TABLE t(id INTEGER,x TEXT)"
    );
    assert_ne!(
        normalise_sql("CREATE TABLE t (id INTEGER)"),
        normalise_sql("CREATE TABLE t (id TEXT)")
    );
}

#[test]
fn file_that_is_not_a_database_is_corrupt_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let garbage =
        b"this is not a SQLite database, but it is long enough to look like one".repeat(100);
    std::fs::write(dir.path().join("box.db"), &garbage).unwrap();
    let error = Database::open(dir.path()).expect_err("garbage is refused");
    assert_eq!(*error.kind(), DbErrorKind::Corrupt, "{error}");
    assert!(error.to_string().contains("box.db"), "{error}");
    assert_eq!(std::fs::read(dir.path().join("box.db")).unwrap(), garbage);
    assert!(!dir.path().join("secret.key").exists());
}

/// A database at `dir` with the first `applied` migrations and then `rows` (SQL), upgraded
/// to the newest version; a raw connection to it.
fn upgraded_from(dir: &Path, applied: usize, rows: &str) -> Connection {
    drop(Database::open_with(dir, &MIGRATIONS[..applied]).unwrap());
    raw(dir).execute_batch(rows).unwrap();
    drop(super::open(dir));
    raw(dir)
}

/// Migration 6 moves each task's photo to `task_photos` and says in `has_photo` whether
/// there is one.
#[test]
fn photos_move_out_of_the_task_rows() {
    let dir = tempfile::tempdir().unwrap();
    let conn = upgraded_from(
        dir.path(),
        5,
        "INSERT INTO tasks (id, state, priority, from_ms, to_ms, cameras, match_distance,
                            photo, created_at_ms)
             VALUES ('with', 'done', 0, 1, 2, '[]', 0.37, x'ffd8ffe000104a46', 3),
                    ('without', 'done', 0, 1, 2, '[]', 0.37, NULL, 4);",
    );
    assert_eq!(
        pairs::<Vec<u8>>(&conn, "SELECT task_id, photo FROM task_photos"),
        [("with".to_owned(), b"\xff\xd8\xff\xe0\x00\x10JF".to_vec())]
    );
    let has_photo = pairs::<bool>(&conn, "SELECT id, has_photo FROM tasks ORDER BY id");
    assert_eq!(
        has_photo,
        [("with".to_owned(), true), ("without".to_owned(), false)]
    );
}

/// Migration 8 moves each task's embedding to `task_embeddings`, as its first; a task
/// without one (its photo not embedded yet) has none.
#[test]
fn embeddings_move_out_of_the_task_rows() {
    let dir = tempfile::tempdir().unwrap();
    let conn = upgraded_from(
        dir.path(),
        7,
        "INSERT INTO tasks (id, state, priority, from_ms, to_ms, cameras, match_distance,
                            model, embedding, created_at_ms)
             VALUES ('given', 'running', 0, 1, 2, '[]', 0.37, 'dlib-resnet-v1',
                     x'0000803f00000000', 3),
                    ('photo', 'queued', 0, 1, 2, '[]', 0.37, NULL, NULL, 4);",
    );
    let moved: Vec<(String, i64, String, Vec<u8>)> = conn
        .prepare("SELECT task_id, n, model, embedding FROM task_embeddings")
        .unwrap()
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        moved,
        [(
            "given".to_owned(),
            0,
            "dlib-resnet-v1".to_owned(),
            b"\x00\x00\x80\x3f\x00\x00\x00\x00".to_vec()
        )]
    );
}

/// The rows of a two-column query: a text and a `T`.
fn pairs<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> Vec<(String, T)> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
