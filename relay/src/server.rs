//! Serving: the listener, graceful shutdown with a draining deadline, and the housekeeping
//! task.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::AppState;

/// Serves `state` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for at most `drain_timeout` before returning.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    let housekeeping_state = state.clone();
    let housekeeping = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            housekeeping_state.limits.retain_recent();
            if let Err(error) = crate::api::session::prune_login_failures(&housekeeping_state).await
            {
                tracing::warn!(%error, "could not prune old failed-login counts");
            }
        }
    });
    let (draining_tx, mut draining_rx) = watch::channel(false);
    let mut meters_stop = draining_rx.clone();
    let meters = tokio::spawn(state.meters.clone().run(async move {
        let _ = meters_stop.wait_for(|draining| *draining).await;
    }));
    let billing = &state.config.billing;
    let invoicing = billing.run_monthly.then(|| {
        let every = Duration::from_secs(billing.check_every_seconds);
        let mut stop = draining_rx.clone();
        tokio::spawn(crate::invoicing::scheduler::schedule(
            state.db.clone(),
            state.uplink.clone(),
            every,
            async move {
                let _ = stop.wait_for(|draining| *draining).await;
            },
        ))
    });
    let notifications = &state.config.notifications;
    let sending = if notifications.send {
        let sender = crate::notify::sender::Sender::new(state.db.clone(), notifications)
            .map_err(std::io::Error::other)?;
        let mut stop = draining_rx.clone();
        Some(tokio::spawn(sender.run(async move {
            let _ = stop.wait_for(|draining| *draining).await;
        })))
    } else {
        None
    };
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
    housekeeping.abort();
    if let Some(invoicing) = invoicing {
        invoicing.abort();
    }
    if let Some(sending) = sending {
        sending.abort();
    }
    // The last API calls counted are written before the process ends.
    if tokio::time::timeout(Duration::from_secs(5), meters)
        .await
        .is_err()
    {
        tracing::warn!("the API-call meter did not write its last counts in time");
    }
    result
}
