//! Points, boxes, the five landmarks, intersection over union, non-maximum suppression and
//! the least-squares similarity transform.
//!
//! Coordinates are continuous pixels of the image they refer to: `x = 0` is the left edge of
//! the leftmost column, so pixel `(i, j)` covers `[i, i + 1) x [j, j + 1)` and its centre is
//! `(i + 0.5, j + 0.5)`.

/// A point in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Point {
        Point { x, y }
    }

    pub fn distance(self, other: Point) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }

    pub fn midpoint(self, other: Point) -> Point {
        Point::new((self.x + other.x) / 2.0, (self.y + other.y) / 2.0)
    }
}

/// An axis-aligned box in image pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BoundingBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BoundingBox {
    pub fn right(&self) -> f32 {
        self.x + self.width
    }

    pub fn bottom(&self) -> f32 {
        self.y + self.height
    }

    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    pub fn centre(&self) -> Point {
        Point::new(self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    /// Intersection over union, in `[0, 1]`; 0 when either box is empty.
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let width = (self.right().min(other.right()) - self.x.max(other.x)).max(0.0);
        let height = (self.bottom().min(other.bottom()) - self.y.max(other.y)).max(0.0);
        let intersection = width * height;
        let union = self.area() + other.area() - intersection;
        if union > 0.0 {
            intersection / union
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for BoundingBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0}x{:.0} at ({:.0}, {:.0})",
            self.width, self.height, self.x, self.y
        )
    }
}

/// The five landmarks in the detector's order: the person's right eye (on the image's left
/// in a frontal face), left eye, nose tip, right mouth corner, left mouth corner.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Landmarks(pub [Point; 5]);

impl Landmarks {
    pub fn right_eye(&self) -> Point {
        self.0[0]
    }

    pub fn left_eye(&self) -> Point {
        self.0[1]
    }

    pub fn nose(&self) -> Point {
        self.0[2]
    }

    pub fn mouth_right(&self) -> Point {
        self.0[3]
    }

    pub fn mouth_left(&self) -> Point {
        self.0[4]
    }

    /// Distance between the eye centres, in pixels.
    pub fn inter_ocular(&self) -> f32 {
        self.right_eye().distance(self.left_eye())
    }

    /// Every point through `map`.
    pub fn map(&self, map: impl Fn(Point) -> Point) -> Landmarks {
        Landmarks(self.0.map(map))
    }
}

/// Indices of the boxes greedy non-maximum suppression keeps, best score first: a box is
/// dropped when its IoU with a kept, better-scoring box exceeds `iou_threshold`. Ties keep
/// the earlier box. At most `max_kept` indices.
pub fn non_max_suppression(
    boxes: &[BoundingBox],
    scores: &[f32],
    iou_threshold: f32,
    max_kept: usize,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len().min(scores.len())).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut kept: Vec<usize> = Vec::new();
    for candidate in order {
        if kept.len() >= max_kept {
            break;
        }
        let overlaps = kept
            .iter()
            .any(|&k| boxes[k].iou(&boxes[candidate]) > iou_threshold);
        if !overlaps {
            kept.push(candidate);
        }
    }
    kept
}

/// A similarity transform (uniform scale, rotation, translation: 4 degrees of freedom):
/// `(x, y) -> (a x - b y + tx, b x + a y + ty)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn apply(&self, p: Point) -> Point {
        Point::new(
            self.a * p.x - self.b * p.y + self.tx,
            self.b * p.x + self.a * p.y + self.ty,
        )
    }

    /// The scale factor (`sqrt(a^2 + b^2)`).
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// The rotation, in radians.
    pub fn angle(&self) -> f32 {
        self.b.atan2(self.a)
    }

    /// The inverse transform; `None` when the scale is zero.
    pub fn inverse(&self) -> Option<Similarity> {
        let norm = self.a * self.a + self.b * self.b;
        if norm <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / norm, -self.b / norm);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    /// The similarity that maps `from` onto `to` with the least sum of squared distances
    /// (Umeyama's closed form, which in 2-D without reflection reduces to two dot products
    /// over the centred points). `None` when `from` has no spread (all points equal) or the
    /// slices differ in length or are empty.
    pub fn least_squares(from: &[Point], to: &[Point]) -> Option<Similarity> {
        if from.is_empty() || from.len() != to.len() {
            return None;
        }
        let n = from.len() as f64;
        let mean = |points: &[Point]| {
            let (sx, sy) = points.iter().fold((0.0f64, 0.0f64), |(sx, sy), p| {
                (sx + f64::from(p.x), sy + f64::from(p.y))
            });
            (sx / n, sy / n)
        };
        let (fx, fy) = mean(from);
        let (tx, ty) = mean(to);
        let (mut spread, mut dot, mut cross) = (0.0f64, 0.0f64, 0.0f64);
        for (f, t) in from.iter().zip(to) {
            let (ux, uy) = (f64::from(f.x) - fx, f64::from(f.y) - fy);
            let (vx, vy) = (f64::from(t.x) - tx, f64::from(t.y) - ty);
            spread += ux * ux + uy * uy;
            dot += ux * vx + uy * vy;
            cross += ux * vy - uy * vx;
        }
        if spread <= f64::EPSILON {
            return None;
        }
        let (a, b) = (dot / spread, cross / spread);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: (tx - (a * fx - b * fy)) as f32,
            ty: (ty - (b * fx + a * fy)) as f32,
        })
    }
}

