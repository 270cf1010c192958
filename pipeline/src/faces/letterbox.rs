//! Letterboxing: a frame of any size scaled (aspect kept) into the top-left corner of the
//! detector's input, the rest padded with zeros, and detections mapped back to the frame.
//!
//! Scaling is separable with a triangle (tent) filter whose support widens with the shrink
//! factor, so a large frame is area-averaged rather than point-sampled (no aliasing), and a
//! small one is bilinearly enlarged.

use super::frame::RgbView;
use super::geometry::{BoundingBox, Point};

/// Where a frame lands in the detector's input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub frame_width: u32,
    pub frame_height: u32,
    pub input_width: u32,
    pub input_height: u32,
    /// The scaled frame's size in the input (the rest is padding).
    pub scaled_width: u32,
    pub scaled_height: u32,
}

impl Letterbox {
    /// The largest aspect-keeping fit of the frame into the input.
    pub fn fit(frame_width: u32, frame_height: u32, input_width: u32, input_height: u32) -> Self {
        let scale = (f64::from(input_width) / f64::from(frame_width))
            .min(f64::from(input_height) / f64::from(frame_height));
        let scaled =
            |side: u32, limit: u32| ((f64::from(side) * scale).round() as u32).clamp(1, limit);
        Letterbox {
            frame_width,
            frame_height,
            input_width,
            input_height,
            scaled_width: scaled(frame_width, input_width),
            scaled_height: scaled(frame_height, input_height),
        }
    }

    /// Input pixels per frame pixel, horizontally and vertically (equal up to rounding).
    pub fn scale(&self) -> (f32, f32) {
        (
            self.scaled_width as f32 / self.frame_width as f32,
            self.scaled_height as f32 / self.frame_height as f32,
        )
    }

    /// A point of the input in frame coordinates.
    pub fn to_frame(&self, p: Point) -> Point {
        let (sx, sy) = self.scale();
        Point::new(p.x / sx, p.y / sy)
    }

    /// A box of the input in frame coordinates, clipped to the frame.
    pub fn box_to_frame(&self, b: &BoundingBox) -> BoundingBox {
        let top_left = self.to_frame(Point::new(b.x, b.y));
        let bottom_right = self.to_frame(Point::new(b.right(), b.bottom()));
        let (w, h) = (self.frame_width as f32, self.frame_height as f32);
        let x = top_left.x.clamp(0.0, w);
        let y = top_left.y.clamp(0.0, h);
        BoundingBox {
            x,
            y,
            width: bottom_right.x.clamp(0.0, w) - x,
            height: bottom_right.y.clamp(0.0, h) - y,
        }
    }

    /// Fills `out` (`3 * input_height * input_width` floats, planar B, G, R, 0..255 as the
    /// detector wants them) with the scaled frame and zero padding.
    pub fn fill_bgr_planes(&self, frame: RgbView<'_>, out: &mut [f32]) {
        let (width, height) = (self.input_width as usize, self.input_height as usize);
        let plane = width * height;
        out.fill(0.0);
        let columns = filter_taps(frame.width(), self.scaled_width);
        let rows = filter_taps(frame.height(), self.scaled_height);
        let mut blended = vec![0.0f32; frame.width() as usize * 3];
        for (out_y, row_taps) in rows.iter().enumerate() {
            // Vertical pass: one source-width row, blended from the rows under the tap.
            blended.fill(0.0);
            for &(source_y, weight) in row_taps {
                let source = frame.row(source_y);
                for (acc, &value) in blended.iter_mut().zip(source) {
                    *acc += weight * f32::from(value);
                }
            }
            // Horizontal pass, written as B, G, R planes.
            let row_start = out_y * width;
            for (out_x, column_taps) in columns.iter().enumerate() {
                let (mut r, mut g, mut b) = (0.0f32, 0.0f32, 0.0f32);
                for &(source_x, weight) in column_taps {
                    let i = source_x as usize * 3;
                    r += weight * blended[i];
                    g += weight * blended[i + 1];
                    b += weight * blended[i + 2];
                }
                out[row_start + out_x] = b;
                out[plane + row_start + out_x] = g;
                out[2 * plane + row_start + out_x] = r;
            }
        }
    }
}

