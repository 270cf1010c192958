//! The pixel gate: a decoded keyframe, shrunk to a grid of cells' mean light, against the
//! camera's running background. Cells whose light differs from the background by more
//! than their own running noise (times [`GateConfig::pixel_sensitivity`], after taking out
//! the frame's overall light change) are changed; changed cells in groups become padded,
//! merged regions for the detector; much change sends the whole frame and restarts the
//! background (the infrared light came on); none skips the keyframe.

use serde::{Deserialize, Serialize};

use super::{DetectReason, GateConfig, Region, regions};

/// Noise of a fresh cell, in grey levels, until it is measured.
const INITIAL_NOISE: f32 = 2.0;
/// The most a cell's noise is taken to be, in grey levels: a cell's mean light varies far
/// less than this with sensor noise alone, so a scene moving while the background was
/// learnt (a busy road) does not teach the gate to see nothing.
const MAX_NOISE: f32 = 6.0;
/// A cell's noise (its mean absolute difference) per the median difference of a frame's
/// cells (for normal noise, 0.80 and 0.67 deviations).
const TYPICAL_PER_MEDIAN: f32 = 1.2;
/// The fewest touching changed cells that are motion (a person covers several).
const MIN_GROUP_CELLS: usize = 3;
/// Keyframes the background and its noise are learnt from, every cell unchanged, before the
/// gate judges any (each of them goes whole to the detector).
const LEARNING_FRAMES: u32 = 3;
/// How fast an unchanged cell's background and noise follow the keyframes.
const BACKGROUND_RATE: f32 = 0.3;
const NOISE_RATE: f32 = 0.1;
/// How fast a changed cell is taken into the background (a parked car, in about thirty
/// decoded keyframes).
const CHANGED_RATE: f32 = 0.03;

/// What the pixel gate decided for a keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PixelVerdict {
    /// Nothing changed against the background: no detection.
    Static,
    /// Only these regions (in the keyframe's pixels) need the detector.
    Regions(Vec<Region>),
    /// The whole frame needs the detector, for this reason.
    Whole(DetectReason),
}

impl PixelVerdict {
    /// Whether anything goes to the detector.
    pub fn detects(&self) -> bool {
        !matches!(self, PixelVerdict::Static)
    }
}

/// The pixel gate's memory of one camera: the background and each cell's noise.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct PixelState {
    /// The frame size the grid was made for.
    width: u32,
    height: u32,
    columns: u32,
    rows: u32,
    background: Vec<f32>,
    noise: Vec<f32>,
    /// Keyframes learnt from since the background (re)started.
    #[serde(default)]
    frames: u32,
}

