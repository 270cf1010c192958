//! JPEG snapshots of the faces the box indexes, and of their keyframes.
//!
//! Each accepted face of a keyframe gets a crop (its box grown by half on every side, at
//! most [`FACE_SIDE`] pixels across) and each keyframe with a face gets one downscaled frame
//! ([`SearchConfig::snapshot_width`](crate::config::SearchConfig) wide). Paths are
//! deterministic, `snapshots/<recording>/<time_ms>.jpg` and
//! `snapshots/<recording>/<time_ms>-<face>.jpg` under the data directory, so processing a
//! recording again after a crash overwrites rather than duplicates, and a match names its
//! files without a table of paths. Files are written to a temporary name and renamed.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use image::{RgbImage, codecs::jpeg::JpegEncoder, imageops};
use pipeline::faces::{BoundingBox, RgbView};

/// Longest side of a face crop, in pixels.
pub(crate) const FACE_SIDE: u32 = 256;
const JPEG_QUALITY: u8 = 85;

/// Where snapshots live: `<data_dir>/snapshots`.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotStore {
    root: PathBuf,
    frame_width: u32,
}

impl SnapshotStore {
    pub(crate) fn new(data_dir: &Path, frame_width: u32) -> SnapshotStore {
        SnapshotStore {
            root: data_dir.join("snapshots"),
            frame_width,
        }
    }

    /// Relative to the data directory, as stored and served.
    pub(crate) fn frame_path(recording: i64, time_ms: i64) -> String {
        format!("snapshots/{recording}/{time_ms}.jpg")
    }

    pub(crate) fn face_path(recording: i64, time_ms: i64, face: u64) -> String {
        format!("snapshots/{recording}/{time_ms}-{face}.jpg")
    }

    /// Writes the frame and a crop of each face.
    pub(crate) fn write(
        &self,
        recording: i64,
        time_ms: i64,
        frame: RgbView<'_>,
        faces: &[BoundingBox],
    ) -> std::io::Result<()> {
        let dir = self.root.join(recording.to_string());
        std::fs::create_dir_all(&dir)?;
        let image = frame.to_image();
        let frame_path = dir.join(format!("{time_ms}.jpg"));
        write_jpeg(&frame_path, &scaled_to(&image, self.frame_width))?;
        for (n, face) in faces.iter().enumerate() {
            let crop = face_crop(&image, face);
            write_jpeg(&dir.join(format!("{time_ms}-{n}.jpg")), &crop)?;
        }
        Ok(())
    }
}

/// The face's box grown by half on every side, clipped to the frame, at most
/// [`FACE_SIDE`] across.
pub(crate) fn face_crop(image: &RgbImage, face: &BoundingBox) -> RgbImage {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let grow_x = face.width * 0.5;
    let grow_y = face.height * 0.5;
    let x0 = (face.x - grow_x).clamp(0.0, w - 1.0);
    let y0 = (face.y - grow_y).clamp(0.0, h - 1.0);
    let x1 = (face.x + face.width + grow_x).clamp(x0 + 1.0, w);
    let y1 = (face.y + face.height + grow_y).clamp(y0 + 1.0, h);
    let crop = imageops::crop_imm(
        image,
        x0 as u32,
        y0 as u32,
        (x1 - x0) as u32,
        (y1 - y0) as u32,
    )
    .to_image();
    let longest = crop.width().max(crop.height());
    if longest <= FACE_SIDE {
        return crop;
    }
    let scale = FACE_SIDE as f32 / longest as f32;
    imageops::resize(
        &crop,
        ((crop.width() as f32 * scale) as u32).max(1),
        ((crop.height() as f32 * scale) as u32).max(1),
        imageops::FilterType::Triangle,
    )
}

/// `image` scaled down to `width` pixels wide (kept as it is when narrower).
pub(crate) fn scaled_to(image: &RgbImage, width: u32) -> RgbImage {
    if image.width() <= width {
        return image.clone();
    }
    let height =
        (u64::from(image.height()) * u64::from(width) / u64::from(image.width().max(1))) as u32;
    imageops::resize(image, width, height.max(1), imageops::FilterType::Triangle)
}

/// `image` as a JPEG.
pub(crate) fn encode_jpeg(image: &RgbImage) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(64 * 1024);
    JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .encode_image(image)
        .map_err(std::io::Error::other)?;
    Ok(bytes)
}

fn write_jpeg(path: &Path, image: &RgbImage) -> std::io::Result<()> {
    let bytes = encode_jpeg(image)?;
    let tmp = path.with_extension("jpg.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&bytes)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_scaled_frame_and_a_clipped_face_crop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(dir.path(), 320);
        let pixels: Vec<u8> = (0..1280 * 720 * 3).map(|i| (i % 251) as u8).collect();
        let frame = RgbView::packed(1280, 720, &pixels).expect("view");
        let faces = [
            BoundingBox {
                x: 1200.0,
                y: 10.0,
                width: 100.0,
                height: 120.0,
            },
            BoundingBox {
                x: 100.0,
                y: 100.0,
                width: 400.0,
                height: 500.0,
            },
        ];
        store.write(7, 1_000, frame, &faces).expect("written");
        let frame =
            image::open(dir.path().join(SnapshotStore::frame_path(7, 1_000))).expect("frame jpeg");
        assert_eq!((frame.width(), frame.height()), (320, 180));
        let edge =
            image::open(dir.path().join(SnapshotStore::face_path(7, 1_000, 0))).expect("face jpeg");
        // Clipped at the right edge: 1200-50 .. 1280 is 130 wide.
        assert_eq!(edge.width(), 130);
        let big =
            image::open(dir.path().join(SnapshotStore::face_path(7, 1_000, 1))).expect("face jpeg");
        assert_eq!(big.width().max(big.height()), FACE_SIDE);
        let leftovers = std::fs::read_dir(dir.path().join("snapshots/7"))
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .map(|e| e.path().extension().is_some_and(|x| x == "tmp"))
                    .unwrap_or(false)
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
