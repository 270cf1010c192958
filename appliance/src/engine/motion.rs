//! [`CameraGates`]: each camera's motion gates (`pipeline::motion`), learnt across its
//! recordings and restarts. A recording is gated by a fork of its camera's gates
//! ([`MotionGates::fork`]), so recordings of one camera indexed at once (or out of order)
//! keep their own clocks; the fork is joined back when the recording is indexed and the
//! camera's state saved with the recording, in the same transaction. Every keyframe skipped,
//! decoded or detected is counted by reason in `dipper_keyframes_gated_total{stage,reason}`.

use std::collections::HashMap;

use parking_lot::Mutex;
use pipeline::motion::{GateConfig, GateCounters, GateState, GateStatus, MotionGates};

use crate::db::{Database, DbError};
use crate::engine::store;

/// The gates of every camera indexed since the start; `None` config: gating is off.
#[derive(Debug)]
pub(crate) struct CameraGates {
    config: Option<GateConfig>,
    cameras: Mutex<HashMap<i64, MotionGates>>,
}

/// How a camera's gates stand, for its status.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct GateView {
    /// `warming_up`, `gating` or `fallback`.
    pub(crate) state: &'static str,
    /// Why the gate decodes every keyframe (`fallback_b_frames`, ...), when it falls back.
    pub(crate) fallback: Option<&'static str>,
    /// A sentence for people.
    pub(crate) detail: &'static str,
    /// Keyframes judged since the camera was added, decoded, and sent to the detector.
    pub(crate) keyframes_total: u64,
    pub(crate) keyframes_decoded: u64,
    pub(crate) keyframes_detected: u64,
}

impl GateView {
    fn new(status: GateStatus, counters: GateCounters) -> GateView {
        let (state, fallback) = match status {
            GateStatus::WarmingUp => ("warming_up", None),
            GateStatus::Gating => ("gating", None),
            GateStatus::Fallback(reason) => ("fallback", Some(reason.label())),
        };
        GateView {
            state,
            fallback,
            detail: status.describe(),
            keyframes_total: counters.keyframes_total,
            keyframes_decoded: counters.keyframes_decoded,
            keyframes_detected: counters.keyframes_detected,
        }
    }
}

impl CameraGates {
    pub(crate) fn new(config: Option<GateConfig>) -> CameraGates {
        CameraGates {
            config,
            cameras: Mutex::new(HashMap::new()),
        }
    }

    /// A fork of the camera's gates for one recording; `None` when gating is off.
    pub(crate) async fn fork(
        &self,
        db: &Database,
        camera: i64,
    ) -> Result<Option<MotionGates>, DbError> {
        Ok(self.camera(db, camera).await?.map(|gates| gates.fork()))
    }

    /// Takes back what a recording's fork learnt and counts its keyframes in `/metrics`.
    /// Returns what the camera's state now is, to save, and the fork's counts.
    pub(crate) fn join(&self, camera: i64, fork: &MotionGates) -> (String, GateCounters) {
        let gates = (self.cameras.lock().entry(camera))
            .or_insert_with(|| MotionGates::new(fork.config().clone()))
            .clone();
        let counters = gates.join(fork);
        for (stage, reason, count) in counters.by_reason() {
            if count > 0 {
                metrics::counter!("dipper_keyframes_gated_total", "stage" => stage, "reason" => reason)
                    .increment(count);
            }
        }
        let state = serde_json::to_string(&gates.state()).unwrap_or_default();
        (state, counters)
    }

    /// How the camera's gates stand; `None` when gating is off.
    pub(crate) async fn view(
        &self,
        db: &Database,
        camera: i64,
    ) -> Result<Option<GateView>, DbError> {
        let gates = self.camera(db, camera).await?;
        Ok(gates.map(|g| GateView::new(g.status(), g.counters())))
    }

    /// The camera's gates, read from the database on first use.
    async fn camera(&self, db: &Database, camera: i64) -> Result<Option<MotionGates>, DbError> {
        let Some(config) = &self.config else {
            return Ok(None);
        };
        if let Some(gates) = self.cameras.lock().get(&camera) {
            return Ok(Some(gates.clone()));
        }
        let saved = db
            .read(move |c| Ok(store::motion_state(c, camera)?))
            .await?;
        let state = saved
            .and_then(|json| {
                serde_json::from_str::<GateState>(&json)
                    .inspect_err(|e| {
                        tracing::warn!(camera, error = %e, "the motion gates' saved state is unreadable; they learn the camera again");
                    })
                    .ok()
            })
            .unwrap_or_default();
        let mut cameras = self.cameras.lock();
        let gates = cameras
            .entry(camera)
            .or_insert_with(|| MotionGates::with_state(config.clone(), state));
        Ok(Some(gates.clone()))
    }
}
