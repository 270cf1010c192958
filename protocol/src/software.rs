//! Box software updates: a package the relay signed, the `softwareUpdate` RPC telling a box
//! to fetch it through a presigned URL and install it, and the update's state the box
//! reports in its client attributes.
//!
//! Contract:
//! - The relay signs `name`, `version`, `sha256` and `size` of a package with its Ed25519
//!   key ([`SignedPackage::sign`]); a box trusts only the public key it was given at
//!   activation ([`crate::activation::DeviceCredentials::software_key`]) and installs only
//!   bytes whose SHA-256 and size are the signed ones ([`SignedPackage::verify`]). The URL
//!   and the object store are not trusted.
//! - The signed text names its purpose and version (`dipper-software-package:v1`), so a
//!   signature made for anything else never verifies as a package's.
//! - A box's state for one rollout only moves forward ([`UpdateState::is_final`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ProtocolError;

/// The only package a box installs.
pub const BOX_PACKAGE: &str = "dipper";

/// The largest package a box accepts (a release build with its models is well under it).
pub const MAX_PACKAGE_BYTES: u64 = 1 << 30;

/// How long a box may take to report healthy after installing, by default and at most.
pub const DEFAULT_HEALTH_TIMEOUT_S: u32 = 120;
pub const HEALTH_TIMEOUT_RANGE_S: std::ops::RangeInclusive<u32> = 10..=3600;

/// A package as the relay signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedPackage {
    /// The Debian package's name (`dipper`).
    pub name: String,
    /// Its Debian version (`0.1.0+20261205.3baa4ad`).
    pub version: String,
    /// SHA-256 of the whole `.deb`, lowercase hex.
    pub sha256: String,
    pub size: u64,
    /// Ed25519 over [`SignedPackage::signed_text`], base64.
    pub signature: String,
}

/// Why a package is not installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("the software key {0:?} is not a base64 Ed25519 public key")]
    Key(String),
    #[error("the package's signature does not verify with the relay's key")]
    Signature,
    #[error("the package's {field} is {got}, not the signed {signed}")]
    Mismatch {
        field: &'static str,
        signed: String,
        got: String,
    },
}

impl SignedPackage {
    /// The text the signature covers.
    pub fn signed_text(name: &str, version: &str, sha256: &str, size: u64) -> Vec<u8> {
        format!("dipper-software-package:v1\n{name}\n{version}\n{sha256}\n{size}\n").into_bytes()
    }

    /// Signs a package's description.
    pub fn sign(key: &SigningKey, name: &str, version: &str, sha256: &str, size: u64) -> Self {
        let signature = key.sign(&Self::signed_text(name, version, sha256, size));
        SignedPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            sha256: sha256.to_owned(),
            size,
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    /// Checks the signature over this description with the trusted key.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), PackageError> {
        let bytes = BASE64
            .decode(&self.signature)
            .map_err(|_| PackageError::Signature)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| PackageError::Signature)?;
        let text = Self::signed_text(&self.name, &self.version, &self.sha256, self.size);
        key.verify_strict(&text, &Signature::from_bytes(&bytes))
            .map_err(|_| PackageError::Signature)
    }

    /// Checks downloaded bytes (their size and SHA-256, lowercase hex) against the signed
    /// ones. Call after [`SignedPackage::verify`].
    pub fn check_bytes(&self, size: u64, sha256: &str) -> Result<(), PackageError> {
        if size != self.size {
            return Err(PackageError::Mismatch {
                field: "size",
                signed: self.size.to_string(),
                got: size.to_string(),
            });
        }
        if sha256 != self.sha256 {
            return Err(PackageError::Mismatch {
                field: "sha256",
                signed: self.sha256.clone(),
                got: sha256.to_owned(),
            });
        }
        Ok(())
    }

    fn validated(self) -> Result<Self, ProtocolError> {
        let bad = |what: &str| Err(ProtocolError::Malformed(format!("package {what}")));
        if self.name.is_empty() || self.name.len() > 64 {
            return bad("name: 1 to 64 characters");
        }
        if !valid_version(&self.version) {
            return bad("version: a Debian version (digits first; letters, digits, .+~-:)");
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad("sha256: 64 hex digits");
        }
        if self.sha256.bytes().any(|b| b.is_ascii_uppercase()) {
            return bad("sha256: lowercase hex");
        }
        if self.size == 0 || self.size > MAX_PACKAGE_BYTES {
            return bad("size: 1 byte to 1 GiB");
        }
        Ok(self)
    }
}

