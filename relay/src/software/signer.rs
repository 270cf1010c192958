//! The relay's software signing key: an Ed25519 key made by the first instance to start and
//! shared by all through `relay_secrets`, like the access-token key. Boxes receive its public
//! half at activation and trust nothing else with an update.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use protocol::software::SignedPackage;

use crate::db::{Db, DbError, Mode, Scope};
use crate::store::secrets;

/// The secret's name in `relay_secrets`.
const SECRET: &str = "software_package_ed25519";

#[derive(Clone)]
pub struct SoftwareSigner {
    key: SigningKey,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl SoftwareSigner {
    /// Loads the shared key, making it on first start.
    pub async fn load(db: &Db) -> Result<Self, DbError> {
        let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
        let fresh = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let secret = secrets::get_or_insert(&mut tx, SECRET, fresh).await?;
        tx.commit().await?;
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(secret.as_bytes())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                let why = format!("relay secret {SECRET} is not 32 bytes of base64");
                DbError::Other(sqlx::Error::Decode(why.into()))
            })?;
        Ok(SoftwareSigner {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The public key as boxes keep it (`protocol::software::encode_key`).
    pub fn public_key(&self) -> String {
        protocol::software::encode_key(&self.key.verifying_key())
    }

    pub fn sign(&self, name: &str, version: &str, sha256: &str, size: u64) -> SignedPackage {
        SignedPackage::sign(&self.key, name, version, sha256, size)
    }
}
