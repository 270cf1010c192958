//! `GET .../searches/{id}/events`: a search as server-sent events. First `search` (the search
//! as `GET` answers it); then `box` (one box's part) whenever a part's state, task, reason or
//! progress changes, and `result` for every result stored after the first event, each box's
//! in the order they were stored; then `end` (the search again) once it is no longer
//! `running`, and the stream closes. Comments keep the connection alive.
//!
//! The stream follows the database, not this process: it reads the search again every
//! `[searches] events_poll_ms`, and at once when this instance applied a change to it
//! (`crate::uplink::Uplink::search_changes`), so a change another relay instance applied is
//! seen at the next read. What a read found and what was sent are compared, so a change is
//! sent once, whichever instance made it.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::{Search, SearchBox, SearchResult, view, visible};
use crate::api::begin;
use crate::auth::Principal;
use crate::db::{Db, DbError, Mode, Scope};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::store::searches as store;

/// How often a comment keeps an idle stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Results of one box read at once; more are read at once after.
const RESULTS_PER_READ: i64 = 500;

/// A search's changes as they happen (viewers of every box in it).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/searches/{search_id}/events", tag = "searches", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("search_id" = Uuid, Path)),
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-sent events: `search` (a Search), then `box` (a SearchBox) and \
                       `result` (a SearchResult) as they happen, then `end` (a Search) once the \
                       search is no longer running",
        body = String)))]
pub async fn search_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, search_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    let search = visible(&mut tx, &principal, tenant, search_id).await?;
    // Subscribed before the first read, so no change after it goes unnoticed.
    let changes = state.uplink.as_ref().map(|u| u.search_changes());
    let first = view(&mut tx, search).await?;
    tx.commit().await?;
    let poll = Duration::from_millis(state.config.searches.events_poll_ms);
    let follow = Follow::new(
        state.db.clone(),
        (tenant, search_id),
        (changes, poll),
        &first,
    );
    let stream = futures::stream::unfold(follow, Follow::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One open stream: what it has sent, and what waits to be.
struct Follow {
    db: Db,
    /// Tenant and search.
    ids: (Uuid, Uuid),
    /// Each box's part as last sent.
    parts: BTreeMap<Uuid, SearchBox>,
    /// The number of each box's last result sent.
    results_sent: BTreeMap<Uuid, i64>,
    pending: VecDeque<Event>,
    ended: bool,
    /// More results wait than one read took: read again without waiting.
    behind: bool,
    changes: Option<broadcast::Receiver<Uuid>>,
    poll: Duration,
}

fn event(name: &str, data: &impl Serialize) -> Event {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Event::default().event(name).data(data)
}

impl Follow {
    fn new(
        db: Db,
        ids: (Uuid, Uuid),
        (changes, poll): (Option<broadcast::Receiver<Uuid>>, Duration),
        first: &Search,
    ) -> Follow {
        let mut pending = VecDeque::from([event("search", first)]);
        let ended = first.state != "running";
        if ended {
            pending.push_back(event("end", first));
        }
        Follow {
            db,
            ids,
            parts: first
                .boxes
                .iter()
                .map(|b| (b.device_id, b.clone()))
                .collect(),
            results_sent: first
                .boxes
                .iter()
                .map(|b| (b.device_id, b.results))
                .collect(),
            pending,
            ended,
            behind: false,
            changes,
            poll,
        }
    }

    /// The next event, waiting and reading as long as there is none; none once ended.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Follow)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            if self.ended {
                return None;
            }
            if !std::mem::take(&mut self.behind) {
                self.wait().await;
            }
            if let Err(error) = self.read().await {
                tracing::warn!(%error, search = %self.ids.1, "an event stream could not read its search; trying again");
            }
        }
    }

    /// Until the poll interval passes or this instance changes the search.
    async fn wait(&mut self) {
        let search = self.ids.1;
        let sleep = tokio::time::sleep(self.poll);
        match &mut self.changes {
            None => sleep.await,
            Some(changes) => tokio::select! {
                () = sleep => {}
                () = woken(changes, search) => {}
            },
        }
    }

    /// Reads the search and queues what changed since the last read.
    async fn read(&mut self) -> Result<(), DbError> {
        let (tenant, search) = self.ids;
        let mut tx = self.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
        let Some(found) = store::find(&mut tx, tenant, search).await? else {
            // Gone with its tenant.
            self.ended = true;
            return Ok(());
        };
        for part in store::parts(&mut tx, tenant, search).await? {
            let device = part.device;
            let sent = self.results_sent.get(&device).copied().unwrap_or(0);
            if part.results > sent {
                let ids = (tenant, search, device);
                let new = store::results_after(&mut tx, ids, sent, RESULTS_PER_READ).await?;
                self.behind |= new.len() as i64 == RESULTS_PER_READ;
                if let Some(last) = new.last() {
                    self.results_sent.insert(device, last.n);
                }
                for result in new {
                    self.pending
                        .push_back(event("result", &SearchResult::from(result)));
                }
            }
            let part = SearchBox::from(part);
            if self
                .parts
                .get(&device)
                .is_none_or(|before| changed(before, &part))
            {
                self.pending.push_back(event("box", &part));
                self.parts.insert(device, part);
            }
        }
        if found.state != "running" && !self.behind {
            let last = view(&mut tx, found).await?;
            self.pending.push_back(event("end", &last));
            self.ended = true;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Whether a part changed in what a `box` event is for: its state, task, reason, progress.
fn changed(before: &SearchBox, now: &SearchBox) -> bool {
    (
        &before.state,
        &before.task_id,
        &before.reason,
        &before.progress,
    ) != (&now.state, &now.task_id, &now.reason, &now.progress)
}

/// Returns once this instance says it changed `search` (or any search), or once this stream
/// fell behind the changes; never if the uplink stopped (the poll then reads).
async fn woken(changes: &mut broadcast::Receiver<Uuid>, search: Uuid) {
    loop {
        match changes.recv().await {
            Ok(id) if id == search || id.is_nil() => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
