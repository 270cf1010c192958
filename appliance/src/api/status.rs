//! `GET /api/v1/status` and `GET /api/v1/status/events`: the box at a glance
//! ([`crate::status::StatusView`]), once or live. The stream sends a `status` event at once,
//! then again whenever the view changed, looked at every [`EVERY`]; a comment keeps an idle
//! stream open through proxies.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::State,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::Stream;

use super::{ApiError, AppState};
use crate::status::{Retention, StatusView};

/// How often the stream looks for a change.
const EVERY: Duration = Duration::from_secs(2);

pub(crate) async fn view(state: &AppState) -> Result<StatusView, ApiError> {
    let index = state.uplink.box_config().index;
    let retention = Retention {
        keep_days: index.keep_days,
        quota_mib: index.quota_mib,
    };
    Ok(crate::status::status(
        &state.engine,
        &state.uplink,
        &state.watch,
        retention,
        state.started,
    )
    .await?)
}

/// The box at a glance.
#[utoipa::path(get, path = "/status", tag = "status",
    responses((status = 200, description = "The status view", body = Object)))]
pub(super) async fn show(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(view(&state).await?).into_response())
}

/// The view without the figures that change every second (time, uptime), to tell a real
/// change from the clock's.
fn without_clock(view: &StatusView) -> serde_json::Value {
    let mut value = serde_json::to_value(view).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("now_ms");
        object.remove("uptime_seconds");
    }
    value
}

/// The status view as server-sent events: `status` at once, then on every change.
#[utoipa::path(get, path = "/status/events", tag = "status",
    responses((status = 200, description = "Server-sent `status` events, each the status \
        view's JSON", body = String, content_type = "text/event-stream")))]
pub(super) async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::unfold(
        (state, None::<serde_json::Value>, true),
        |(state, last, first)| async move {
            loop {
                if !first || last.is_some() {
                    tokio::time::sleep(EVERY).await;
                }
                let view = match view(&state).await {
                    Ok(view) => view,
                    Err(_) => continue,
                };
                let compared = without_clock(&view);
                if last.as_ref() == Some(&compared) {
                    continue;
                }
                let event = Event::default()
                    .event("status")
                    .json_data(&view)
                    .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                return Some((Ok(event), (state, Some(compared), false)));
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
