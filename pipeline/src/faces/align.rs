//! Alignment: the similarity transform (least squares, 4 degrees of freedom) that puts a
//! face's five landmarks where dlib's 150x150 face chips have them, and the warped crop.
//!
//! The template is derived from dlib's `get_face_chip_details(shape, 150, 0.25)`: dlib maps
//! its mean face shape (68-point iBUG layout, in a unit square) to chip pixels as
//! `(0.25 + m) / 1.5 * 150`. Of that shape we take the centres of the two eyes (mean of
//! points 36-41 and 42-47), the nose tip (point 30) and the mouth corners (points 48 and
//! 54), which are the five points YuNet finds. dlib fits its chip on 33 points, so ours sits
//! within a pixel or two of dlib's for a frontal face.
//!
//! Each chip pixel samples the frame bilinearly at its centre; when the chip shrinks the
//! face (more than 1.5 frame pixels per chip pixel) it averages a grid of up to 4x4 such
//! samples, as dlib's pyramid does, so large faces are not aliased. Outside the frame is
//! black, as in dlib's chips.

use image::RgbImage;

use super::frame::RgbView;
use super::geometry::{Landmarks, Point, Similarity};

/// The embedder's input side, in pixels.
pub const CHIP_SIZE: u32 = 150;

/// dlib's chip padding around the mean face, in units of the face's size.
const CHIP_PADDING: f32 = 0.25;

/// dlib's mean face shape (`get_face_chip_details`), the points this module uses, in the
/// unit square: points 36-41 (the person's right eye), 42-47 (left eye), 30 (nose tip), 48
/// and 54 (mouth corners).
const MEAN_RIGHT_EYE: [(f32, f32); 6] = [
    (0.121737, 0.216423),
    (0.187122, 0.178758),
    (0.265825, 0.179852),
    (0.334606, 0.231733),
    (0.260918, 0.245099),
    (0.182743, 0.244077),
];
const MEAN_LEFT_EYE: [(f32, f32); 6] = [
    (0.645647, 0.231733),
    (0.714428, 0.179852),
    (0.793132, 0.178758),
    (0.858516, 0.216423),
    (0.79751, 0.244077),
    (0.719335, 0.245099),
];
const MEAN_NOSE_TIP: (f32, f32) = (0.490127, 0.515625);
const MEAN_MOUTH_RIGHT: (f32, f32) = (0.254149, 0.780233);
const MEAN_MOUTH_LEFT: (f32, f32) = (0.726104, 0.780233);

/// Where the five landmarks go in the chip, in chip pixels (`x = 0` the chip's left edge).
/// dlib's coordinates put pixel centres on integers, hence the half pixel.
pub fn chip_template() -> Landmarks {
    let to_chip = |(x, y): (f32, f32)| {
        let scale = CHIP_SIZE as f32 / (1.0 + 2.0 * CHIP_PADDING);
        Point::new(
            (CHIP_PADDING + x) * scale + 0.5,
            (CHIP_PADDING + y) * scale + 0.5,
        )
    };
    let centre = |points: &[(f32, f32); 6]| {
        let (sx, sy) = points
            .iter()
            .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
        (sx / 6.0, sy / 6.0)
    };
    Landmarks([
        to_chip(centre(&MEAN_RIGHT_EYE)),
        to_chip(centre(&MEAN_LEFT_EYE)),
        to_chip(MEAN_NOSE_TIP),
        to_chip(MEAN_MOUTH_RIGHT),
        to_chip(MEAN_MOUTH_LEFT),
    ])
}

/// A face warped to the embedder's 150x150 RGB chip.
#[derive(Clone)]
pub struct AlignedFace {
    /// `CHIP_SIZE * CHIP_SIZE` RGB pixels, row by row.
    pixels: Box<[u8]>,
    /// Chip coordinates to frame coordinates.
    to_frame: Similarity,
}

impl AlignedFace {
    /// The chip's RGB bytes, row by row.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The transform from chip to frame coordinates.
    pub fn to_frame(&self) -> Similarity {
        self.to_frame
    }

    /// Frame pixels per chip pixel (below 1: the face was enlarged).
    pub fn frame_pixels_per_chip_pixel(&self) -> f32 {
        self.to_frame.scale()
    }

