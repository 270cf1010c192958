//! Who may use the box's local API and page: one administrator password set at the first
//! visit (there is no default), sessions in an HttpOnly cookie with a CSRF token for every
//! changing request, sign-in throttling that never locks out for good, and a local token
//! for the CLI (root on the box).
//!
//! [`Access`] holds the rules; the API's gate ([`crate::api`]) asks it about each request.
//! Everything is kept in the database (the password's Argon2id hash, each session's SHA-256,
//! the failure count), so `dipper admin reset-password` works on a running box and a
//! restart changes nothing. See `docs/design/0070-local-page.md`.

mod password;
mod sessions;
mod strength;
mod throttle;
mod token;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub(crate) use password::PasswordHasher;
pub(crate) use sessions::{NewSession, Session};
pub(crate) use strength::check_strength;
pub(crate) use throttle::Throttle;
#[cfg(test)]
pub(crate) use token::TOKEN_FILE;
pub(crate) use token::{load_or_create_token, read_token};

use crate::db::{Database, DbError};

/// The cookie holding a session.
pub(crate) const SESSION_COOKIE: &str = "dipper_session";
/// The header carrying a session's CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// Why a sign-in or a password change did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccessError {
    #[error("the administrator password is already set")]
    AlreadySet,
    #[error("no administrator password is set yet")]
    NotSet,
    #[error("{0}")]
    Weak(String),
    #[error("wrong password")]
    WrongPassword,
    #[error("too many failed sign-ins: try again in {retry_after_seconds} s")]
    Throttled { retry_after_seconds: u64 },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The local API's access rules; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    /// The CLI's token (`<data_dir>/local-token`).
    token: String,
    hasher: PasswordHasher,
    throttle: Throttle,
}

/// Who made a request that may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The local token: root on the box (the CLI).
    Local,
    /// A signed-in session.
    Session(Session),
}

/// The session cookie's `Max-Age`: a session's longest life.
pub(crate) fn sessions_max_age_seconds() -> u64 {
    (sessions::LONGEST_MS / 1000) as u64
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Access {
    pub(crate) fn new(db: Database, token: String, hasher: PasswordHasher) -> Access {
        Access {
            inner: Arc::new(Inner {
                db,
                token,
                hasher,
                throttle: Throttle::default(),
            }),
        }
    }

    /// Whether `presented` is the local token (compared in constant time).
    pub(crate) fn is_local_token(&self, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.inner.token.as_bytes())
    }

    /// Whether the administrator password has been set.
    pub(crate) async fn password_set(&self) -> Result<bool, DbError> {
        self.inner
            .db
            .read(|c| Ok(password::stored_hash(c)?.is_some()))
            .await
    }

    /// The first boot's step: sets the password if none is set, and signs in.
    pub(crate) async fn set_first_password(&self, new: String) -> Result<NewSession, AccessError> {
        check_strength(&new).map_err(AccessError::Weak)?;
        if self.password_set().await? {
            return Err(AccessError::AlreadySet);
        }
        let hash = self.inner.hasher.hash(new).await?;
        let now = now_ms();
        let session = NewSession::generate();
        let stored = session.clone();
        let written = self
            .inner
            .db
            .write(move |tx| {
                // Checked again inside the write: two first visits at once set it once.
                if password::stored_hash(tx)?.is_some() {
                    return Ok(false);
                }
                password::store(tx, &hash, now)?;
                sessions::insert(tx, &stored, now)?;
                Ok(true)
            })
            .await?;
        if !written {
            return Err(AccessError::AlreadySet);
        }
        Ok(session)
    }

    /// Checks `given` against the password, unless failures make it wait (then it is not
    /// checked at all); a wrong one counts as a failure. The time it was checked at.
    async fn check_password(&self, given: String) -> Result<i64, AccessError> {
        let now = now_ms();
        let state = self.inner.db.read(throttle::load).await?;
        if let Some(wait) = self.inner.throttle.wait_ms(state, now) {
            return Err(AccessError::Throttled {
                retry_after_seconds: (wait as u64).div_ceil(1000),
            });
        }
        let Some(hash) = self.inner.db.read(password::stored_hash).await? else {
            return Err(AccessError::NotSet);
        };
        if !self.inner.hasher.verify(given, hash).await? {
            self.inner
                .db
                .write(move |tx| throttle::record_failure(tx, now))
                .await?;
            tracing::warn!("local page: a wrong administrator password");
            return Err(AccessError::WrongPassword);
        }
        Ok(now)
    }

    /// Signs in with the password: a new session (never one the browser already had).
    pub(crate) async fn sign_in(&self, given: String) -> Result<NewSession, AccessError> {
        let now = self.check_password(given).await?;
        let session = NewSession::generate();
        let stored = session.clone();
        self.inner
            .db
            .write(move |tx| {
                throttle::reset(tx)?;
                sessions::prune(tx, now)?;
                sessions::insert(tx, &stored, now)
            })
            .await?;
        Ok(session)
    }

    /// The session a cookie's value names, if it is live (renewed on use).
    pub(crate) async fn session(&self, cookie: &str) -> Result<Option<Session>, DbError> {
        let digest = sessions::digest(cookie);
        let now = now_ms();
        let found = self
            .inner
            .db
            .read(move |c| sessions::find(c, &digest, now))
            .await?;
        if let Some(session) = &found
            && now - session.last_seen_ms > sessions::TOUCH_EVERY_MS
        {
            let digest = session.digest.clone();
            self.inner
                .db
                .write(move |tx| sessions::touch(tx, &digest, now))
                .await?;
        }
        Ok(found)
    }

    /// Ends one session (signing out).
    pub(crate) async fn sign_out(&self, session: &Session) -> Result<(), DbError> {
        let digest = session.digest.clone();
        self.inner
            .db
            .write(move |tx| sessions::delete(tx, &digest))
            .await
    }

    /// Changes the password after checking the current one; every session ends.
    pub(crate) async fn change_password(
        &self,
        current: String,
        new: String,
    ) -> Result<(), AccessError> {
        let now = self.check_password(current).await?;
        check_strength(&new).map_err(AccessError::Weak)?;
        let hash = self.inner.hasher.hash(new).await?;
        self.inner
            .db
            .write(move |tx| {
                password::store(tx, &hash, now)?;
                sessions::delete_all(tx)
            })
            .await?;
        Ok(())
    }
}

/// Forgets the password, every session and the failure count, so the next visit is a first
/// boot (`dipper admin reset-password`, root on the box). Returns whether a password was set.
pub(crate) async fn reset(db: &Database) -> Result<bool, DbError> {
    db.write(|tx| {
        let had = password::stored_hash(tx)?.is_some();
        password::clear(tx)?;
        sessions::delete_all(tx)?;
        throttle::reset(tx)?;
        Ok(had)
    })
    .await
}

/// Equality that takes as long for every byte string of a given length.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
