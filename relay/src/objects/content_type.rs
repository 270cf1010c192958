//! The content types the store keeps: JPEG and PNG images, and box software packages.

use std::fmt;

use super::ObjectError;

/// An object's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `image/jpeg`, keys ending in `.jpg`.
    Jpeg,
    /// `image/png`, keys ending in `.png`.
    Png,
    /// `application/vnd.debian.binary-package`, keys ending in `.deb`: box software
    /// packages, written by the relay only.
    Deb,
}

impl ContentType {
    /// Reads a `Content-Type` value: `image/jpeg` or `image/png` (any case, surrounding
    /// blanks ignored); anything else, parameters included, is refused.
    pub fn parse(text: &str) -> Result<ContentType, ObjectError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("image/jpeg") {
            Ok(ContentType::Jpeg)
        } else if text.eq_ignore_ascii_case("image/png") {
            Ok(ContentType::Png)
        } else {
            Err(ObjectError::Invalid(
                "the content type must be image/jpeg or image/png".to_owned(),
            ))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Jpeg => "image/jpeg",
            ContentType::Png => "image/png",
            ContentType::Deb => "application/vnd.debian.binary-package",
        }
    }

    /// The extension of keys holding this type, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ContentType::Jpeg => "jpg",
            ContentType::Png => "png",
            ContentType::Deb => "deb",
        }
    }

    /// The type a key's extension says, if it has one of ours.
    pub(crate) fn from_key(key: &str) -> Option<ContentType> {
        if key.ends_with(".jpg") {
            Some(ContentType::Jpeg)
        } else if key.ends_with(".png") {
            Some(ContentType::Png)
        } else if key.ends_with(".deb") {
            Some(ContentType::Deb)
        } else {
            None
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jpeg_and_png_are_taken() {
        assert_eq!(
            ContentType::parse("image/jpeg").ok(),
            Some(ContentType::Jpeg)
        );
        assert_eq!(
            ContentType::parse(" Image/PNG ").ok(),
            Some(ContentType::Png)
        );
        for refused in [
            "",
            "image/gif",
            "image/jpeg; q=1",
            "text/plain",
            "image/jpg",
        ] {
            let error = ContentType::parse(refused).expect_err(refused);
            assert!(
                matches!(error, ObjectError::Invalid(_)),
                "{refused}: {error}"
            );
        }
    }
}
