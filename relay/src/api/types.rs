//! Checked request values. Each refuses a bad value while the body is parsed, so the 400
//! names the field; each field using one declares the same bounds in the OpenAPI document.

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

/// Longest name (tenant, area, device, group, display name), in characters.
pub const NAME_MAX: usize = 200;
/// A name: 1 to 200 characters, at least one of them visible, none a control character or a
/// bidirectional override or isolate. The same as [`Name`] checks, for the OpenAPI document
/// (which cannot say "trimmed"); fields repeat it literally, as `utoipa` wants a literal.
pub const NAME_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$";
/// Longest email address, in characters.
pub const EMAIL_MAX: usize = 254;
/// An e-mail: one `@` between two non-empty parts, no space, control or invisible character.
pub const EMAIL_PATTERN: &str = r"^[^@\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0]+@[^@\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0]+$";
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 1024;
/// Longest secret (refresh token, provisioning key) accepted, in characters.
pub const SECRET_MAX: usize = 512;

/// A bidirectional override or isolate (U+202A to U+202E, U+2066 to U+2069): it makes text
/// display in another order than it is stored, so a name could pass for another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A character that shows nothing by itself: controls, white space, zero-width characters,
/// joiners, fillers, variation selectors, bidirectional marks and tags.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || is_bidi_control(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// A name of something the relay keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Name(String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Name::parse(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

impl Name {
    /// Checks `text` and trims invisible characters off its ends. The length is counted
    /// before trimming, as the OpenAPI document says.
    pub fn parse(text: &str) -> Result<Self, String> {
        let count = text.chars().count();
        if count == 0 || count > NAME_MAX {
            return Err(format!("must be 1 to {NAME_MAX} characters, got {count}"));
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        if text.chars().any(is_bidi_control) {
            return Err(
                "must not contain bidirectional overrides or isolates (U+202A to U+202E, \
                 U+2066 to U+2069)"
                    .to_owned(),
            );
        }
        let trimmed = text.trim_matches(is_invisible);
        if trimmed.is_empty() {
            return Err("must contain a visible character".to_owned());
        }
        Ok(Name(trimmed.to_owned()))
    }
}

/// An email address, kept lower-cased. Checked loosely (one `@`, no spaces, control or
/// invisible characters): the address is a login name here, not a mailbox the relay writes
/// to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Email::parse(&text).map_err(D::Error::custom)
    }
}

impl Email {
    pub fn parse(text: &str) -> Result<Self, String> {
        let count = text.chars().count();
        if !(3..=EMAIL_MAX).contains(&count) {
            return Err(format!("must be 3 to {EMAIL_MAX} characters, got {count}"));
        }
        let mut parts = text.split('@');
        let valid = matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && !d.is_empty())
            && !text.chars().any(is_invisible);
        if !valid {
            return Err(
                "must be an email address (one @, no spaces or invisible characters)".to_owned(),
            );
        }
        Ok(Email(text.to_lowercase()))
    }
}

/// A new password: 12 to 1024 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub fn parse(text: String) -> Result<Self, String> {
        let count = text.chars().count();
        if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&count) {
            return Err(format!(
                "must be {PASSWORD_MIN} to {PASSWORD_MAX} characters, got {count}"
            ));
        }
        if text.contains('\0') {
            return Err("must not contain NUL".to_owned());
        }
        Ok(Password(text))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Password::parse(String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// A secret presented back to the relay (a password at login, a token, a key): at most
/// [`SECRET_MAX`] characters (passwords: [`PASSWORD_MAX`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks a secret a message carried as a plain string, answering as the deserialiser
    /// does for a body field `field` (400 `invalid_field` naming it).
    pub fn checked(field: &str, text: String) -> Result<Self, crate::error::ApiError> {
        Self::parse(text).map_err(|message| {
            crate::error::ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                crate::error::ErrorCode::InvalidField,
                message,
            )
            .with_field(field)
        })
    }

    fn parse(text: String) -> Result<Self, String> {
        let count = text.chars().count();
        if count == 0 || count > PASSWORD_MAX {
            return Err(format!(
                "must be 1 to {PASSWORD_MAX} characters, got {count}"
            ));
        }
        Ok(Secret(text))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Secret::parse(String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// Formats a time column (Unix milliseconds) as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// `limit` and `offset` of a list.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// At most this many items (1 to 500). Default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Skip this many items first. Default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<u32>,
}

impl Page {
    /// The checked (limit, offset).
    pub fn bounds(self) -> Result<(i64, i64), crate::error::ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            let message = "limit must be 1 to 500";
            return Err(crate::error::ApiError::invalid_query("limit", message));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > 1_000_000 {
            let message = "offset must be at most 1000000";
            return Err(crate::error::ApiError::invalid_query("offset", message));
        }
        Ok((i64::from(limit), i64::from(offset)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(json: &str) -> Result<Name, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(name("\"Block 7\"").map(|n| n.0), Ok("Block 7".to_owned()));
        assert!(name("\"\"").is_err());
        assert!(name(&format!("\"{}\"", "x".repeat(NAME_MAX + 1))).is_err());
        assert!(name(&format!("\"{}\"", "é".repeat(NAME_MAX))).is_ok());
        assert!(name("\"a\\u0000b\"").is_err());
        assert!(name("12").is_err());
    }

    #[test]
    fn names_are_trimmed_and_need_a_visible_character() {
        assert_eq!(
            name("\"  Block 7\\u200b \"").map(|n| n.0),
            Ok("Block 7".to_owned())
        );
        // Joiners inside a name are kept: some scripts need them.
        assert_eq!(
            name("\"a\\u200db\"").map(|n| n.0),
            Ok("a\u{200d}b".to_owned())
        );
        for invisible in [
            " ",
            "\\u200b",
            " \\u200b\\u00a0\\ufeff\\u3000",
            "\\u2060\\u180e",
        ] {
            assert_eq!(
                name(&format!("\"{invisible}\"")).map(|n| n.0),
                Err("must contain a visible character".to_owned()),
                "{invisible:?}"
            );
        }
    }

    #[test]
    fn bidirectional_overrides_are_refused() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            let text = format!("abc{c}def");
            assert!(Name::parse(&text).is_err(), "{c:?}");
            assert!(Email::parse(&format!("a{c}@b.c")).is_err(), "{c:?}");
        }
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            Email::parse("Ann@Example.COM").map(|e| e.0),
            Ok("ann@example.com".to_owned())
        );
        for bad in [
            "",
            "ann",
            "a@b@c",
            "@b",
            "a@",
            "a b@c",
            "a\u{0}@b",
            "a\u{200b}@b",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
