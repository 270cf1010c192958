//! Each camera's latest keyframe, for the local page's camera list: the indexer offers every
//! keyframe it decodes; one at least [`EVERY_MS`] newer (in footage time) than the one kept
//! is encoded as a JPEG [`WIDTH`] pixels wide and kept in memory, so the encoding costs one
//! small JPEG per camera per minute of footage.

use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;
use pipeline::faces::RgbView;

/// Footage time between two kept keyframes of a camera.
const EVERY_MS: i64 = 60_000;
/// The kept JPEG's width, in pixels.
const WIDTH: u32 = 480;

/// A kept keyframe: its footage time (Unix ms) and JPEG.
#[derive(Debug, Clone)]
pub(crate) struct LatestFrame {
    pub(crate) time_ms: i64,
    pub(crate) jpeg: Arc<Vec<u8>>,
}

/// The kept keyframes by camera; cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatestFrames {
    kept: Arc<Mutex<HashMap<i64, LatestFrame>>>,
}

impl LatestFrames {
    /// Keeps `frame` as `camera`'s latest if it is newer enough than the kept one.
    pub(crate) fn offer(&self, camera: i64, time_ms: i64, frame: RgbView<'_>) {
        let wanted = self
            .kept
            .lock()
            .get(&camera)
            .is_none_or(|kept| time_ms >= kept.time_ms + EVERY_MS);
        if !wanted {
            return;
        }
        let image = super::snapshots::scaled_to(&frame.to_image(), WIDTH);
        match super::snapshots::encode_jpeg(&image) {
            Ok(jpeg) => {
                let mut kept = self.kept.lock();
                let newer = kept.get(&camera).is_none_or(|k| time_ms > k.time_ms);
                if newer {
                    kept.insert(
                        camera,
                        LatestFrame {
                            time_ms,
                            jpeg: Arc::new(jpeg),
                        },
                    );
                }
            }
            Err(e) => tracing::debug!(camera, error = %e, "latest keyframe not encoded"),
        }
    }

    pub(crate) fn get(&self, camera: i64) -> Option<LatestFrame> {
        self.kept.lock().get(&camera).cloned()
    }

    /// Forgets a camera (deleted).
    pub(crate) fn forget(&self, camera: i64) {
        self.kept.lock().remove(&camera);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_keyframe_a_minute_of_footage_and_never_an_older_one() {
        let latest = LatestFrames::default();
        let pixels = vec![128u8; 640 * 360 * 3];
        let frame = RgbView::packed(640, 360, &pixels).expect("view");
        assert!(latest.get(1).is_none());
        latest.offer(1, 1_000_000, frame);
        let first = latest.get(1).expect("kept");
        assert_eq!(first.time_ms, 1_000_000);
        assert_eq!(&first.jpeg[..2], &[0xFF, 0xD8], "a JPEG");
        let decoded = image::load_from_memory(&first.jpeg).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (480, 270));
        latest.offer(1, 1_030_000, frame);
        assert_eq!(latest.get(1).expect("kept").time_ms, 1_000_000, "too soon");
        latest.offer(1, 1_060_000, frame);
        assert_eq!(latest.get(1).expect("kept").time_ms, 1_060_000);
        latest.offer(1, 10, frame);
        assert_eq!(latest.get(1).expect("kept").time_ms, 1_060_000, "older");
        latest.forget(1);
        assert!(latest.get(1).is_none());
    }
}
