//! Query photos: a JPEG or PNG of any size, decoded upright (its EXIF orientation applied),
//! and the choice of one face among those found.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use super::detector::Detection;
use super::error::{FaceError, FoundFace};

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
    decode_upright_from(reader, path)
}

/// A photo's bytes (JPEG or PNG), decoded to RGB and turned upright by its EXIF orientation;
/// errors call it `name`.
pub fn decode_upright(bytes: &[u8], name: &Path) -> Result<RgbImage, FaceError> {
    decode_upright_from(ImageReader::new(std::io::Cursor::new(bytes)), name)
}

fn photo_error(path: &Path, source: image::ImageError) -> FaceError {
    FaceError::Photo {
        path: path.to_owned(),
        source,
    }
}

fn decode_upright_from<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
    path: &Path,
) -> Result<RgbImage, FaceError> {
    let photo_error = |source| photo_error(path, source);
    let mut decoder = reader
        .with_guessed_format()
        .map_err(|e| photo_error(image::ImageError::IoError(e)))?
        .into_decoder()
        .map_err(photo_error)?;
    let orientation = decoder.orientation().map_err(photo_error)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(photo_error)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
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
