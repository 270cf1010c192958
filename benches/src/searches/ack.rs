//! The acknowledgement figure: a search started through `POST .../searches`, timed until
//! every box's part is `accepted` at the relay. The moment of acceptance is the part's
//! `updated_at` (the relay's clock, ms, the same machine's as the bench's), written when the
//! relay applied the box's answer; the boxes hold their reports meanwhile, so nothing else
//! moves it before it is read.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::boxes::{Behaviour, SearchBoxes};
use crate::BoxError;
use crate::uplink::site::{Site, text};

/// How often the search is read while waiting for its parts.
const POLL: Duration = Duration::from_millis(2);
const WITHIN: Duration = Duration::from_secs(60);

/// A search to start: the person, a span, the scope (`areas` or `devices`).
pub(super) struct Request {
    pub(super) body: Value,
    pub(super) boxes: usize,
}

/// One search's acknowledgement: from the POST to every part accepted, and the POST's own
/// answer (the relay stored the search and published its RPCs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ack {
    pub(super) all: Duration,
    pub(super) post: Duration,
}

/// `n` searches one after another, each timed from its POST to the last part accepted; the
/// boxes then report each (no matches) and it is awaited done before the next.
pub(super) async fn acknowledgements(
    site: &Site,
    boxes: &SearchBoxes,
    request: &Request,
    n: usize,
) -> Result<Vec<Ack>, BoxError> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        boxes.set(Behaviour {
            hold: true,
            matches: 0,
        });
        let (id, took) = acknowledged(site, request).await?;
        samples.push(took);
        boxes.set(Behaviour {
            hold: false,
            matches: 0,
        });
        wait_state(site, &id, "done").await?;
    }
    Ok(samples)
}

/// Starts one search and waits until all its parts are accepted; its id and the times.
async fn acknowledged(site: &Site, request: &Request) -> Result<(String, Ack), BoxError> {
    let started_ms = jiff::Timestamp::now().as_millisecond();
    let started = Instant::now();
    let search = site.post_tenant("/searches", request.body.clone()).await?;
    let post = started.elapsed();
    let id = text(&search, "id")?;
    let deadline = Instant::now() + WITHIN;
    loop {
        let search = site.get_tenant(&format!("/searches/{id}")).await?;
        let parts = search["boxes"].as_array().ok_or("a search without boxes")?;
        if parts.len() != request.boxes {
            return Err(format!(
                "{} parts for {} boxes: {search}",
                parts.len(),
                request.boxes
            )
            .into());
        }
        if let Some(odd) = parts
            .iter()
            .find(|p| !matches!(p["state"].as_str(), Some("queued" | "sent" | "accepted")))
        {
            return Err(format!("a part moved past accepted while held: {odd}").into());
        }
        if parts.iter().all(|p| p["state"] == "accepted") {
            let last = parts
                .iter()
                .map(|p| time_ms(&p["updated_at"]))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .max()
                .unwrap_or(started_ms);
            let ms = u64::try_from(last - started_ms).unwrap_or(0);
            let all = Duration::from_millis(ms);
            return Ok((id, Ack { all, post }));
        }
        if Instant::now() > deadline {
            return Err(format!("search {id} not accepted by every box in 60 s: {search}").into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until search `id` is in `state`.
pub(super) async fn wait_state(site: &Site, id: &str, state: &str) -> Result<Value, BoxError> {
    let deadline = Instant::now() + WITHIN;
    loop {
        let search = site.get_tenant(&format!("/searches/{id}")).await?;
        if search["state"] == state {
            return Ok(search);
        }
        if Instant::now() > deadline {
            return Err(format!("search {id} not {state} in 60 s: {search}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An RFC 3339 time of the API, Unix ms.
pub(super) fn time_ms(value: &Value) -> Result<i64, BoxError> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{value} is not a time"))?;
    Ok(text.parse::<jiff::Timestamp>()?.as_millisecond())
}

/// The body of a search for `person` over the last hour, of `scope`.
pub(super) fn search_body(person: &str, scope: (&str, &str)) -> Value {
    let now = jiff::Timestamp::now();
    let from = now - jiff::SignedDuration::from_secs(3600);
    let to = now - jiff::SignedDuration::from_secs(60);
    json!({
        "person_id": person,
        "from": from.to_string(),
        "to": to.to_string(),
        scope.0: [scope.1],
    })
}