    /// A copy as an image (to look at, or save as PNG).
    pub fn to_image(&self) -> RgbImage {
        RgbImage::from_raw(CHIP_SIZE, CHIP_SIZE, self.pixels.to_vec()).unwrap_or_default()
    }
}

impl std::fmt::Debug for AlignedFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedFace")
            .field("to_frame", &self.to_frame)
            .finish_non_exhaustive()
    }
}

/// The transform from chip to frame coordinates that best puts the template on
/// `landmarks`; `None` for degenerate landmarks (all at one point, or not finite).
pub fn chip_to_frame(landmarks: &Landmarks) -> Option<Similarity> {
    Similarity::least_squares(&chip_template().0, &landmarks.0).filter(|to_frame| {
        to_frame.scale() > 1e-3 && to_frame.tx.is_finite() && to_frame.ty.is_finite()
    })
}

/// The face with these landmarks as a 150x150 chip; `None` for degenerate landmarks.
pub fn align(frame: RgbView<'_>, landmarks: &Landmarks) -> Option<AlignedFace> {
    let to_frame = chip_to_frame(landmarks)?;
    let mut pixels = vec![0u8; (CHIP_SIZE * CHIP_SIZE * 3) as usize].into_boxed_slice();
    warp_rgb(frame, &to_frame, CHIP_SIZE, &mut pixels);
    Some(AlignedFace { pixels, to_frame })
}

