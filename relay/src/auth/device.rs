//! A box as a caller: `Authorization: Device <device_id>:<credential>`, the credential the
//! relay handed the box at activation (it keeps only the SHA-256 digest).
//!
//! A scheme of its own rather than `Bearer`: the relay's bearer tokens are JWTs whose header
//! picks the verifier, and a device credential is an opaque secret looked up by the device's
//! id (its primary key), so no query ever searches by a secret. The digests are compared in
//! constant time; a decommissioned box (its digest is cleared), a box still awaiting
//! activation and a box of a disabled tenant are refused.

use uuid::Uuid;

use super::Principal;
use super::tokens::secret_digest;
use crate::db::{Mode, Scope};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::devices as store;

/// The authorisation scheme of a box.
pub const SCHEME: &str = "Device ";

/// The id and credential of a `Device` authorisation value (without the scheme).
pub fn parse(value: &str) -> Result<(Uuid, &str), ApiError> {
    let (id, credential) = value.trim().split_once(':').ok_or_else(invalid)?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    if credential.is_empty() {
        return Err(invalid());
    }
    Ok((id, credential))
}

/// The principal of an activated box presenting its credential.
pub async fn load(
    state: &AppState,
    device: Uuid,
    credential: &str,
    remote_addr: String,
) -> Result<Principal, ApiError> {
    // The box's tenant is what the lookup finds, so it cannot be the scope yet.
    let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
    let found = store::by_id(&mut tx, device).await?;
    tx.commit().await?;
    let presented = secret_digest(credential);
    let Some(found) = found else {
        // The same work as for a known box, so timing does not tell ids apart.
        constant_time_eq(presented.as_bytes(), presented.as_bytes());
        return Err(invalid());
    };
    let stored = found.credential_hash.as_deref().unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), stored.as_bytes()) || found.status != "active" {
        return Err(invalid());
    }
    if found.tenant_status != "enabled" {
        return Err(ApiError::tenant_disabled());
    }
    Ok(Principal {
        actor: format!("device:{device}"),
        user_id: None,
        device_id: Some(device),
        tenant_id: Some(found.tenant),
        platform_admin: false,
        grants: Vec::new(),
        remote_addr,
    })
}

fn invalid() -> ApiError {
    ApiError::unauthorized(
        ErrorCode::TokenInvalid,
        "the device credential is not valid (unknown, decommissioned or not yet activated box)",
    )
}

/// Whether `a` and `b` are equal, in a time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc", b""));
    }

    #[test]
    fn the_value_names_a_device_and_a_credential() {
        let id = Uuid::new_v4();
        let value = format!("{id}:secret");
        assert_eq!(parse(&value).expect("parses"), (id, "secret"));
        assert!(parse("not-a-uuid:secret").is_err());
        assert!(parse(&format!("{id}:")).is_err());
        assert!(parse(&id.to_string()).is_err());
    }
}