#[cfg(feature = "index")]
impl From<BoundingBox> for crate::index::FaceBox {
    fn from(b: BoundingBox) -> crate::index::FaceBox {
        crate::index::FaceBox {
            x: b.x,
            y: b.y,
            width: b.width,
            height: b.height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(x: f32, y: f32, width: f32, height: f32) -> BoundingBox {
        BoundingBox {
            x,
            y,
            width,
            height,
        }
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn iou_of_known_boxes() {
        let check = |a: BoundingBox, b: BoundingBox, expected: f32| {
            let actual = a.iou(&b);
            assert!(
                close(actual, expected),
                "iou({a:?}, {b:?}) = {actual}, expected {expected}"
            );
            assert!(close(b.iou(&a), expected), "iou is symmetric");
        };
        check(bbox(0., 0., 10., 10.), bbox(0., 0., 10., 10.), 1.0);
        check(bbox(0., 0., 10., 10.), bbox(20., 20., 5., 5.), 0.0);
        check(bbox(0., 0., 10., 10.), bbox(5., 0., 10., 10.), 50.0 / 150.0);
        check(bbox(0., 0., 10., 10.), bbox(2., 2., 5., 5.), 25.0 / 100.0);
        check(bbox(0., 0., 0., 0.), bbox(0., 0., 0., 0.), 0.0);
    }

    #[test]
    fn nms_keeps_the_best_of_each_overlapping_group() {
        let boxes = [
            bbox(0., 0., 10., 10.),
            bbox(1., 1., 10., 10.), // IoU with 0 is 0.68: suppressed by 0 (better)
            bbox(100., 0., 10., 10.), // alone
            bbox(6., 0., 10., 10.), // IoU with 0 is 0.25: kept at threshold 0.3
            bbox(101., 0., 10., 10.), // suppressed by 2
        ];
        let scores = [0.9, 0.8, 0.75, 0.95, 0.7];
        assert_eq!(
            non_max_suppression(&boxes, &scores, 0.3, 100),
            vec![3, 0, 2]
        );
        // With a tight threshold the partial overlap goes too (IoU 0.25 > 0.2)...
        assert_eq!(non_max_suppression(&boxes, &scores, 0.2, 100), vec![3, 2]);
        // ...and `max_kept` cuts the list.
        assert_eq!(non_max_suppression(&boxes, &scores, 0.3, 2), vec![3, 0]);
        assert!(non_max_suppression(&[], &[], 0.3, 10).is_empty());
    }

    #[test]
    fn least_squares_recovers_an_exact_similarity() {
        let truth = Similarity {
            a: 1.7 * 0.3f32.cos(),
            b: 1.7 * 0.3f32.sin(),
            tx: 12.0,
            ty: -4.0,
        };
        let from = [
            Point::new(10., 20.),
            Point::new(40., 22.),
            Point::new(25., 35.),
            Point::new(14., 50.),
            Point::new(37., 49.),
        ];
        let to = from.map(|p| truth.apply(p));
        let found = Similarity::least_squares(&from, &to).expect("points have spread");
        for (name, actual, expected) in [
            ("a", found.a, truth.a),
            ("b", found.b, truth.b),
            ("tx", found.tx, truth.tx),
            ("ty", found.ty, truth.ty),
        ] {
            assert!(
                (actual - expected).abs() < 1e-3,
                "{name}: {actual} vs {expected}"
            );
        }
        assert!((found.scale() - 1.7).abs() < 1e-4);
        assert!((found.angle() - 0.3).abs() < 1e-4);
        let back = found.inverse().expect("invertible");
        for (f, t) in from.iter().zip(&to) {
            assert!(back.apply(*t).distance(*f) < 1e-3);
        }
    }

    #[test]
    fn least_squares_refuses_degenerate_input() {
        let p = Point::new(1., 1.);
        assert_eq!(
            Similarity::least_squares(&[p, p], &[p, Point::new(2., 2.)]),
            None
        );
        assert_eq!(Similarity::least_squares(&[], &[]), None);
        assert_eq!(Similarity::least_squares(&[p], &[p, p]), None);
    }
}
