//! `GET .../searches/{id}/events`: a search as server-sent events. First `search` (the search
//! as `GET` answers it); then `box` (one box's part) whenever a part's state, task, reason or
//! progress changes, and `result` for every result stored after the first event, each box's
//! in the order they were stored (with its snapshot URLs if they were uploaded by then); then
//! `snapshots` (the same result again, now with its URLs) once the box uploaded the snapshots
//! of a result sent without them; then `end` (the search again) once it is no longer
//! `running` and nothing is left to send, and the stream closes. Comments keep the
//! connection alive. The snapshot URLs expire after `[objects] get_url_seconds` as
//! everywhere else; `GET .../results` hands out fresh ones.
//!
//! The stream follows the database, not this process: it reads the search again every
//! `[searches] events_poll_ms`, and at once when this instance applied a change to it
//! (`crate::uplink::Uplink::search_changes`), so a change another relay instance applied is
//! seen at the next read. What a read found and what was sent are compared, so a change is
//! sent once, whichever instance made it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::{Search, SearchBox, SearchResult, view, visible, with_snapshot_urls};
use crate::api::begin;
use crate::auth::Principal;
use crate::db::{DbError, Mode, Scope, now_ms};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::store::searches as store;

/// How often a comment keeps an idle stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Results of one box read at once; more are read at once after.
const RESULTS_PER_READ: i64 = 500;
/// Uploaded snapshots read at once; more are read at once after.
const UPLOADS_PER_READ: i64 = 500;
/// How far behind this instance's clock another instance's may be: uploads are looked for
/// from this long before the last one seen.
const CLOCK_SKEW_MS: i64 = 60_000;

/// A search's changes as they happen (viewers of every box in it).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/searches/{search_id}/events", tag = "searches", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("search_id" = Uuid, Path)),
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-sent events: `search` (a Search), then `box` (a SearchBox), \
                       `result` (a SearchResult) and `snapshots` (a SearchResult sent before, \
                       now with its snapshot URLs) as they happen, then `end` (a Search) once \
                       the search is no longer running",
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
    let opened_ms = now_ms();
    let mut first = view(&mut tx, search).await?;
    tx.commit().await?;
    with_snapshot_urls(&state, (tenant, search_id), &mut first.results.items).await?;
    let poll = Duration::from_millis(state.config.searches.events_poll_ms);
    let follow = Follow::new(
        state.clone(),
        (tenant, search_id),
        (changes, poll, opened_ms),
        &first,
    );
    let stream = futures::stream::unfold(follow, Follow::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One open stream: what it has sent, and what waits to be.
struct Follow {
    state: AppState,
    /// Tenant and search.
    ids: (Uuid, Uuid),
    /// Each box's part as last sent.
    parts: BTreeMap<Uuid, SearchBox>,
    /// The number of each box's last result sent.
    results_sent: BTreeMap<Uuid, i64>,
    /// The results sent without snapshots (box, match id), whose `snapshots` event is due.
    awaiting: HashSet<(Uuid, i64)>,
    /// Uploads are looked for from this time (Unix ms, the relays' clocks).
    uploads_from: i64,
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
        state: AppState,
        ids: (Uuid, Uuid),
        (changes, poll, opened_ms): (Option<broadcast::Receiver<Uuid>>, Duration, i64),
        first: &Search,
    ) -> Follow {
        let mut pending = VecDeque::from([event("search", first)]);
        let ended = first.state != "running";
        if ended {
            pending.push_back(event("end", first));
        }
        Follow {
            state,
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
            awaiting: HashSet::new(),
            uploads_from: opened_ms - CLOCK_SKEW_MS,
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
    async fn read(&mut self) -> Result<(), ReadError> {
        let (tenant, search) = self.ids;
        let mut tx = self
            .state
            .db
            .begin(Scope::Tenant(tenant), Mode::Read)
            .await?;
        let Some(found) = store::find(&mut tx, tenant, search).await? else {
            // Gone with its tenant.
            self.ended = true;
            return Ok(());
        };
        let mut results = Vec::new();
        let mut boxes = Vec::new();
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
                results.extend(new.into_iter().map(SearchResult::from));
            }
            let part = SearchBox::from(part);
            if self
                .parts
                .get(&device)
                .is_none_or(|before| changed(before, &part))
            {
                boxes.push(part.clone());
                self.parts.insert(device, part);
            }
        }
        let uploaded = self.uploads(&mut tx).await?;
        let last = if found.state != "running" && !self.behind {
            Some(view(&mut tx, found).await?)
        } else {
            None
        };
        tx.commit().await.map_err(DbError::from)?;
        // URLs are made after the transaction: signing may ask the object store.
        with_snapshot_urls(&self.state, self.ids, &mut results).await?;
        for result in results {
            if result.snapshots.is_none() {
                self.awaiting.insert((result.device_id, result.match_id));
            }
            self.pending.push_back(event("result", &result));
        }
        for part in boxes {
            self.pending.push_back(event("box", &part));
        }
        for result in uploaded {
            self.pending.push_back(event("snapshots", &result));
        }
        if let Some(mut last) = last {
            with_snapshot_urls(&self.state, self.ids, &mut last.results.items).await?;
            self.pending.push_back(event("end", &last));
            self.ended = true;
        }
        Ok(())
    }

    /// The results sent without snapshots whose snapshots have been uploaded since, with
    /// their URLs (no longer awaited).
    async fn uploads(&mut self, tx: &mut crate::db::Tx) -> Result<Vec<SearchResult>, ReadError> {
        if self.awaiting.is_empty() {
            return Ok(Vec::new());
        }
        let (tenant, search) = self.ids;
        let found =
            store::uploaded_since(tx, (tenant, search), self.uploads_from, UPLOADS_PER_READ)
                .await?;
        self.behind |= found.len() as i64 == UPLOADS_PER_READ;
        let mut uploaded = Vec::new();
        for result in found {
            let at = result.snapshots_at.unwrap_or(self.uploads_from);
            self.uploads_from = self.uploads_from.max(at - CLOCK_SKEW_MS);
            if self.awaiting.remove(&(result.device, result.match_id)) {
                uploaded.push(SearchResult::from(result));
            }
        }
        with_snapshot_urls(&self.state, self.ids, &mut uploaded).await?;
        Ok(uploaded)
    }
}

/// Why a read of the search failed (the stream tries again at its next).
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Objects(#[from] crate::objects::ObjectError),
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
