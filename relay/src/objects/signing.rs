//! The disk backend's signed URLs: `{public_url}/objects/{key}?method=GET|PUT&expires=
//! {unix seconds}&signature={base64url}`, where the signature is an HMAC-SHA256 over the
//! method, the key, the expiry and, for a PUT, the content type the key's extension says.
//!
//! The HMAC key is a relay secret kept in the database (`relay_secrets`,
//! [`SECRET_NAME`]), made by the first instance to start, so every instance on one database,
//! and a restarted one, accepts the URLs the others issued. A URL is good for its one key,
//! its one method and, for a PUT, its one content type, until its expiry second has passed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use utoipa::ToSchema;

use super::ObjectKey;
use crate::db::{Db, DbError, Mode, Scope};
use crate::store::secrets;

/// The name of the HMAC key in `relay_secrets`.
pub const SECRET_NAME: &str = "object_urls_hmac_sha256";

/// What a signed URL may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum UrlMethod {
    /// Read the object.
    #[serde(rename = "GET")]
    Get,
    /// Write the object.
    #[serde(rename = "PUT")]
    Put,
}

impl UrlMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlMethod::Get => "GET",
            UrlMethod::Put => "PUT",
        }
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The URL was signed for the other method.
    WrongMethod,
    /// The signature is not ours for this key, method, expiry (and content type).
    BadSignature,
    /// The URL was good, but its time is over.
    Expired,
}

impl Refusal {
    /// A sentence for the client.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::WrongMethod => "this URL was signed for another method",
            Refusal::BadSignature => {
                "the signature does not match this object, method, expiry and content type; \
                 the URL was altered or issued for something else"
            }
            Refusal::Expired => "this URL has expired; ask the relay for a new one",
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::WrongMethod => "wrong_method",
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "expired",
        }
    }
}

/// Signs and checks URLs with the shared key.
#[derive(Clone)]
pub(crate) struct UrlSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner").finish_non_exhaustive()
    }
}

impl UrlSigner {
    /// Loads the shared key from the database, making it on first start.
    pub(crate) async fn load(db: &Db) -> Result<UrlSigner, DbError> {
        let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
        let fresh = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let secret = secrets::get_or_insert(&mut tx, SECRET_NAME, fresh).await?;
        tx.commit().await?;
        let key = URL_SAFE_NO_PAD
            .decode(secret.as_bytes())
            .map_err(|e| DbError::Other(sqlx::Error::Decode(Box::new(e))))?;
        Ok(UrlSigner { key })
    }

    fn mac(&self, method: UrlMethod, key: &ObjectKey, expires: u64) -> Hmac<Sha256> {
        // Every field on its own line; keys and content types hold no newline.
        let content_type = match method {
            UrlMethod::Get => "",
            UrlMethod::Put => key.content_type().as_str(),
        };
        let message = format!(
            "dipper-object-url-v1\n{}\n{key}\n{expires}\n{content_type}",
            method.as_str()
        );
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(message.as_bytes());
        mac
    }

    /// The signature of a URL for `method` on `key` until `expires` (Unix seconds).
    pub(crate) fn sign(&self, method: UrlMethod, key: &ObjectKey, expires: u64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(method, key, expires).finalize().into_bytes())
    }

    /// Checks a URL's fields for a request made with `request_method` at `now` (Unix
    /// seconds): the signature first (compared in constant time), then the time.
    pub(crate) fn verify(
        &self,
        request_method: UrlMethod,
        key: &ObjectKey,
        url: (UrlMethod, u64, &str),
        now: u64,
    ) -> Result<(), Refusal> {
        let (method, expires, signature) = url;
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature.as_bytes()) else {
            return Err(Refusal::BadSignature);
        };
        self.mac(method, key, expires)
            .verify_slice(&signature)
            .map_err(|_| Refusal::BadSignature)?;
        if method != request_method {
            return Err(Refusal::WrongMethod);
        }
        if now > expires {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ObjectKey {
        ObjectKey::parse(&format!("0b5e8a57-3c1e-4a7e-9d57-5f3c2a1b0c9d/{text}")).expect("key")
    }

    #[test]
    fn a_signature_holds_for_its_key_method_and_time_only() {
        let signer = UrlSigner { key: vec![7; 32] };
        let (a, b) = (key("a.jpg"), key("b.jpg"));
        let signature = signer.sign(UrlMethod::Put, &a, 1_000);
        let check =
            |request, key, url: (UrlMethod, u64, &str), now| signer.verify(request, key, url, now);
        let put = UrlMethod::Put;
        assert_eq!(check(put, &a, (put, 1_000, &signature), 1_000), Ok(()));
        assert_eq!(
            check(put, &a, (put, 1_000, &signature), 1_001),
            Err(Refusal::Expired)
        );
        assert_eq!(
            check(put, &b, (put, 1_000, &signature), 10),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            check(put, &a, (put, 1_001, &signature), 10),
            Err(Refusal::BadSignature)
        );
        let get = UrlMethod::Get;
        assert_eq!(
            check(get, &a, (get, 1_000, &signature), 10),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            check(get, &a, (put, 1_000, &signature), 10),
            Err(Refusal::WrongMethod)
        );
        assert_eq!(
            check(put, &a, (put, 1_000, "not base64!"), 10),
            Err(Refusal::BadSignature)
        );
        let other = UrlSigner { key: vec![8; 32] };
        assert_eq!(
            other.verify(put, &a, (put, 1_000, &signature), 10),
            Err(Refusal::BadSignature)
        );
    }
}
