//! The SQLite and PostgreSQL migrations describe one schema: the same numbered steps, and,
//! once applied, the same tables, columns and indexes (with their columns in order). Types
//! and the PostgreSQL-only parts (row-level security policies, grants) differ by design; see
//! docs/design/0030-relay-store-and-migrations.md.

use std::collections::BTreeSet;

use relay::db::{Backend as DbBackend, Db};
use sqlx::Row as _;

use crate::harness::{Backend, TestDb};

const SQLITE_COLUMNS: &str = "SELECT m.name AS t, p.name AS c FROM sqlite_master m \
     JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'";
const SQLITE_INDEXES: &str = "SELECT m.name AS i, m.tbl_name AS t, \
     COALESCE(ii.name, '<expression>') AS c FROM sqlite_master m \
     JOIN pragma_index_info(m.name) ii WHERE m.type = 'index' AND m.sql IS NOT NULL \
     ORDER BY m.name, ii.seqno";
const POSTGRES_COLUMNS: &str = "SELECT table_name::text AS t, column_name::text AS c \
     FROM information_schema.columns WHERE table_schema = 'public'";
const POSTGRES_INDEXES: &str = "SELECT i.relname::text AS i, t.relname::text AS t, \
     COALESCE(a.attname::text, '<expression>') AS c \
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
     JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
     CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) \
     LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
     WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
         WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u', 'x')) \
     ORDER BY i.relname, k.ord";

/// `table.column` for every column, and `index on table (columns)` for every index made by
/// `CREATE INDEX` (not those behind primary keys and unique constraints, which each engine
/// names its own way).
async fn schema(db: &Db) -> BTreeSet<String> {
    let (columns, indexes) = match db.backend() {
        DbBackend::Sqlite => (SQLITE_COLUMNS, SQLITE_INDEXES),
        DbBackend::Postgres => (POSTGRES_COLUMNS, POSTGRES_INDEXES),
    };
    let mut described = BTreeSet::new();
    for row in sqlx::query(columns)
        .fetch_all(db.pool())
        .await
        .expect("columns")
    {
        let table: String = row.try_get("t").expect("table");
        let column: String = row.try_get("c").expect("column");
        described.insert(format!("{table}.{column}"));
    }
    let mut current: Option<(String, String, Vec<String>)> = None;
    let rows = sqlx::query(indexes)
        .fetch_all(db.pool())
        .await
        .expect("indexes");
    for row in rows {
        let index: String = row.try_get("i").expect("index");
        let table: String = row.try_get("t").expect("table");
        let column: String = row.try_get("c").expect("column");
        match &mut current {
            Some((name, _, columns)) if *name == index => columns.push(column),
            _ => {
                if let Some((name, table, columns)) = current.take() {
                    described.insert(format!("{name} on {table} ({})", columns.join(", ")));
                }
                current = Some((index, table, vec![column]));
            }
        }
    }
    if let Some((name, table, columns)) = current {
        described.insert(format!("{name} on {table} ({})", columns.join(", ")));
    }
    described
}

/// Each step's version and description as the engine applies it.
fn steps(backend: DbBackend) -> Vec<(i64, String)> {
    relay::db::migrator(backend)
        .expect("migrations")
        .iter()
        .map(|step| (step.version, step.description.to_string()))
        .collect()
}

#[test]
fn both_engines_have_the_same_steps() {
    let sqlite = steps(DbBackend::Sqlite);
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, steps(DbBackend::Postgres));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_migrate_to_the_same_schema() {
    let sqlite_db = TestDb::new(Backend::Sqlite).await;
    let postgres_db = TestDb::new(Backend::Postgres).await;
    let sqlite = Db::connect_and_migrate(&sqlite_db.config)
        .await
        .expect("sqlite");
    let postgres = Db::connect_and_migrate(&postgres_db.config)
        .await
        .expect("postgres");
    let (on_sqlite, on_postgres) = (schema(&sqlite).await, schema(&postgres).await);
    assert!(on_sqlite.iter().any(|d| d == "devices.credential_hash"));
    assert!(on_sqlite.iter().any(|d| d.contains(" on devices (")));
    let only_sqlite: Vec<_> = on_sqlite.difference(&on_postgres).collect();
    let only_postgres: Vec<_> = on_postgres.difference(&on_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the migrations disagree: only on SQLite {only_sqlite:#?}, only on PostgreSQL \
         {only_postgres:#?}"
    );
    sqlite.close().await;
    postgres.close().await;
}
