//! Password hashing with Argon2id, on the blocking pool so a hash never stalls the runtime.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::Argon2Config;

/// Hashes and checks passwords with the configured Argon2id cost.
#[derive(Debug)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, checked against when the email is unknown, so a login
    /// for an unknown email costs as much as one with a wrong password.
    decoy: String,
    /// Argon2 runs so far (hashes, checks): tests compare two requests' work with them, as
    /// a structural stand-in for timing.
    hashes: AtomicU64,
    checks: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2: {0}")]
    Hash(String),
    #[error("password hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl PasswordHasher {
    pub fn new(config: &Argon2Config) -> Result<Self, PasswordError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
        let decoy = hash_blocking(&params, &rand::random::<u64>().to_string())?;
        Ok(Self {
            params,
            decoy,
            hashes: AtomicU64::new(0),
            checks: AtomicU64::new(0),
        })
    }

    /// How many Argon2 hashes and checks this hasher has run: (hashes, checks).
    pub fn work_done(&self) -> (u64, u64) {
        (
            self.hashes.load(Ordering::Relaxed),
            self.checks.load(Ordering::Relaxed),
        )
    }

    /// Hashes `password` into a PHC string (algorithm, parameters, salt and hash).
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let params = self.params.clone();
        self.hashes.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || hash_blocking(&params, &password)).await?
    }

    /// Whether `password` matches `hash`; `None` checks against the decoy and says no.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        self.checks.fetch_add(1, Ordering::Relaxed);
        let matches = tokio::task::spawn_blocking(move || {
            let parsed =
                PasswordHash::new(&hash).map_err(|e| PasswordError::Hash(e.to_string()))?;
            // The parameters come from the stored hash, so old hashes still verify after the
            // configured cost changes.
            Ok::<bool, PasswordError>(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await??;
        Ok(known && matches)
    }
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_only_the_same_password() {
        let hasher = PasswordHasher::new(&Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .expect("hasher");
        let hash = hasher.hash("correct horse".to_owned()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(
            hasher
                .verify("correct horse".to_owned(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("wrong horse".to_owned(), Some(hash))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("correct horse".to_owned(), None)
                .await
                .expect("decoy")
        );
    }
}