/// For each of `dst` output samples, the source indices and normalised weights of a tent
/// filter mapping `src` samples onto `dst` (pixel centres aligned, support `max(1,
/// src / dst)` source pixels each side).
fn filter_taps(src: u32, dst: u32) -> Vec<Vec<(u32, f32)>> {
    let ratio = f64::from(src) / f64::from(dst);
    let radius = ratio.max(1.0);
    (0..dst)
        .map(|o| {
            let centre = (f64::from(o) + 0.5) * ratio - 0.5;
            let first = (centre - radius).ceil().max(0.0) as u32;
            let last = ((centre + radius).floor().max(0.0) as u32).min(src - 1);
            let mut taps: Vec<(u32, f32)> = (first..=last)
                .filter_map(|i| {
                    let weight = 1.0 - (f64::from(i) - centre).abs() / radius;
                    (weight > 1e-6).then_some((i, weight as f32))
                })
                .collect();
            if taps.is_empty() {
                // The centre lies outside the source (only at the clamped edges).
                taps.push((centre.round().clamp(0.0, f64::from(src - 1)) as u32, 1.0));
            }
            let total: f32 = taps.iter().map(|&(_, w)| w).sum();
            for tap in &mut taps {
                tap.1 /= total;
            }
            taps
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_the_aspect_and_maps_back() {
        let check = |frame: (u32, u32), input: (u32, u32), scaled: (u32, u32)| {
            let letterbox = Letterbox::fit(frame.0, frame.1, input.0, input.1);
            assert_eq!(
                (letterbox.scaled_width, letterbox.scaled_height),
                scaled,
                "{frame:?} into {input:?}"
            );
        };
        check((1920, 1080), (640, 640), (640, 360));
        check((1080, 1920), (640, 640), (360, 640));
        check((640, 360), (640, 384), (640, 360));
        check((512, 512), (640, 640), (640, 640));
        check((100, 50), (1280, 736), (1280, 640));

        let letterbox = Letterbox::fit(1920, 1080, 640, 384);
        let p = letterbox.to_frame(Point::new(320.0, 180.0));
        assert!(
            (p.x - 960.0).abs() < 1e-3 && (p.y - 540.0).abs() < 1e-3,
            "{p:?}"
        );
        let b = letterbox.box_to_frame(&BoundingBox {
            x: 10.0,
            y: 20.0,
            width: 30.0,
            height: 40.0,
        });
        let expected = BoundingBox {
            x: 30.0,
            y: 60.0,
            width: 90.0,
            height: 120.0,
        };
        assert!(b.iou(&expected) > 0.999, "{b:?} vs {expected:?}");
        // A box reaching into the padding is clipped to the frame.
        let clipped = letterbox.box_to_frame(&BoundingBox {
            x: 600.0,
            y: 350.0,
            width: 80.0,
            height: 30.0,
        });
        assert_eq!((clipped.right(), clipped.bottom()), (1920.0, 1080.0));
    }

    #[test]
    fn scaled_pixels_land_where_the_mapping_says() {
        // A 300x200 frame, black with a white 30x20 rectangle at (150, 100), shrunk 3x into
        // a 100x96 input: the rectangle becomes 10x6.7 at (50, 33.5), in B, G and R.
        let mut image = image::RgbImage::new(300, 200);
        for y in 100..120 {
            for x in 150..180 {
                image.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let frame = RgbView::from_image(&image).expect("valid");
        let letterbox = Letterbox::fit(300, 200, 100, 96);
        assert_eq!((letterbox.scaled_width, letterbox.scaled_height), (100, 67));
        let mut planes = vec![f32::NAN; 3 * 100 * 96];
        letterbox.fill_bgr_planes(frame, &mut planes);
        let at = |channel: usize, x: usize, y: usize| planes[channel * 100 * 96 + y * 100 + x];
        for channel in 0..3 {
            assert!(at(channel, 55, 36) > 250.0, "inside the rectangle");
            assert!(at(channel, 45, 36) < 1.0, "left of it");
            assert!(at(channel, 55, 28) < 1.0, "above it");
            assert_eq!(at(channel, 20, 80), 0.0, "padding below");
        }
        // The bright area's centroid maps back to the rectangle's centre.
        let (mut sum, mut sx, mut sy) = (0.0f32, 0.0f32, 0.0f32);
        for y in 0..96 {
            for x in 0..100 {
                let v = at(0, x, y);
                sum += v;
                sx += v * (x as f32 + 0.5);
                sy += v * (y as f32 + 0.5);
            }
        }
        let centre = letterbox.to_frame(Point::new(sx / sum, sy / sum));
        assert!(
            (centre.x - 165.0).abs() < 0.5 && (centre.y - 110.0).abs() < 0.5,
            "{centre:?}"
        );
    }

    #[test]
    fn channels_are_swapped_to_bgr() {
        let image = image::RgbImage::from_pixel(4, 4, image::Rgb([10, 20, 30]));
        let frame = RgbView::from_image(&image).expect("valid");
        let letterbox = Letterbox::fit(4, 4, 8, 8);
        let mut planes = vec![0.0; 3 * 64];
        letterbox.fill_bgr_planes(frame, &mut planes);
        assert_eq!((planes[0], planes[64], planes[128]), (30.0, 20.0, 10.0));
        assert_eq!((planes[63], planes[127], planes[191]), (30.0, 20.0, 10.0));
    }
}