impl PixelState {
    /// Judges one RGB24 keyframe (`width * height * 3` bytes) and learns from it;
    /// `whole_for` forces the whole frame (e.g. for [`DetectReason::MaxInterval`]).
    pub(super) fn judge(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
        whole_for: Option<DetectReason>,
        config: &GateConfig,
    ) -> PixelVerdict {
        let columns = config.grid_columns.clamp(1, width.max(1));
        let cell = (width / columns).max(1);
        let rows = (height / cell).max(1);
        let light = cell_light(rgb, width, height, cell, columns, rows);
        if (self.width, self.height, self.columns) != (width, height, columns)
            || self.background.len() != light.len()
        {
            *self = PixelState {
                width,
                height,
                columns,
                rows,
                noise: vec![INITIAL_NOISE; light.len()],
                background: light,
                frames: 1,
            };
            return PixelVerdict::Whole(DetectReason::WarmUp);
        }
        let gain = overall_gain(&light, &self.background);
        if self.frames < LEARNING_FRAMES {
            self.learn(&light, &vec![false; light.len()], gain);
            return PixelVerdict::Whole(DetectReason::WarmUp);
        }
        let differences: Vec<f32> = light
            .iter()
            .zip(&self.background)
            .map(|(l, b)| (l - gain * b).abs())
            .collect();
        // The frame's own noise: most of a frame is still, so the median difference is
        // noise (on a night frame, the infrared's), and no cell's noise is taken as less.
        let typical = (TYPICAL_PER_MEDIAN * median(differences.clone())).min(MAX_NOISE);
        let changed_cells = differences.iter().zip(&self.noise).map(|(d, noise)| {
            *d > (config.pixel_sensitivity * noise.max(typical)).max(config.min_change)
        });
        let mut changed: Vec<bool> = changed_cells.collect();
        regions::drop_small_groups(&mut changed, columns, rows, MIN_GROUP_CELLS);
        let share = changed.iter().filter(|&&c| c).count() as f32 / changed.len() as f32;
        if share > config.whole_frame_share {
            // The light switched or the camera moved: the background starts again from this
            // frame, its noise as measured.
            self.background = light;
            self.frames = 1;
            return PixelVerdict::Whole(DetectReason::MuchChanged);
        }
        self.learn(&light, &changed, gain);
        if let Some(reason) = whole_for {
            return PixelVerdict::Whole(reason);
        }
        if share == 0.0 {
            return PixelVerdict::Static;
        }
        let boxes = regions::boxes(&changed, columns, rows, cell, (width, height), config);
        PixelVerdict::Regions(boxes)
    }

    fn learn(&mut self, light: &[f32], changed: &[bool], gain: f32) {
        self.frames = self.frames.saturating_add(1);
        // The first frames measure the noise as their plain mean; later ones follow it.
        let noise_rate = NOISE_RATE.max(1.0 / (self.frames - 1) as f32);
        for i in 0..light.len() {
            let expected = gain * self.background[i];
            if changed[i] {
                self.background[i] += CHANGED_RATE * (light[i] - self.background[i]);
            } else {
                let difference = (light[i] - expected).abs();
                self.noise[i] = (self.noise[i] + noise_rate * (difference - self.noise[i]))
                    .clamp(0.5, MAX_NOISE);
                self.background[i] += BACKGROUND_RATE * (light[i] - self.background[i]);
            }
        }
    }
}

/// Mean light (grey levels, 0..=255) of each cell, sampling every other pixel of every
/// other row.
fn cell_light(rgb: &[u8], width: u32, height: u32, cell: u32, columns: u32, rows: u32) -> Vec<f32> {
    let (width, cell) = (width as usize, cell as usize);
    let mut sums = vec![0u32; (columns * rows) as usize];
    let mut counts = vec![0u32; sums.len()];
    for y in (0..(rows as usize * cell).min(height as usize)).step_by(2) {
        let row = &rgb[y * width * 3..];
        let cell_row = (y / cell) * columns as usize;
        for x in (0..columns as usize * cell).step_by(2) {
            let Some(px) = row.get(x * 3..x * 3 + 3) else {
                break;
            };
            // Rec. 601 luma in integers.
            let luma =
                (77 * u32::from(px[0]) + 150 * u32::from(px[1]) + 29 * u32::from(px[2])) >> 8;
            let i = cell_row + x / cell;
            sums[i] += luma;
            counts[i] += 1;
        }
    }
    sums.iter()
        .zip(&counts)
        .map(|(&s, &n)| s as f32 / n.max(1) as f32)
        .collect()
}

/// The median of `values`.
fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let middle = values.len() / 2;
    *values.select_nth_unstable_by(middle, f32::total_cmp).1
}

/// The frame's overall light against the background: the median of the cells' ratios.
fn overall_gain(light: &[f32], background: &[f32]) -> f32 {
    let mut ratios: Vec<f32> = light
        .iter()
        .zip(background)
        .map(|(l, b)| (l + 1.0) / (b + 1.0))
        .collect();
    let middle = ratios.len() / 2;
    let (_, median, _) = ratios.select_nth_unstable_by(middle, f32::total_cmp);
    median.clamp(0.2, 5.0)
}
