//! Query photos: a JPEG or PNG of any size, decoded upright (its EXIF orientation applied),
//! and the choice of one face among those found.

use std::path::Path;

use image::{ImageReader, RgbImage};

use super::detector::Detection;
use super::error::{FaceError, FoundFace};
use super::geometry::BoundingBox;

/// Which face of a query photo to search for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FacePick {
    /// The photo must hold exactly one face.
    #[default]
    Only,
    /// The `n`th face found, best detector score first (as the error listing them shows).
    Index(usize),
    /// The face with the largest box.
    Largest,
}

/// The photo at `path`, decoded to RGB and turned upright by its EXIF orientation.
pub fn load_upright(path: &Path) -> Result<RgbImage, FaceError> {
    let reader =
        ImageReader::open(path).map_err(|e| photo_error(path, image::ImageError::IoError(e)))?;
    crate::photo::decode_upright_from(reader).map_err(|e| photo_error(path, e))
}

/// A photo's bytes (JPEG or PNG), decoded to RGB and turned upright by its EXIF orientation;
/// errors call it `name`.
pub fn decode_upright(bytes: &[u8], name: &Path) -> Result<RgbImage, FaceError> {
    crate::photo::decode_upright(bytes).map_err(|e| photo_error(name, e))
}

fn photo_error(path: &Path, source: image::ImageError) -> FaceError {
    FaceError::Photo {
        path: path.to_owned(),
        source,
    }
}

/// The photo with a border of a third of its longer side on every side, filled with the
/// mean colour of its edge pixels, and the border's width.
pub(super) fn padded(image: &RgbImage) -> (RgbImage, u32) {
    let (width, height) = image.dimensions();
    let border = width.max(height).div_ceil(3);
    let edge = (0..width)
        .flat_map(|x| [(x, 0), (x, height - 1)])
        .chain((0..height).flat_map(|y| [(0, y), (width - 1, y)]));
    let (mut sum, mut n) = ([0u64; 3], 0u64);
    for (x, y) in edge {
        let pixel = image.get_pixel(x, y);
        for (total, value) in sum.iter_mut().zip(pixel.0) {
            *total += u64::from(value);
        }
        n += 1;
    }
    let mean = image::Rgb(sum.map(|total| (total / n.max(1)) as u8));
    let mut out = RgbImage::from_pixel(width + 2 * border, height + 2 * border, mean);
    image::imageops::replace(&mut out, image, i64::from(border), i64::from(border));
    (out, border)
}

/// Moves a detection made on [`padded`]'s picture back to the photo's pixels, its box
/// clipped to the photo (landmarks are not clipped, as for any detection).
pub(super) fn unpad(detection: &mut Detection, border: u32, (width, height): (u32, u32)) {
    let border = border as f32;
    let b = &mut detection.bbox;
    let (left, top) = ((b.x - border).max(0.0), (b.y - border).max(0.0));
    let right = (b.x + b.width - border).min(width as f32);
    let bottom = (b.y + b.height - border).min(height as f32);
    *b = BoundingBox {
        x: left,
        y: top,
        width: (right - left).max(0.0),
        height: (bottom - top).max(0.0),
    };
    for point in &mut detection.landmarks.0 {
        point.x -= border;
        point.y -= border;
    }
}

/// The index of the face `pick` chooses among `faces` (best score first), or the error
/// that lists them.
pub(super) fn pick_face(
    path: &Path,
    faces: &[Detection],
    pick: FacePick,
) -> Result<usize, FaceError> {
    let found = || -> Vec<FoundFace> {
        faces
            .iter()
            .map(|face| FoundFace {
                bbox: face.bbox,
                score: face.score,
            })
            .collect()
    };
    if faces.is_empty() {
        return Err(FaceError::NoFace {
            path: path.to_owned(),
        });
    }
    match pick {
        FacePick::Only if faces.len() == 1 => Ok(0),
        FacePick::Only => Err(FaceError::SeveralFaces {
            path: path.to_owned(),
            faces: found(),
        }),
        FacePick::Index(index) if index < faces.len() => Ok(index),
        FacePick::Index(index) => Err(FaceError::NoSuchFace {
            path: path.to_owned(),
            index,
            faces: found(),
        }),
        FacePick::Largest => Ok(faces
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| a.bbox.area().total_cmp(&b.bbox.area()))
            .map(|(i, _)| i)
            .unwrap_or(0)),
    }
}
