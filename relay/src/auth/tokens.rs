//! The relay's own tokens: short-lived HS256 access tokens and opaque refresh tokens.
//!
//! The signing key lives in the database (`relay_secrets`), made by whichever instance starts
//! first, so every instance on one database accepts every other's tokens. An access token
//! carries only who the user is and which session it belongs to; roles, statuses and the
//! session's state are read from the database on every request, so revoking a grant or a
//! session, or disabling a tenant, takes effect at once. Refresh tokens
//! are random secrets stored as SHA-256 digests.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::{Db, DbError, Mode, Scope, now_ms};
use crate::store::secrets;

/// The `iss` of the relay's access tokens.
pub const ISSUER: &str = "dipper-relay";

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's tenant; absent for platform admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<Uuid>,
    /// The session (the family of refresh tokens) the token belongs to; revoking the session
    /// refuses the token at once.
    pub sid: Uuid,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_seconds: i64,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("access_seconds", &self.access_seconds)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// Loads the shared signing key from the database, making it on first start.
    pub async fn load(db: &Db, access_seconds: u64) -> Result<Self, DbError> {
        let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
        let fresh = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let secret = secrets::get_or_insert(&mut tx, "access_token_hs256", fresh).await?;
        tx.commit().await?;
        let key = URL_SAFE_NO_PAD
            .decode(secret.as_bytes())
            .map_err(|e| DbError::Other(sqlx::Error::Decode(Box::new(e))))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            access_seconds: i64::try_from(access_seconds).unwrap_or(i64::MAX / 2),
        })
    }

    /// A signed access token for the user, and its lifetime in seconds.
    pub fn issue(
        &self,
        user: Uuid,
        tenant: Option<Uuid>,
        session: Uuid,
    ) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        let now = now_ms() / 1000;
        let claims = AccessClaims {
            sub: user,
            tid: tenant,
            sid: session,
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.access_seconds,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, self.access_seconds))
    }

    /// The claims of a valid, unexpired token of ours.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }
}

/// A new random secret (refresh token, provisioning key, device credential): 32 random
/// bytes, base64url.
pub fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The digest a secret is stored as. Secrets are 256-bit random values, so a plain SHA-256
/// is enough; passwords, which are not, use Argon2.
pub fn secret_digest(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