/// A Debian version as dpkg accepts it: starts with a digit (after an optional `epoch:`),
/// then letters, digits and `.+~-:`; at most 128 characters.
pub fn valid_version(version: &str) -> bool {
    let upstream = version.split_once(':').map_or(version, |(_, rest)| rest);
    !version.is_empty()
        && version.len() <= 128
        && upstream.starts_with(|c: char| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~-:".contains(c))
}

/// The relay's public software key as a box stores it (base64 of the 32 bytes).
pub fn encode_key(key: &VerifyingKey) -> String {
    BASE64.encode(key.to_bytes())
}

/// Reads a public software key written by [`encode_key`].
pub fn decode_key(text: &str) -> Result<VerifyingKey, PackageError> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|_| PackageError::Key(text.to_owned()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| PackageError::Key(text.to_owned()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| PackageError::Key(text.to_owned()))
}

/// `softwareUpdate`: fetch this package, verify it, install it and report healthy within
/// `health_timeout_s`, or go back to the version before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareUpdate {
    /// The rollout this is part of; the box's reports name it.
    pub rollout_id: Uuid,
    pub package: SignedPackage,
    /// A presigned GET of the package's bytes.
    pub url: String,
    /// Install even when the package is not newer than what runs.
    #[serde(default)]
    pub force: bool,
    #[serde(default = "default_health_timeout")]
    pub health_timeout_s: u32,
}

fn default_health_timeout() -> u32 {
    DEFAULT_HEALTH_TIMEOUT_S
}

impl SoftwareUpdate {
    /// The parameters, checked: a package description that reads, an `http(s)` URL, a
    /// health timeout in range.
    pub fn validated(self) -> Result<Self, ProtocolError> {
        let package = self.package.validated()?;
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(ProtocolError::Malformed(
                "url: an http or https URL".to_owned(),
            ));
        }
        if !HEALTH_TIMEOUT_RANGE_S.contains(&self.health_timeout_s) {
            return Err(ProtocolError::Malformed(format!(
                "health_timeout_s: {} to {} seconds",
                HEALTH_TIMEOUT_RANGE_S.start(),
                HEALTH_TIMEOUT_RANGE_S.end()
            )));
        }
        Ok(SoftwareUpdate { package, ..self })
    }
}

/// What the box answers `softwareUpdate` with: the update was accepted and goes on in the
/// background, reported through [`UpdateReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateAccepted {
    pub rollout_id: Uuid,
    /// The version that runs now.
    pub from_version: String,
}

/// Where one box's update stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    /// Fetching the package.
    Downloading,
    /// Fetched and verified; waiting for the installer.
    Staged,
    /// Being installed; the daemon restarts.
    Installing,
    /// The new version runs and reported healthy.
    Healthy,
    /// The new version did not report healthy in time: the one before is back.
    RolledBack,
    /// Not installed (a download, verification or installer failure), with the reason.
    Failed,
}

impl UpdateState {
    /// No later report of the same rollout changes it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            UpdateState::Healthy | UpdateState::RolledBack | UpdateState::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Downloading => "downloading",
            UpdateState::Staged => "staged",
            UpdateState::Installing => "installing",
            UpdateState::Healthy => "healthy",
            UpdateState::RolledBack => "rolled_back",
            UpdateState::Failed => "failed",
        }
    }
}

