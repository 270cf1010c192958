//! [`GateConfig`]: the gates' settings, one per camera or shared by all.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the two gates decide. Every default is written on its field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// A keyframe is decoded and sent whole to the detector at least this often, whatever
    /// the gates say, so a person standing still is not lost. Default: 120 s.
    #[serde(with = "seconds")]
    pub max_interval: Duration,
    /// GOPs whose packet sizes are only learned (every keyframe decoded, reason
    /// `warm_up`) before the GOP gate judges a camera; the pixel gate judges the last of
    /// them, and finding motion on three makes the GOP gate fall back. Default: 8.
    pub warm_up_gops: u32,
    /// A GOP moved when its score exceeds the running mean of static GOPs' scores by this
    /// many running deviations. Lower passes more. Default: 1.5 (2.0 let people through on the
    /// scene clips, whose fixed bitrate on heavy noise hides them in the sizes).
    pub gop_sensitivity: f32,
    /// One keyframe in this many that the GOP gate calls static is decoded anyway
    /// (reason `audit`) so the pixel gate can check the GOP gate; 0 turns audits off.
    /// Default: 4.
    pub audit_every: u32,
    /// Audits (of the last [`AUDIT_WINDOW`](super::AUDIT_WINDOW)) whose keyframe the pixel
    /// gate found changed that make the GOP gate fall back (`fallback_uninformative`).
    /// Default: 2.
    pub audit_misses: u32,
    /// A GOP longer than this (no keyframe for so long) decides its keyframe without
    /// waiting for the next one and falls back (`fallback_no_keyframe`). Default: 10 s.
    #[serde(with = "seconds")]
    pub max_gop: Duration,
    /// GOP lengths (in frames) varying more than this ratio (longest / shortest of the last
    /// eight) fall back (`fallback_variable_gop`). Default: 1.5.
    pub max_gop_ratio: f32,
    /// GOPs a fallback lasts once its cause is gone, before gating is tried again.
    /// Default: 150 (five minutes of 2 s GOPs).
    pub fallback_gops: u32,
    /// Cells across a keyframe in the pixel gate (square cells; a 1920x1080 keyframe at 64
    /// has 64x36 cells of 30 pixels). Default: 64.
    pub grid_columns: u32,
    /// A cell changed when its light, corrected for the frame's overall light change,
    /// differs from the background by this many times the cell's running noise.
    /// Default: 4.0.
    pub pixel_sensitivity: f32,
    /// ... and by at least this many grey levels (0..=255). Default: 6.0.
    pub min_change: f32,
    /// Changed cells over this share of the frame send the whole frame to the detector
    /// (and restart the background: the night light came on). Default: 0.3.
    pub whole_frame_share: f32,
    /// Room added around each changed region, as a share of its size on each side, so a
    /// face at its edge is whole in the crop. Default: 0.5.
    pub region_padding: f32,
    /// The smallest region side sent to the detector, in pixels. Default: 192.
    pub min_region_px: u32,
}

impl Default for GateConfig {
    fn default() -> GateConfig {
        GateConfig {
            max_interval: Duration::from_secs(120),
            warm_up_gops: 8,
            gop_sensitivity: 1.5,
            audit_every: 4,
            audit_misses: 2,
            max_gop: Duration::from_secs(10),
            max_gop_ratio: 1.5,
            fallback_gops: 150,
            grid_columns: 64,
            pixel_sensitivity: 4.0,
            min_change: 6.0,
            whole_frame_share: 0.3,
            region_padding: 0.5,
            min_region_px: 192,
        }
    }
}

impl GateConfig {
    /// Every setting in range, or the first that is not: its key and the reason.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive = |key: &'static str, value: f32| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err((key, format!("must be a number above 0, not {value}")))
            }
        };
        if self.max_interval.is_zero() {
            return Err(("max_interval", "must be at least 1 second".into()));
        }
        if self.max_gop.is_zero() {
            return Err(("max_gop", "must be at least 1 second".into()));
        }
        positive("gop_sensitivity", self.gop_sensitivity)?;
        positive("pixel_sensitivity", self.pixel_sensitivity)?;
        positive("min_change", self.min_change)?;
        if self.max_gop_ratio.is_nan() || self.max_gop_ratio < 1.0 {
            return Err(("max_gop_ratio", "must be at least 1".into()));
        }
        if self.audit_misses > super::AUDIT_WINDOW {
            return Err((
                "audit_misses",
                format!("must be at most {}", super::AUDIT_WINDOW),
            ));
        }
        if !(4..=512).contains(&self.grid_columns) {
            return Err(("grid_columns", "must be 4..=512".into()));
        }
        if !(self.whole_frame_share > 0.0 && self.whole_frame_share <= 1.0) {
            return Err(("whole_frame_share", "must be above 0 and at most 1".into()));
        }
        if !(0.0..=4.0).contains(&self.region_padding) {
            return Err(("region_padding", "must be 0..=4".into()));
        }
        if !(32..=4096).contains(&self.min_region_px) {
            return Err(("min_region_px", "must be 32..=4096 pixels".into()));
        }
        Ok(())
    }
}

/// A duration as whole seconds in TOML/JSON.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}
