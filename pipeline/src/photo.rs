//! Photos as people upload them (a query photo on the box, a person's photo in the relay's
//! face library): a JPEG or PNG, decoded to RGB and turned upright by its EXIF orientation,
//! within limits checked before the pixels are. The `photo` feature: the image crate alone,
//! without the face models, so what only reads photos (the fuzzer) does not build them.

use std::io::{BufRead, Cursor, Seek};

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, RgbImage};

/// The longest side a photo may have, in pixels: a 50-megapixel phone photo fits
/// (8160x6120); a larger one is refused before it is decoded, as is one whose header claims
/// more than it holds (a few hundred bytes can claim terabytes of pixels).
pub const MAX_PHOTO_SIDE: u32 = 8192;

/// The most memory decoding one photo may take (an 8192x8192 RGB image is 192 MiB).
const MAX_PHOTO_BYTES: u64 = 256 * 1024 * 1024;

/// A photo's bytes (JPEG or PNG), decoded to RGB and turned upright.
pub fn decode_upright(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    decode_upright_from(ImageReader::new(Cursor::new(bytes)))
}

/// The photo `reader` reads, decoded to RGB and turned upright.
pub fn decode_upright_from<R: BufRead + Seek>(
    reader: ImageReader<R>,
) -> Result<RgbImage, ImageError> {
    let mut decoder = reader
        .with_guessed_format()
        .map_err(ImageError::IoError)?
        .into_decoder()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PHOTO_SIDE);
    limits.max_image_height = Some(MAX_PHOTO_SIDE);
    limits.max_alloc = Some(MAX_PHOTO_BYTES);
    decoder.set_limits(limits)?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}
