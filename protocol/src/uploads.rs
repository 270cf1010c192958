//! Where a box uploads a match's snapshots: on `{prefix}/uploads` the relay sends, for each
//! match it applied, two presigned PUT URLs (the face crop and the whole frame, JPEG), each
//! able to write its own object key only, until `expires_at_ms`.
//!
//! Contract: the box never holds object-store keys. It keeps each grant with the match's
//! snapshots until both are uploaded, retrying while the store is unreachable; then it
//! sends [`crate::search::SearchEventBody::SnapshotsUploaded`] through its outbox. A grant
//! that expired, or that the store refused, is dropped and asked for again with
//! [`crate::search::SearchEventBody::SnapshotsWanted`]; the relay answers with a new one.
//! A grant may arrive twice (QoS 1): uploading the same bytes to the same key again is
//! harmless.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{PROTOCOL_VERSION, ProtocolError, default_version};

/// The most grants one message carries.
pub const MAX_GRANTS: usize = 256;

/// Grants for some of one box's matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadGrants {
    #[serde(default = "default_version")]
    pub v: u32,
    pub grants: Vec<UploadGrant>,
}

/// Where one match's two snapshots go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadGrant {
    pub search_id: Uuid,
    /// The box's own id of the match ([`crate::search::SearchMatch::match_id`]).
    pub match_id: i64,
    /// Presigned PUT of the face crop (`image/jpeg`).
    pub face_url: String,
    /// Presigned PUT of the whole frame (`image/jpeg`).
    pub frame_url: String,
    /// Unix ms after which the store refuses both URLs.
    pub expires_at_ms: i64,
}

impl UploadGrants {
    pub fn new(grants: Vec<UploadGrant>) -> Self {
        UploadGrants {
            v: PROTOCOL_VERSION,
            grants,
        }
    }

    /// Reads grants: bounded, versioned, each URL an `http(s)` URL.
    pub fn decode(payload: &[u8]) -> Result<UploadGrants, ProtocolError> {
        let grants: UploadGrants = crate::decode(payload)?;
        if grants.grants.len() > MAX_GRANTS {
            return Err(ProtocolError::Invalid {
                field: "grants",
                reason: format!("{} grants; at most {MAX_GRANTS}", grants.grants.len()),
            });
        }
        for grant in &grants.grants {
            for (field, url) in [
                ("face_url", &grant.face_url),
                ("frame_url", &grant.frame_url),
            ] {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ProtocolError::Invalid {
                        field,
                        reason: format!("{url:?} is not an http(s) URL"),
                    });
                }
            }
        }
        Ok(grants)
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::encode(self)
    }
}
