//! The administrator password: an Argon2id PHC string in `admin_password`, hashed and
//! checked on the blocking pool so a hash never stalls the runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rusqlite::{Connection, OptionalExtension};

use super::AccessError;
use crate::db::DbError;

/// Argon2id with OWASP's first recommended cost: 19 MiB, 2 passes, 1 lane (about 40 ms on
/// the box's cores; one sign-in at a time is throttled anyway).
#[derive(Debug, Clone)]
pub(crate) struct PasswordHasher {
    params: Params,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher {
            params: Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"),
        }
    }
}

impl PasswordHasher {
    /// Hashes `password` into a PHC string with a fresh salt.
    pub(crate) async fn hash(&self, password: String) -> Result<String, AccessError> {
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| AccessError::Hash(e.to_string()))
        })
        .await
        .map_err(|e| AccessError::Hash(e.to_string()))?
    }

    /// Whether `password` matches the stored `hash` (its own parameters are used, so an
    /// older cost still verifies).
    pub(crate) async fn verify(&self, password: String, hash: String) -> Result<bool, AccessError> {
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| AccessError::Hash(e.to_string()))?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|e| AccessError::Hash(e.to_string()))?
    }
}

pub(super) fn stored_hash(conn: &Connection) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row("SELECT hash FROM admin_password WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?)
}

pub(super) fn store(conn: &Connection, hash: &str, now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO admin_password (id, hash, set_at_ms) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, set_at_ms = excluded.set_at_ms",
        rusqlite::params![hash, now_ms],
    )?;
    Ok(())
}

pub(super) fn clear(conn: &Connection) -> Result<(), DbError> {
    conn.execute("DELETE FROM admin_password", [])?;
    Ok(())
}
