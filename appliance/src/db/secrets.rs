//! `Secrets`: encrypts camera passwords and the uplink's device credential at rest with a
//! 32-byte key kept in its own file.
//!
//! A value is stored as `nonce (24 bytes) || ciphertext || tag (16 bytes)`, sealed with
//! XChaCha20-Poly1305 under a fresh random nonce, so equal passwords never look equal and a
//! wrong key or a changed byte is an error ([`KeyProblem::Undecryptable`]), never garbage.
//!
//! The key file is created with mode 0600 atomically (written to a temporary file, fsynced,
//! renamed, directory fsynced) and refused if its group or others may read it, or if it is
//! not exactly 32 bytes long. The key itself never appears in `Debug` output.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use super::error::{DbError, DbErrorKind, KeyProblem};

/// Length of the key, in bytes.
pub(crate) const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Binds every sealed value to its purpose, so a value cannot be reused as another kind.
const ASSOCIATED_DATA: &[u8] = b"dipper camera password v1";
/// The same for the uplink's device credential (`uplink_identity.credential`).
const CREDENTIAL_DATA: &[u8] = b"dipper uplink credential v1";

/// The cipher for camera passwords, from the key file.
#[derive(Clone)]
pub(crate) struct Secrets {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

impl Secrets {
    /// The cipher for `key`.
    pub(crate) fn from_key(key: &[u8; KEY_LEN]) -> Secrets {
        Secrets {
            cipher: XChaCha20Poly1305::new(&(*key).into()),
        }
    }

    /// Seals a camera password under a fresh random nonce: `nonce || ciphertext || tag`.
    pub(crate) fn encrypt(&self, plaintext: &str) -> Vec<u8> {
        self.seal(plaintext, ASSOCIATED_DATA)
    }

    /// Opens a camera password sealed by [`Secrets::encrypt`] with the same key.
    pub(crate) fn decrypt(&self, sealed: &[u8]) -> Result<String, DbError> {
        self.open(sealed, ASSOCIATED_DATA)
    }

    /// Seals the uplink's device credential (bound to that purpose: a sealed camera
    /// password does not open as one, nor the reverse).
    pub(crate) fn seal_credential(&self, credential: &str) -> Vec<u8> {
        self.seal(credential, CREDENTIAL_DATA)
    }

    /// Opens a credential sealed by [`Secrets::seal_credential`].
    pub(crate) fn open_credential(&self, sealed: &[u8]) -> Result<String, DbError> {
        self.open(sealed, CREDENTIAL_DATA)
    }

    fn seal(&self, plaintext: &str, aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad,
        };
        #[allow(clippy::expect_used)]
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), payload)
            .expect("XChaCha20-Poly1305 fails only for messages over 256 GiB");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<String, DbError> {
        let undecryptable = || {
            DbError::new(
                DbErrorKind::Key(KeyProblem::Undecryptable),
                format!("decrypt a stored secret of {} bytes", sealed.len()),
            )
        };
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(undecryptable());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        let plaintext = self
            .cipher
            .decrypt(&XNonce::from(nonce_bytes), payload)
            .map_err(|_| undecryptable())?;
        String::from_utf8(plaintext).map_err(|e| undecryptable().with_source(e))
    }
}

/// Reads the key file at `path`: `Ok(None)` if it does not exist; an error if its group or
/// others may read it, or it is not exactly [`KEY_LEN`] bytes.
pub(crate) fn load_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>, DbError> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DbError::io(e, "inspect the key file").at(path)),
    };
    let context = "check the key file";
    if !metadata.is_file() || metadata.len() != KEY_LEN as u64 {
        let problem = KeyProblem::Length {
            len: metadata.len(),
        };
        return Err(DbError::new(DbErrorKind::Key(problem), context).at(path));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        let problem = KeyProblem::Permissions { mode };
        return Err(DbError::new(DbErrorKind::Key(problem), context).at(path));
    }
    let bytes = fs::read(path).map_err(|e| DbError::io(e, "read the key file").at(path))?;
    let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        let problem = KeyProblem::Length {
            len: bytes.len() as u64,
        };
        DbError::new(DbErrorKind::Key(problem), context).at(path)
    })?;
    Ok(Some(key))
}

/// Creates a new random key at `path`, readable only by its owner: written to a temporary
/// file with mode 0600, fsynced, renamed into place, and the directory fsynced.
pub(crate) fn create_key(path: &Path) -> Result<[u8; KEY_LEN], DbError> {
    let mut key = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut key);
    write_private_file(path, &key).map_err(|e| DbError::io(e, "create the key file").at(path))?;
    Ok(key)
}

/// Writes `bytes` to `path`, readable only by its owner: to a temporary file with mode 0600,
/// fsynced, renamed into place, and the directory fsynced. Nothing is left on failure.
pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        // An existing temporary file left by a crash keeps its old mode: force ours.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        fs::File::open(dir)?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&temporary);
    })
}
