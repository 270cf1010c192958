//! Lenient readers for optional values: firmware sends `<numOfMatches/>` or
//! `<enabled> true </enabled>`; an empty element is `None`, surrounding blanks are ignored,
//! and text that is not a value is still an error naming what was expected.

use std::{fmt::Display, str::FromStr};

use serde::{Deserialize, Deserializer, de::Error};

/// An optional number or boolean: empty text is `None`.
pub(super) fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let text = Option::<String>::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => value
            .parse()
            .map(Some)
            .map_err(|e| D::Error::custom(format!("{value:?}: {e}"))),
    }
}

/// An optional boolean: `true`/`false` in any case, or `1`/`0`; empty text is `None`.
pub(super) fn optional_bool<'de, D>(deserializer: D) -> Result<Option<bool>, D::Error>
where
    D: Deserializer<'de>,
{
    let text = Option::<String>::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) if value.eq_ignore_ascii_case("true") || value == "1" => Ok(Some(true)),
        Some(value) if value.eq_ignore_ascii_case("false") || value == "0" => Ok(Some(false)),
        Some(value) => Err(D::Error::custom(format!(
            "{value:?} is not a boolean (true or false)"
        ))),
    }
}
