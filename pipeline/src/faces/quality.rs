//! The quality gate: size, detector score, pose from the landmarks and sharpness of the
//! aligned face, so that small, doubtful, turned or blurred faces never reach a search.
//!
//! Pose: in the frame turned so the eye line is level, the nose tip of a frontal face lies
//! on the line from the eyes' midpoint to the mouth's. A head turned by `yaw` moves the
//! nose tip (about half the eye distance in front of the eyes) sideways by `depth * sin`,
//! while the eye distance shrinks by `cos`, so the nose's offset over half the eye distance
//! is about `tan(yaw)`: `yaw = atan(offset)`. Roll is the eye line's angle.
//!
//! Sharpness: the standard deviation of the 4-neighbour Laplacian over the standard
//! deviation of the grey levels, over the middle of the face (eyes, nose, mouth; little
//! background), at the face's own resolution when it is smaller than the embedder's chip
//! (measured on the frame's pixels, untouched by resampling) and on the chip when larger
//! (what the embedder sees). Dividing by the grey levels' spread makes it independent of
//! contrast and exposure.

use super::align::{AlignedFace, CHIP_SIZE};
use super::config::QualityConfig;
use super::frame::RgbView;
use super::geometry::{Landmarks, Point, Similarity};

/// The middle of the face in chip pixels (left, top, right, bottom): from the outer eye
/// corners to the cheeks, from the brows to below the mouth.
const MEASURED_REGION: (f32, f32, f32, f32) = (35.0, 38.0, 115.0, 120.0);

/// How good a face is, as the gate measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceQuality {
    /// Detector score, 0..1.
    pub score: f32,
    /// Distance between the eye centres, in frame pixels.
    pub inter_ocular: f32,
    /// Estimated head turn, in degrees; positive when the nose points to the image's right.
    pub yaw_degrees: f32,
    /// Eye line angle, in degrees; positive when the image's right eye is lower.
    pub roll_degrees: f32,
    /// See the module documentation; NaN until measured (faces rejected before alignment).
    pub sharpness: f32,
}

impl std::fmt::Display for FaceQuality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "score {:.2}, eyes {:.1} px apart, yaw {:.0} deg, roll {:.0} deg, sharpness {:.2}",
            self.score, self.inter_ocular, self.yaw_degrees, self.roll_degrees, self.sharpness
        )
    }
}

/// Why the gate turned a face away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    TooSmall,
    LowScore,
    Turned,
    Blurred,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rejection::TooSmall => "too small",
            Rejection::LowScore => "low detector score",
            Rejection::Turned => "turned away or tilted",
            Rejection::Blurred => "blurred",
        })
    }
}

/// Faces the gate turned away, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rejections {
    pub too_small: u64,
    pub low_score: u64,
    pub turned: u64,
    pub blurred: u64,
}

impl Rejections {
    pub fn record(&mut self, reason: Rejection) {
        match reason {
            Rejection::TooSmall => self.too_small += 1,
            Rejection::LowScore => self.low_score += 1,
            Rejection::Turned => self.turned += 1,
            Rejection::Blurred => self.blurred += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.too_small + self.low_score + self.turned + self.blurred
    }
}

impl std::ops::AddAssign for Rejections {
    fn add_assign(&mut self, other: Rejections) {
        self.too_small += other.too_small;
        self.low_score += other.low_score;
        self.turned += other.turned;
        self.blurred += other.blurred;
    }
}

impl QualityConfig {
    /// The checks that need no pixels, in order: size, score, pose.
    pub fn check_geometry(&self, quality: &FaceQuality) -> Result<(), Rejection> {
        if !at_least(quality.inter_ocular, self.min_inter_ocular) {
            return Err(Rejection::TooSmall);
        }
        if !at_least(quality.score, self.min_score) {
            return Err(Rejection::LowScore);
        }
        if !(quality.yaw_degrees.abs() <= self.max_yaw_degrees
            && quality.roll_degrees.abs() <= self.max_roll_degrees)
        {
            return Err(Rejection::Turned);
        }
        Ok(())
    }

