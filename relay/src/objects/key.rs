//! Object keys: where an object lives in the store, checked once when made.
//!
//! A key is `{tenant}/...`: its first segment is the owning tenant's UUID, the rest is made
//! only of non-empty segments of `[A-Za-z0-9._-]` that are not `.` or `..`, and it ends in
//! `.jpg`, `.png` or `.deb`, which says its content type (box software packages belong to
//! the platform: their first segment is the nil UUID, [`ObjectKey::software_package`]). Such a key is a safe relative path on disk
//! and needs no escaping in a URL. Keys are at most [`MAX_KEY_BYTES`] long.

use std::fmt;

use jiff::Timestamp;
use uuid::Uuid;

use super::{ContentType, ObjectError};

/// The longest key accepted.
pub const MAX_KEY_BYTES: usize = 512;

/// The shape of a key, as the OpenAPI document states it (ECMA-262); [`ObjectKey::parse`]
/// also refuses `.` and `..` segments and keys over [`MAX_KEY_BYTES`].
pub const KEY_PATTERN: &str = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/[A-Za-z0-9._-]+)+\.(jpg|png|deb)$";

/// Which of a match's two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// The face crop.
    Face,
    /// The whole frame.
    Frame,
}

impl SnapshotKind {
    fn suffix(self) -> &'static str {
        match self {
            SnapshotKind::Face => "face",
            SnapshotKind::Frame => "frame",
        }
    }
}

/// A checked object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    text: String,
    tenant: Uuid,
}

impl ObjectKey {
    /// A match's snapshot: `{tenant}/snapshots/{device}/{date}/{search}/{match}-face.jpg` (or
    /// `-frame.jpg`), `date` being the UTC date (`YYYY-MM-DD`) of the match's time `time_ms`
    /// (Unix milliseconds). A time outside the representable range is refused.
    pub fn snapshot(
        tenant: Uuid,
        device: Uuid,
        time_ms: i64,
        search: Uuid,
        match_id: i64,
        kind: SnapshotKind,
    ) -> Result<ObjectKey, ObjectError> {
        let time = Timestamp::from_millisecond(time_ms).map_err(|_| {
            ObjectError::Invalid(format!("match time {time_ms} ms is out of range"))
        })?;
        let date = time.strftime("%Y-%m-%d");
        let suffix = kind.suffix();
        ObjectKey::parse(&format!(
            "{tenant}/snapshots/{device}/{date}/{search}/{match_id}-{suffix}.jpg"
        ))
    }

    /// Both snapshots of a match, `(face, frame)`, as [`ObjectKey::snapshot`] names them.
    pub fn snapshots(
        tenant: Uuid,
        device: Uuid,
        time_ms: i64,
        search: Uuid,
        match_id: i64,
    ) -> Result<(ObjectKey, ObjectKey), ObjectError> {
        let key = |kind| ObjectKey::snapshot(tenant, device, time_ms, search, match_id, kind);
        Ok((key(SnapshotKind::Face)?, key(SnapshotKind::Frame)?))
    }

    /// An enrolled face photo: `{tenant}/faces/{person}/{photo}.jpg` (or `.png`, by
    /// `content_type`).
    pub fn face_photo(
        tenant: Uuid,
        person: Uuid,
        photo: Uuid,
        content_type: ContentType,
    ) -> ObjectKey {
        let extension = content_type.extension();
        ObjectKey {
            text: format!("{tenant}/faces/{person}/{photo}.{extension}"),
            tenant,
        }
    }

    /// A box software package: `00000000-0000-0000-0000-000000000000/software/{id}.deb`,
    /// owned by the platform (the nil tenant), never by a tenant.
    pub fn software_package(id: Uuid) -> ObjectKey {
        let owner = Uuid::nil();
        ObjectKey {
            text: format!("{owner}/software/{id}.deb"),
            tenant: owner,
        }
    }

    /// Checks a key given from outside (a URL's path).
    pub fn parse(text: &str) -> Result<ObjectKey, ObjectError> {
        let refuse = |why: &str| Err(ObjectError::Invalid(format!("object key {why}")));
        if text.len() > MAX_KEY_BYTES {
            return refuse(&format!("is longer than {MAX_KEY_BYTES} bytes"));
        }
        let mut segments = text.split('/');
        let first = segments.next().unwrap_or_default();
        let Ok(tenant) = Uuid::try_parse(first) else {
            return refuse("must start with the tenant's UUID");
        };
        if first != tenant.hyphenated().to_string() {
            return refuse("must name the tenant as a lower-case hyphenated UUID");
        }
        let mut count = 1;
        for segment in segments {
            count += 1;
            if segment.is_empty() {
                return refuse("has an empty segment");
            }
            if segment == "." || segment == ".." {
                return refuse("has a `.` or `..` segment");
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return refuse("has a character outside A-Z, a-z, 0-9, `.`, `_` and `-`");
            }
        }
        if count < 2 {
            return refuse("must have a path after the tenant");
        }
        if ContentType::from_key(text).is_none() {
            return refuse("must end in .jpg, .png or .deb");
        }
        Ok(ObjectKey {
            text: text.to_owned(),
            tenant,
        })
    }

