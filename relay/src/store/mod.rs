//! The relay's SQL, one file per resource. Every function takes the caller's transaction
//! (opened by [`crate::db::Db::begin`], which sets the tenant for row-level security on
//! PostgreSQL) and, for tenant data, the tenant id it filters on; handlers check roles and
//! write the audit record in the same transaction.

pub mod devices;
pub mod logins;
pub mod refresh_tokens;