/// A box's latest update, in its client attributes (`software_update`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateReport {
    pub rollout_id: Uuid,
    /// The version being installed.
    pub version: String,
    pub state: UpdateState,
    /// Why, for `failed` and `rolled_back`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the box reached this state (its clock, Unix ms).
    pub at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn package() -> SignedPackage {
        SignedPackage::sign(&key(), BOX_PACKAGE, "0.2.0+g1", &"ab".repeat(32), 1000)
    }

    #[test]
    fn a_signed_package_verifies_with_its_key_only() {
        let package = package();
        package.verify(&key().verifying_key()).expect("verifies");
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert_eq!(package.verify(&other), Err(PackageError::Signature));
        for changed in [
            SignedPackage {
                version: "0.3.0".into(),
                ..package.clone()
            },
            SignedPackage {
                name: "dipper-relay".into(),
                ..package.clone()
            },
            SignedPackage {
                sha256: "cd".repeat(32),
                ..package.clone()
            },
            SignedPackage {
                size: 1001,
                ..package.clone()
            },
            SignedPackage {
                signature: "not base64!".into(),
                ..package.clone()
            },
        ] {
            assert_eq!(
                changed.verify(&key().verifying_key()),
                Err(PackageError::Signature)
            );
        }
    }

    #[test]
    fn bytes_must_be_the_signed_ones() {
        let package = package();
        package
            .check_bytes(1000, &"ab".repeat(32))
            .expect("the signed bytes");
        assert!(matches!(
            package.check_bytes(999, &"ab".repeat(32)),
            Err(PackageError::Mismatch { field: "size", .. })
        ));
        assert!(matches!(
            package.check_bytes(1000, &"cd".repeat(32)),
            Err(PackageError::Mismatch {
                field: "sha256",
                ..
            })
        ));
    }

    #[test]
    fn keys_travel_as_base64() {
        let public = key().verifying_key();
        assert_eq!(decode_key(&encode_key(&public)).expect("a key"), public);
        assert!(matches!(decode_key("short"), Err(PackageError::Key(_))));
        assert!(matches!(
            decode_key(&BASE64.encode([1u8; 31])),
            Err(PackageError::Key(_))
        ));
    }

    #[test]
    fn parameters_are_checked() {
        let update = SoftwareUpdate {
            rollout_id: Uuid::nil(),
            package: package(),
            url: "https://objects.example/p?sig=1".into(),
            force: false,
            health_timeout_s: 60,
        };
        update.clone().validated().expect("valid");
        let refused = [
            SoftwareUpdate {
                url: "file:///etc/passwd".into(),
                ..update.clone()
            },
            SoftwareUpdate {
                health_timeout_s: 5,
                ..update.clone()
            },
            SoftwareUpdate {
                package: SignedPackage {
                    version: "latest".into(),
                    ..package()
                },
                ..update.clone()
            },
            SoftwareUpdate {
                package: SignedPackage {
                    sha256: "AB".repeat(32),
                    ..package()
                },
                ..update.clone()
            },
            SoftwareUpdate {
                package: SignedPackage {
                    size: MAX_PACKAGE_BYTES + 1,
                    ..package()
                },
                ..update.clone()
            },
        ];
        for update in refused {
            assert!(update.validated().is_err());
        }
        assert!(valid_version("1:0.1.0+g3baa4ad~rc1-2"));
        assert!(!valid_version("0.1.0 rm -rf"));
        assert!(!valid_version(""));
    }

    #[test]
    fn final_states() {
        assert!(UpdateState::Healthy.is_final());
        assert!(UpdateState::RolledBack.is_final());
        assert!(UpdateState::Failed.is_final());
        assert!(!UpdateState::Staged.is_final());
        let json = serde_json::to_string(&UpdateState::RolledBack).expect("json");
        assert_eq!(json, "\"rolled_back\"");
    }
}
