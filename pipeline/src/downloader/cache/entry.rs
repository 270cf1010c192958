//! One entry on disk: its file name and its header.
//!
//! An entry of key `k` is the file named by the lowercase hex SHA-256 of `k` (64 digits):
//! fixed length, safe in any file system whatever the key holds. Each file starts with a
//! header, then the recording's bytes:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `DIPCACHE` |
//! | 8 | 4 | format version, little-endian (1) |
//! | 12 | 4 | key length in bytes, little-endian (at most [`MAX_KEY_LEN`]) |
//! | 16 | 8 | recording length in bytes, little-endian |
//! | 24 | key length | the key, UTF-8 |
//!
//! An entry is served only if the magic and version match, the key hashes to the file name
//! (and equals the key asked for), and the file is exactly header plus recording long: a
//! hash collision, a truncated or torn file and a foreign file are all refused. A writer
//! fills the recording first and writes the header last, at commit, so a partial file never
//! carries a valid header either.

use std::{
    fmt,
    fs::File,
    io::{self, Read},
};

use sha2::{Digest, Sha256};

const MAGIC: [u8; 8] = *b"DIPCACHE";
const VERSION: u32 = 1;
const FIXED_LEN: usize = 24;
/// Longest key accepted, in bytes (a device serial and a playback URI need far less).
pub(super) const MAX_KEY_LEN: usize = 16 * 1024;
/// Suffix of files being written. They are never indexed and are deleted at open.
pub(super) const PART_SUFFIX: &str = ".part";

/// The SHA-256 of a key: the entry's identity and, in hex, its file name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct KeyHash([u8; 32]);

impl KeyHash {
    pub(super) fn of(key: &str) -> KeyHash {
        KeyHash(Sha256::digest(key.as_bytes()).into())
    }

    pub(super) fn file_name(self) -> String {
        self.to_string()
    }

    /// The hash an entry's file name spells, if `name` has that shape (64 lowercase hex
    /// digits); whether the file is a valid entry is for [`check`] to say.
    pub(super) fn from_file_name(name: &str) -> Option<KeyHash> {
        fn digit(b: u8) -> Option<u8> {
            match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                _ => None,
            }
        }
        let name = name.as_bytes();
        if name.len() != 64 {
            return None;
        }
        let mut hash = [0u8; 32];
        for (byte, pair) in hash.iter_mut().zip(name.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(KeyHash(hash))
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({self})")
    }
}

/// Bytes of the header for a key of `key_len` bytes.
pub(super) fn header_len(key_len: usize) -> u64 {
    (FIXED_LEN + key_len) as u64
}

/// The header of an entry of `key` holding `recording_len` bytes.
pub(super) fn encode_header(key: &str, recording_len: u64) -> Vec<u8> {
    let key_len = u32::try_from(key.len()).expect("keys are bounded by MAX_KEY_LEN");
    let mut header = Vec::with_capacity(FIXED_LEN + key.len());
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&key_len.to_le_bytes());
    header.extend_from_slice(&recording_len.to_le_bytes());
    header.extend_from_slice(key.as_bytes());
    header
}

/// A checked entry: where its recording starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checked {
    pub(super) header_len: u64,
    pub(super) recording_len: u64,
}

/// Why an entry file is not served. Failing to read it counts: it could not be served either.
#[derive(Debug)]
pub(super) struct Damage(pub(super) String);

/// Reads the header of `file`, whose name says it holds `expected`, and checks it against
/// the file's size (and against `key`, when a caller asked for one). Leaves `file` positioned
/// at the recording's first byte.
pub(super) fn check(
    file: &mut File,
    expected: KeyHash,
    key: Option<&str>,
) -> Result<Checked, Damage> {
    let file_len = file
        .metadata()
        .map_err(|e| Damage(format!("cannot read its metadata: {e}")))?
        .len();
    let mut fixed = [0u8; FIXED_LEN];
    read_exact(file, &mut fixed, "header")?;
    let (magic, rest) = fixed.split_at(8);
    if magic != MAGIC {
        return Err(Damage(
            "it does not start with the cache's magic".to_owned(),
        ));
    }
    let version = u32::from_le_bytes(field(rest, 0));
    if version != VERSION {
        return Err(Damage(format!(
            "format version {version}, this build reads {VERSION}"
        )));
    }
    let key_len = u32::from_le_bytes(field(rest, 4)) as usize;
    let recording_len = u64::from_le_bytes(field(rest, 8));
    if key_len > MAX_KEY_LEN {
        return Err(Damage(format!("a key length of {key_len} bytes")));
    }
    let mut stored_key = vec![0u8; key_len];
    read_exact(file, &mut stored_key, "key")?;
    if KeyHash(Sha256::digest(&stored_key).into()) != expected {
        return Err(Damage("its key does not hash to its file name".to_owned()));
    }
    if key.is_some_and(|key| key.as_bytes() != stored_key) {
        return Err(Damage("it holds another key".to_owned()));
    }
    let header_len = header_len(key_len);
    let expected_len = header_len.checked_add(recording_len);
    if expected_len != Some(file_len) {
        return Err(Damage(format!(
            "it is {file_len} bytes long, its header says {header_len} + {recording_len}"
        )));
    }
    Ok(Checked {
        header_len,
        recording_len,
    })
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N]
        .try_into()
        .expect("the fixed header holds every field")
}

fn read_exact(file: &mut File, buf: &mut [u8], what: &str) -> Result<(), Damage> {
    file.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Damage(format!("it ends inside its {what}")),
        _ => Damage(format!("cannot read its {what}: {e}")),
    })
}