    /// Every check, in order: size, score, pose, sharpness.
    pub fn check(&self, quality: &FaceQuality) -> Result<(), Rejection> {
        self.check_geometry(quality)?;
        if !at_least(quality.sharpness, self.min_sharpness) {
            return Err(Rejection::Blurred);
        }
        Ok(())
    }
}

/// `value >= min`, false when either is NaN (an unmeasured figure fails its check).
fn at_least(value: f32, min: f32) -> bool {
    value.partial_cmp(&min).is_some_and(|order| order.is_ge())
}

/// Score, size and pose of a detected face; sharpness NaN (see [`sharpness`]).
pub(super) fn measure_geometry(score: f32, landmarks: &Landmarks) -> FaceQuality {
    let (yaw_degrees, roll_degrees) = pose(landmarks);
    FaceQuality {
        score,
        inter_ocular: landmarks.inter_ocular(),
        yaw_degrees,
        roll_degrees,
        sharpness: f32::NAN,
    }
}

/// Estimated (yaw, roll) in degrees; see the module documentation. Coincident eyes give a
/// yaw of 90 (a profile).
pub(super) fn pose(landmarks: &Landmarks) -> (f32, f32) {
    let (right_eye, left_eye) = (landmarks.right_eye(), landmarks.left_eye());
    let (ex, ey) = (left_eye.x - right_eye.x, left_eye.y - right_eye.y);
    let eye_distance = ex.hypot(ey);
    if eye_distance < 1e-3 {
        return (90.0, 0.0);
    }
    let roll = ey.atan2(ex).to_degrees();
    // Axes: u along the eye line, v perpendicular (down the face), origin between the eyes.
    let (ux, uy) = (ex / eye_distance, ey / eye_distance);
    let origin = right_eye.midpoint(left_eye);
    let project = |p: Point| {
        let (dx, dy) = (p.x - origin.x, p.y - origin.y);
        (dx * ux + dy * uy, -dx * uy + dy * ux)
    };
    let (nose_u, nose_v) = project(landmarks.nose());
    let (mouth_u, mouth_v) = project(landmarks.mouth_right().midpoint(landmarks.mouth_left()));
    let midline_u = if mouth_v.abs() > 1e-3 {
        mouth_u * nose_v / mouth_v
    } else {
        0.0
    };
    let offset = (nose_u - midline_u) / (eye_distance / 2.0);
    (offset.atan().to_degrees(), roll)
}

/// The face's sharpness (see the module documentation), from the frame when the chip
/// enlarged it and from the chip otherwise. 0 for a flat (featureless) face.
pub(super) fn sharpness(frame: RgbView<'_>, face: &AlignedFace) -> f32 {
    let to_frame = face.to_frame();
    if to_frame.scale() >= 1.0 {
        sharpness_of_chip(face.pixels())
    } else {
        sharpness_in_frame(frame, &to_frame)
    }
}

fn grey(rgb: &[u8]) -> f32 {
    0.299 * f32::from(rgb[0]) + 0.587 * f32::from(rgb[1]) + 0.114 * f32::from(rgb[2])
}

/// Running sums for the two standard deviations.
#[derive(Default)]
struct Spread {
    n: f64,
    grey: f64,
    grey_squared: f64,
    laplacian: f64,
    laplacian_squared: f64,
}

impl Spread {
    fn add(&mut self, centre: f32, neighbours: [f32; 4]) {
        let laplacian = f64::from(neighbours.iter().sum::<f32>() - 4.0 * centre);
        let centre = f64::from(centre);
        self.n += 1.0;
        self.grey += centre;
        self.grey_squared += centre * centre;
        self.laplacian += laplacian;
        self.laplacian_squared += laplacian * laplacian;
    }

    fn ratio(&self) -> f32 {
        if self.n < 2.0 {
            return 0.0;
        }
        let variance =
            |sum: f64, squares: f64| (squares / self.n - (sum / self.n).powi(2)).max(0.0);
        let grey = variance(self.grey, self.grey_squared);
        if grey < 1.0 {
            return 0.0;
        }
        (variance(self.laplacian, self.laplacian_squared) / grey).sqrt() as f32
    }
}

fn sharpness_of_chip(pixels: &[u8]) -> f32 {
    let size = CHIP_SIZE as usize;
    let at = |x: usize, y: usize| grey(&pixels[(y * size + x) * 3..(y * size + x) * 3 + 3]);
    let (left, top, right, bottom) = MEASURED_REGION;
    let mut spread = Spread::default();
    for y in top as usize..bottom as usize {
        for x in left as usize..right as usize {
            spread.add(
                at(x, y),
                [at(x - 1, y), at(x + 1, y), at(x, y - 1), at(x, y + 1)],
            );
        }
    }
    spread.ratio()
}

fn sharpness_in_frame(frame: RgbView<'_>, to_frame: &Similarity) -> f32 {
    let Some(to_chip) = to_frame.inverse() else {
        return 0.0;
    };
    let (left, top, right, bottom) = MEASURED_REGION;
    // The region's bounding box in the frame, one pixel in from the frame's edges.
    let corners = [(left, top), (right, top), (left, bottom), (right, bottom)]
        .map(|(x, y)| to_frame.apply(Point::new(x, y)));
    let (mut min_x, mut min_y) = (f32::INFINITY, f32::INFINITY);
    let (mut max_x, mut max_y) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for p in corners {
        min_x = min_x.min(p.x);
        min_y = min_y.min(p.y);
        max_x = max_x.max(p.x);
        max_y = max_y.max(p.y);
    }
    let min_x = min_x.floor().max(1.0);
    let min_y = min_y.floor().max(1.0);
    let max_x = max_x.ceil().min(frame.width() as f32 - 2.0);
    let max_y = max_y.ceil().min(frame.height() as f32 - 2.0);
    if !(min_x <= max_x && min_y <= max_y) {
        return 0.0;
    }
    let at = |x: u32, y: u32| grey(&frame.row(y)[x as usize * 3..x as usize * 3 + 3]);
    let mut spread = Spread::default();
    for y in min_y as u32..=max_y as u32 {
        for x in min_x as u32..=max_x as u32 {
            let chip = to_chip.apply(Point::new(x as f32 + 0.5, y as f32 + 0.5));
            if chip.x < left || chip.x >= right || chip.y < top || chip.y >= bottom {
                continue;
            }
            spread.add(
                at(x, y),
                [at(x - 1, y), at(x + 1, y), at(x, y - 1), at(x, y + 1)],
            );
        }
    }
    spread.ratio()
}

#[cfg(test)]
mod tests {
    use super::super::align::chip_template;
    use super::*;

