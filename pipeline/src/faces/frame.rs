//! [`RgbView`]: borrowed RGB24 pixels (a keyframe's pooled buffer, a decoded photo), read in
//! place by every stage, never copied.

use image::RgbImage;

use super::error::FaceError;
#[cfg(feature = "keyframes")]
use crate::keyframes::Keyframe;

/// `height` rows of `width` RGB pixels (3 bytes each: R, G, B), row `y` starting at byte
/// `y * stride`. Rows may be padded (`stride > width * 3`).
#[derive(Clone, Copy)]
pub struct RgbView<'a> {
    width: u32,
    height: u32,
    stride: usize,
    pixels: &'a [u8],
}

impl<'a> RgbView<'a> {
    /// A view of `pixels`, checked: non-zero size, `stride >= width * 3`, and enough bytes
    /// for every row.
    pub fn new(
        width: u32,
        height: u32,
        stride: usize,
        pixels: &'a [u8],
    ) -> Result<RgbView<'a>, FaceError> {
        let row = width as usize * 3;
        let needed = (height as usize).saturating_sub(1) * stride + row;
        if width == 0 || height == 0 || stride < row || pixels.len() < needed {
            return Err(FaceError::InvalidFrame {
                detail: format!(
                    "{width}x{height} RGB24 with stride {stride} needs {needed} bytes and a \
                     stride of at least {row}; got {} bytes",
                    pixels.len()
                ),
            });
        }
        Ok(RgbView {
            width,
            height,
            stride,
            pixels,
        })
    }

    /// A view of tightly packed rows (`stride = width * 3`), as the keyframe extractor and
    /// [`RgbImage`] hold them.
    pub fn packed(width: u32, height: u32, pixels: &'a [u8]) -> Result<RgbView<'a>, FaceError> {
        RgbView::new(width, height, width as usize * 3, pixels)
    }

    /// The pixels of a decoded keyframe, in place.
    #[cfg(feature = "keyframes")]
    pub fn from_keyframe(keyframe: &'a Keyframe) -> Result<RgbView<'a>, FaceError> {
        RgbView::packed(keyframe.width, keyframe.height, &keyframe.pixels)
    }

    /// The pixels of an image (never empty for a non-empty image).
    pub fn from_image(image: &'a RgbImage) -> Result<RgbView<'a>, FaceError> {
        RgbView::packed(image.width(), image.height(), image.as_raw())
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The `width x height` rectangle at `(x, y)`, in place; `None` when it is empty or
    /// does not fit.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Option<RgbView<'a>> {
        let fits = width > 0
            && height > 0
            && x.checked_add(width)
                .is_some_and(|right| right <= self.width)
            && y.checked_add(height)
                .is_some_and(|bottom| bottom <= self.height);
        fits.then(|| RgbView {
            width,
            height,
            stride: self.stride,
            pixels: &self.pixels[y as usize * self.stride + x as usize * 3..],
        })
    }

    /// Row `y`'s `width * 3` bytes (`y < height`).
    pub fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride;
        &self.pixels[start..start + self.width as usize * 3]
    }

    /// A copy of the pixels as an image (for saving or tests).
    pub fn to_image(&self) -> RgbImage {
        let mut bytes = Vec::with_capacity(self.width as usize * self.height as usize * 3);
        for y in 0..self.height {
            bytes.extend_from_slice(self.row(y));
        }
        RgbImage::from_raw(self.width, self.height, bytes).unwrap_or_default()
    }
}

impl std::fmt::Debug for RgbView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbView")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride", &self.stride)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_check_their_bounds() {
        let bytes = vec![0u8; 2 * 10 + 6];
        // Two rows of 2 pixels with a stride of 10 bytes: the last row needs only 6.
        let view = RgbView::new(2, 3, 10, &bytes).expect("fits");
        assert_eq!(view.row(2).len(), 6);
        assert!(RgbView::new(2, 4, 10, &bytes).is_err(), "one row too many");
        assert!(
            RgbView::new(4, 1, 10, &bytes).is_err(),
            "stride under width * 3"
        );
        assert!(RgbView::new(0, 1, 10, &bytes).is_err(), "empty");
        let image = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let view = RgbView::from_image(&image).expect("an image is a valid view");
        assert_eq!(view.to_image(), image);
        assert_eq!(view.row(1), &[0, 1, 7, 1, 1, 7, 2, 1, 7]);
        let crop = view.crop(1, 1, 2, 1).expect("fits");
        assert_eq!((crop.width(), crop.height()), (2, 1));
        assert_eq!(crop.row(0), &[1, 1, 7, 2, 1, 7]);
        assert_eq!(crop.to_image().get_pixel(1, 0).0, [2, 1, 7]);
        assert!(view.crop(2, 0, 2, 1).is_none(), "too wide");
        assert!(view.crop(0, 1, 1, 2).is_none(), "too tall");
        assert!(view.crop(0, 0, 0, 1).is_none(), "empty");
    }
}