/// Fills `out` (`size * size` RGB pixels) with the frame seen through `to_frame` (chip
/// pixels to frame pixels for a `size`-pixel chip).
fn warp_rgb(frame: RgbView<'_>, to_frame: &Similarity, size: u32, out: &mut [u8]) {
    let samples = samples_per_axis(to_frame.scale());
    let step = 1.0 / samples as f32;
    let weight = 1.0 / (samples * samples) as f32;
    for row in 0..size {
        for column in 0..size {
            let mut sum = [0.0f32; 3];
            for j in 0..samples {
                let dy = (j as f32 + 0.5) * step;
                for i in 0..samples {
                    let dx = (i as f32 + 0.5) * step;
                    let p = to_frame.apply(Point::new(column as f32 + dx, row as f32 + dy));
                    let rgb = bilinear(frame, p);
                    for (s, v) in sum.iter_mut().zip(rgb) {
                        *s += v;
                    }
                }
            }
            let at = ((row * size + column) * 3) as usize;
            for (o, s) in out[at..at + 3].iter_mut().zip(sum) {
                *o = (s * weight).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Sub-samples per chip pixel and axis: 1 while the chip does not shrink the face much,
/// then one per frame pixel covered, at most 4.
fn samples_per_axis(frame_pixels_per_chip_pixel: f32) -> u32 {
    if frame_pixels_per_chip_pixel <= 1.5 {
        1
    } else {
        (frame_pixels_per_chip_pixel.ceil() as u32).min(4)
    }
}

/// The frame's colour at `p` (frame coordinates), interpolated between the four nearest
/// pixel centres; black when any of them is outside the frame.
fn bilinear(frame: RgbView<'_>, p: Point) -> [f32; 3] {
    let (u, v) = (p.x - 0.5, p.y - 0.5);
    let (x0, y0) = (u.floor(), v.floor());
    if !(x0 >= 0.0 && y0 >= 0.0)
        || x0 + 1.0 >= frame.width() as f32
        || y0 + 1.0 >= frame.height() as f32
    {
        return [0.0; 3];
    }
    let (fx, fy) = (u - x0, v - y0);
    let (x0, y0) = (x0 as usize, y0 as usize);
    let top = &frame.row(y0 as u32)[x0 * 3..x0 * 3 + 6];
    let bottom = &frame.row(y0 as u32 + 1)[x0 * 3..x0 * 3 + 6];
    let mut rgb = [0.0f32; 3];
    for (channel, value) in rgb.iter_mut().enumerate() {
        let t = f32::from(top[channel]) * (1.0 - fx) + f32::from(top[channel + 3]) * fx;
        let b = f32::from(bottom[channel]) * (1.0 - fx) + f32::from(bottom[channel + 3]) * fx;
        *value = t * (1.0 - fy) + b * fy;
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matches_dlibs_chip_layout() {
        // dlib's chip coordinates of the five points (pixel centres on integers), worked
        // out by hand from the mean shape: (0.25 + m) * 100.
        let expected = [
            (47.549, 46.599),
            (100.476, 46.599),
            (74.013, 76.563),
            (50.415, 103.023),
            (97.610, 103.023),
        ];
        for (point, (x, y)) in chip_template().0.iter().zip(expected) {
            assert!(
                (point.x - 0.5 - x).abs() < 0.01 && (point.y - 0.5 - y).abs() < 0.01,
                "{point:?} vs ({x}, {y})"
            );
        }
    }

    /// The colour of each landmark's disc in [`frame_with_marks`].
    const MARK_COLOURS: [[u8; 3]; 5] = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [0, 255, 255],
    ];

    /// A synthetic frame: grey, with a distinct colour disc at each of five landmark
    /// positions.
    fn frame_with_marks(width: u32, height: u32, landmarks: &Landmarks, radius: f32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let p = Point::new(x as f32 + 0.5, y as f32 + 0.5);
            for (mark, colour) in landmarks.0.iter().zip(MARK_COLOURS) {
                if p.distance(*mark) <= radius {
                    return image::Rgb(colour);
                }
            }
            image::Rgb([128, 128, 128])
        })
    }

    #[test]
    fn landmarks_land_on_the_template() {
        // The template turned by 30 degrees, scaled by 2.4 (so the chip shrinks the face
        // and averages sub-samples) and moved: alignment must undo exactly that.
        let truth = Similarity {
            a: 2.4 * 30f32.to_radians().cos(),
            b: 2.4 * 30f32.to_radians().sin(),
            tx: 160.0,
            ty: -20.0,
        };
        let landmarks = chip_template().map(|p| truth.apply(p));
        let to_frame = chip_to_frame(&landmarks).expect("not degenerate");
        for (name, found, expected) in [
            ("a", to_frame.a, truth.a),
            ("b", to_frame.b, truth.b),
            ("tx", to_frame.tx, truth.tx),
            ("ty", to_frame.ty, truth.ty),
        ] {
            assert!(
                (found - expected).abs() < 1e-3,
                "{name}: {found} vs {expected}"
            );
        }
        let image = frame_with_marks(400, 400, &landmarks, 7.0);
        let frame = RgbView::from_image(&image).expect("valid");
        let face = align(frame, &landmarks).expect("aligned");
        let chip = face.to_image();
        for (point, colour) in chip_template().0.iter().zip(MARK_COLOURS) {
            let pixel = chip.get_pixel(point.x as u32, point.y as u32).0;
            let off = pixel
                .iter()
                .zip(colour)
                .map(|(&a, b)| (i32::from(a) - i32::from(b)).abs())
                .max()
                .unwrap_or(0);
            assert!(
                off <= 2,
                "chip at {point:?} is {pixel:?}, expected {colour:?}"
            );
        }
        // Away from the marks the chip is the frame's grey, and outside the frame black.
        assert_eq!(chip.get_pixel(75, 20).0, [128, 128, 128]);
    }

    #[test]
    fn outside_the_frame_is_black() {
        let landmarks = chip_template().map(|p| Point::new(p.x - 60.0, p.y - 60.0));
        let image = RgbImage::from_pixel(200, 200, image::Rgb([200, 100, 50]));
        let face = align(RgbView::from_image(&image).expect("valid"), &landmarks).expect("aligned");
        let chip = face.to_image();
        assert_eq!(chip.get_pixel(10, 10).0, [0, 0, 0], "maps to (-50, -50)");
        assert_eq!(
            chip.get_pixel(140, 140).0,
            [200, 100, 50],
            "maps to (80, 80)"
        );
    }

    #[test]
    fn degenerate_landmarks_are_refused() {
        let point = Point::new(3.0, 4.0);
        let image = RgbImage::new(10, 10);
        let frame = RgbView::from_image(&image).expect("valid");
        assert!(align(frame, &Landmarks([point; 5])).is_none());
    }
}