    #[test]
    fn pose_of_a_frontal_face_is_level() {
        let (yaw, roll) = pose(&chip_template());
        assert!(
            yaw.abs() < 1.0 && roll.abs() < 0.01,
            "yaw {yaw}, roll {roll}"
        );
    }

    #[test]
    fn roll_follows_the_eye_line_and_yaw_the_nose() {
        // Turned by 25 degrees in the image plane: roll 25, yaw still about 0.
        let turn = Similarity {
            a: 25f32.to_radians().cos(),
            b: 25f32.to_radians().sin(),
            tx: 0.0,
            ty: 0.0,
        };
        let (yaw, roll) = pose(&chip_template().map(|p| turn.apply(p)));
        assert!(
            (roll - 25.0).abs() < 0.01 && yaw.abs() < 1.0,
            "yaw {yaw}, roll {roll}"
        );
        // Nose tip moved right by half the eye distance: offset 1, yaw 45.
        let mut turned = chip_template();
        let half = turned.inter_ocular() / 2.0;
        turned.0[2].x += half;
        let (yaw, _) = pose(&turned);
        assert!((yaw - 45.0).abs() < 2.0, "yaw {yaw}");
        turned.0[2].x -= 2.0 * half;
        let (yaw, _) = pose(&turned);
        assert!((yaw + 45.0).abs() < 2.0, "yaw {yaw}");
    }

    #[test]
    fn the_gate_names_the_first_failed_check() {
        let config = QualityConfig::default();
        let good = FaceQuality {
            score: 0.95,
            inter_ocular: 60.0,
            yaw_degrees: 5.0,
            roll_degrees: -3.0,
            sharpness: 1.0,
        };
        let check = |quality: FaceQuality, expected: Result<(), Rejection>| {
            assert_eq!(config.check(&quality), expected, "{quality}");
        };
        check(good, Ok(()));
        check(
            FaceQuality {
                inter_ocular: 5.0,
                score: 0.1,
                ..good
            },
            Err(Rejection::TooSmall),
        );
        check(
            FaceQuality {
                score: 0.1,
                sharpness: 0.0,
                ..good
            },
            Err(Rejection::LowScore),
        );
        check(
            FaceQuality {
                yaw_degrees: -60.0,
                ..good
            },
            Err(Rejection::Turned),
        );
        check(
            FaceQuality {
                roll_degrees: 50.0,
                ..good
            },
            Err(Rejection::Turned),
        );
        check(
            FaceQuality {
                sharpness: 0.01,
                ..good
            },
            Err(Rejection::Blurred),
        );
        check(
            FaceQuality {
                sharpness: f32::NAN,
                ..good
            },
            Err(Rejection::Blurred),
        );
        assert_eq!(
            config.check_geometry(&FaceQuality {
                sharpness: f32::NAN,
                ..good
            }),
            Ok(())
        );
    }

    #[test]
    fn rejections_are_counted_by_reason() {
        let mut rejections = Rejections::default();
        for reason in [Rejection::TooSmall, Rejection::Blurred, Rejection::Blurred] {
            rejections.record(reason);
        }
        rejections += Rejections {
            turned: 1,
            ..Rejections::default()
        };
        assert_eq!(
            rejections,
            Rejections {
                too_small: 1,
                low_score: 0,
                turned: 1,
                blurred: 2
            }
        );
        assert_eq!(rejections.total(), 4);
    }
}