    /// The tenant owning the object.
    pub fn tenant(&self) -> Uuid {
        self.tenant
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The content type its extension says.
    pub fn content_type(&self) -> ContentType {
        ContentType::from_key(&self.text).unwrap_or(ContentType::Jpeg)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "0b5e8a57-3c1e-4a7e-9d57-5f3c2a1b0c9d";

    fn uuid(text: &str) -> Uuid {
        Uuid::parse_str(text).expect("uuid")
    }

    #[test]
    fn snapshot_keys_carry_the_matchs_utc_date() {
        let tenant = uuid(TENANT);
        let device = uuid("11111111-2222-4333-8444-555555555555");
        let search = uuid("66666666-7777-4888-9999-aaaaaaaaaaaa");
        // 2026-03-01T23:59:59.999Z, and one millisecond later the next day.
        let key = ObjectKey::snapshot(
            tenant,
            device,
            1_772_409_599_999,
            search,
            42,
            SnapshotKind::Face,
        )
        .expect("key");
        assert_eq!(
            key.as_str(),
            format!("{TENANT}/snapshots/{device}/2026-03-01/{search}/42-face.jpg")
        );
        let key = ObjectKey::snapshot(
            tenant,
            device,
            1_772_409_600_000,
            search,
            42,
            SnapshotKind::Frame,
        )
        .expect("key");
        assert_eq!(
            key.to_string(),
            format!("{TENANT}/snapshots/{device}/2026-03-02/{search}/42-frame.jpg")
        );
        assert_eq!(key.tenant(), tenant);
        assert_eq!(key.content_type(), ContentType::Jpeg);
        assert_eq!(ObjectKey::parse(key.as_str()).expect("parses"), key);
        let error = ObjectKey::snapshot(tenant, device, i64::MAX, search, 1, SnapshotKind::Face)
            .expect_err("out of range");
        assert!(matches!(error, ObjectError::Invalid(_)), "{error}");
    }

    #[test]
    fn face_photo_keys_follow_the_content_type() {
        let (tenant, person, photo) = (uuid(TENANT), Uuid::new_v4(), Uuid::new_v4());
        let jpeg = ObjectKey::face_photo(tenant, person, photo, ContentType::Jpeg);
        assert_eq!(
            jpeg.as_str(),
            format!("{TENANT}/faces/{person}/{photo}.jpg")
        );
        let png = ObjectKey::face_photo(tenant, person, photo, ContentType::Png);
        assert_eq!(png.as_str(), format!("{TENANT}/faces/{person}/{photo}.png"));
        assert_eq!(png.content_type(), ContentType::Png);
        assert_eq!(ObjectKey::parse(png.as_str()).expect("parses"), png);
    }

    #[test]
    fn parse_accepts_well_formed_keys() {
        for key in [
            format!("{TENANT}/a.jpg"),
            format!("{TENANT}/snapshots/x_y-z/1.2.png"),
            format!("{TENANT}/.hidden.jpg"),
        ] {
            let parsed = ObjectKey::parse(&key).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(parsed.as_str(), key);
            assert_eq!(parsed.tenant(), uuid(TENANT));
        }
    }

    #[test]
    fn parse_refuses_what_is_not_a_safe_key() {
        let long = format!("{TENANT}/{}.jpg", "a".repeat(MAX_KEY_BYTES));
        let cases = [
            (String::new(), "tenant's UUID"),
            ("not-a-uuid/a.jpg".to_owned(), "tenant's UUID"),
            ("../etc/passwd.jpg".to_owned(), "tenant's UUID"),
            (format!("{}/a.jpg", TENANT.to_uppercase()), "lower-case"),
            (TENANT.to_owned(), "path after the tenant"),
            (format!("{TENANT}/../{TENANT}/a.jpg"), "`..`"),
            (format!("{TENANT}/./a.jpg"), "`..`"),
            (format!("{TENANT}/a/../../b.jpg"), "`..`"),
            (format!("{TENANT}//a.jpg"), "empty segment"),
            (format!("{TENANT}/a.jpg/"), "empty segment"),
            (format!("/{TENANT}/a.jpg"), "tenant's UUID"),
            (format!("{TENANT}/a b.jpg"), "character outside"),
            (format!("{TENANT}/a%2F.jpg"), "character outside"),
            (format!("{TENANT}/a\\b.jpg"), "character outside"),
            (format!("{TENANT}/é.jpg"), "character outside"),
            (format!("{TENANT}/a\0.jpg"), "character outside"),
            (format!("{TENANT}/a.gif"), ".jpg, .png or .deb"),
            (format!("{TENANT}/a.jpg.part"), ".jpg, .png or .deb"),
            (long, "longer than 512"),
        ];
        for (key, says) in cases {
            match ObjectKey::parse(&key) {
                Ok(parsed) => panic!("{key:?} was accepted as {parsed}"),
                Err(ObjectError::Invalid(message)) => {
                    assert!(
                        message.contains(says),
                        "{key:?}: expected {says:?}, got {message:?}"
                    );
                }
                Err(other) => panic!("{key:?}: not Invalid: {other}"),
            }
        }
    }
}
