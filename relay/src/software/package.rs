//! What an uploaded package is, read from its bytes by Debian's own `dpkg-deb --field`
//! (the relay's host is Debian; no `.deb` parser of ours): its name, version and
//! architecture, and its SHA-256.

use std::io::Write as _;

use sha2::{Digest as _, Sha256};

/// A package's control fields and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFacts {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The bytes are not a Debian package dpkg-deb reads (with what it said).
    #[error("not a Debian package: {0}")]
    NotAPackage(String),
    /// dpkg-deb could not be run at all.
    #[error("dpkg-deb could not be run: {0}")]
    Tool(String),
}

/// Reads `bytes` as a `.deb`.
pub async fn read(bytes: bytes::Bytes) -> Result<PackageFacts, PackageError> {
    tokio::task::spawn_blocking(move || read_blocking(&bytes))
        .await
        .map_err(|e| PackageError::Tool(e.to_string()))?
}

fn read_blocking(bytes: &[u8]) -> Result<PackageFacts, PackageError> {
    if !bytes.starts_with(b"!<arch>\n") {
        return Err(PackageError::NotAPackage(
            "it does not start as an ar archive (`!<arch>`)".to_owned(),
        ));
    }
    let mut file = tempfile::Builder::new()
        .prefix("dipper-package-")
        .suffix(".deb")
        .tempfile()
        .map_err(|e| PackageError::Tool(format!("a temporary file: {e}")))?;
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(|e| PackageError::Tool(format!("a temporary file: {e}")))?;
    let output = std::process::Command::new("dpkg-deb")
        .arg("--field")
        .arg(file.path())
        .args(["Package", "Version", "Architecture"])
        .output()
        .map_err(|e| PackageError::Tool(e.to_string()))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said
            .trim()
            .replace(&file.path().display().to_string(), "the package");
        return Err(PackageError::NotAPackage(said));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| PackageError::NotAPackage(format!("its control file has no {name}")))
    };
    Ok(PackageFacts {
        name: field("Package")?,
        version: field("Version")?,
        architecture: field("Architecture")?,
        sha256: hex(&Sha256::digest(bytes)),
        size: bytes.len() as u64,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
