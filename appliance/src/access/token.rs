//! The local token: 32 random bytes (base64url) in `<data_dir>/local-token`, mode 0600,
//! made at the daemon's first start. The CLI sends it as `Authorization: Bearer`; a request
//! with it needs no session. Reading the file takes root or the daemon's own user.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use rand::RngCore;

/// The token's file name in the data directory.
pub(crate) const TOKEN_FILE: &str = "local-token";

/// The token in `data_dir`, made (atomically, mode 0600) if there is none. A file others
/// may read is made private again, since the token may have been seen.
pub(crate) fn load_or_create_token(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join(TOKEN_FILE);
    match read_token(&path) {
        Ok(Some(token)) => {
            let mode = fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0o600);
            if mode & 0o077 == 0 {
                return Ok(token);
            }
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the local token was readable by others: made a new one");
        }
        Ok(None) => {}
        Err(e) => return Err(e),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    crate::db::write_private_file(&path, format!("{token}\n").as_bytes())
        .map_err(|e| format!("writing the local token {}: {e}", path.display()))?;
    Ok(token)
}

/// The token in `path`, if the file exists and holds one.
pub(crate) fn read_token(path: &Path) -> Result<Option<String>, String> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim();
            Ok((!token.is_empty()).then(|| token.to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading the local token {}: {e}", path.display())),
    }
}
