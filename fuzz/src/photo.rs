//! A query photo as an operator uploads it to the box or the relay's face library: decoded
//! (JPEG or PNG) and turned upright by its EXIF orientation, or refused with a reason.

use pipeline::photo::decode_upright;

pub(crate) fn run(data: &[u8]) {
    if let Ok(image) = decode_upright(data) {
        assert!(
            image.width() > 0 && image.height() > 0,
            "a photo of {}x{} pixels was accepted",
            image.width(),
            image.height()
        );
    }
}
