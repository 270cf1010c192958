//! Whether each enabled camera answers: every [`EVERY`] (and at once when asked), the box
//! asks each camera for its device information through the camera's own device (so a
//! rejected password is never sent again: no lockout from watching), and keeps the answer
//! in memory for the status page.

use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::engine::Engine;

/// How often cameras are checked.
pub(crate) const EVERY: Duration = Duration::from_secs(30);
/// How long one check waits.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A camera's last check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reachability {
    pub(crate) online: bool,
    pub(crate) error: Option<String>,
    pub(crate) checked_at_ms: i64,
}

/// The checks' results; cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct CameraWatch {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: Mutex<HashMap<i64, Reachability>>,
    now: Notify,
}

impl CameraWatch {
    /// Starts checking `engine`'s cameras until the runtime stops.
    pub(crate) fn start(engine: Engine) -> CameraWatch {
        let watch = CameraWatch::default();
        let checks = watch.clone();
        tokio::spawn(async move {
            loop {
                checks.check_all(&engine).await;
                tokio::select! {
                    () = tokio::time::sleep(EVERY) => {}
                    () = checks.inner.now.notified() => {}
                }
            }
        });
        watch
    }

    /// Checks every camera again now (one was added or changed).
    pub(crate) fn check_now(&self) {
        self.inner.now.notify_one();
    }

    /// The last check of camera `id`, if it was checked.
    pub(crate) fn get(&self, id: i64) -> Option<Reachability> {
        self.inner.seen.lock().get(&id).cloned()
    }

    async fn check_all(&self, engine: &Engine) {
        let cameras = match engine.db().cameras().await {
            Ok(cameras) => cameras,
            Err(e) => {
                tracing::warn!(error = %e, "status: cannot list the cameras");
                return;
            }
        };
        let checks = cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|camera| async move {
                let answer = match engine.cameras().device(camera.id).await {
                    Ok(device) => match tokio::time::timeout(TIMEOUT, device.device_info()).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.kind.to_string()),
                        Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
                    },
                    Err(e) => Err(e.to_string()),
                };
                (camera.id, answer)
            });
        let results = futures::future::join_all(checks).await;
        let now = crate::access::now_ms();
        let mut seen = self.inner.seen.lock();
        seen.retain(|id, _| cameras.iter().any(|c| c.id == *id && c.enabled));
        for (id, answer) in results {
            seen.insert(
                id,
                Reachability {
                    online: answer.is_ok(),
                    error: answer.err(),
                    checked_at_ms: now,
                },
            );
        }
    }
}
