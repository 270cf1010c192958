//! Serving: the listener, graceful shutdown with a draining deadline, and the housekeeping
//! task.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// Serves `state` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for at most `drain_timeout` before returning.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    let (draining_tx, mut draining_rx) = watch::channel(false);
    let background = Background::start(&state, &draining_rx)?;
    let app = crate::api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = draining_tx.send(true);
    });
    let deadline = async move {
        if draining_rx.wait_for(|draining| *draining).await.is_ok() {
            tokio::time::sleep(drain_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        result = serving => result,
        () = deadline => {
            tracing::warn!(seconds = drain_timeout.as_secs(), "requests still running at the draining deadline; stopping anyway");
            Ok(())
        }
    };
    background.stop().await;
    result
}

/// Completes when draining begins (or the server that would begin it is gone).
async fn until_draining(mut draining: watch::Receiver<bool>) {
    let _ = draining.wait_for(|draining| *draining).await;
}

/// The tasks that run beside the API: housekeeping, the API-call meter, the monthly
/// invoicing (if configured) and the notification sender (if configured).
struct Background {
    housekeeping: JoinHandle<()>,
    meters: JoinHandle<()>,
    invoicing: Option<JoinHandle<()>>,
    sending: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts the tasks (none if the sender's settings are refused); those that stop by
    /// themselves do when `draining` turns true.
    fn start(state: &AppState, draining: &watch::Receiver<bool>) -> std::io::Result<Self> {
        let notifications = &state.config.notifications;
        let sender = notifications
            .send
            .then(|| crate::notify::sender::Sender::new(state.db.clone(), notifications))
            .transpose()
            .map_err(std::io::Error::other)?;
        let billing = &state.config.billing;
        let invoicing = billing.run_monthly.then(|| {
            tokio::spawn(crate::invoicing::scheduler::schedule(
                state.db.clone(),
                state.uplink.clone(),
                Duration::from_secs(billing.check_every_seconds),
                until_draining(draining.clone()),
            ))
        });
        Ok(Background {
            housekeeping: tokio::spawn(housekeeping(state.clone())),
            meters: tokio::spawn(state.meters.clone().run(until_draining(draining.clone()))),
            invoicing,
            sending: sender
                .map(|sender| tokio::spawn(sender.run(until_draining(draining.clone())))),
        })
    }

    /// Ends the tasks, giving the meter a few seconds to write its last counts.
    async fn stop(self) {
        self.housekeeping.abort();
        for task in [self.invoicing, self.sending].into_iter().flatten() {
            task.abort();
        }
        // The last API calls counted are written before the process ends.
        if tokio::time::timeout(Duration::from_secs(5), self.meters)
            .await
            .is_err()
        {
            tracing::warn!("the API-call meter did not write its last counts in time");
        }
    }
}

/// Once a minute: forgets idle rate-limit buckets and old failed-login counts.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.limits.retain_recent();
        if let Err(error) = crate::api::session::prune_login_failures(&state).await {
            tracing::warn!(%error, "could not prune old failed-login counts");
        }
    }
}
