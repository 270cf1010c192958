//! No tenant sees another's data, checked after each fault and at the end of the load.
//!
//! Beside the fleet's tenant ("Bench") the run makes a second one ("Other") with a few
//! simulated boxes of its own, a person enrolled and a search finished over its boxes; each
//! tenant gets a tenant admin signed in, and a finished search of its own. A check, as each
//! tenant's admin in turn: the other tenant's search, its results, its boxes and its person
//! are refused when named under the other tenant (403 or 404) and not found when named under
//! one's own (404); one's own lists of searches and boxes hold none of the other's; and one's
//! own finished search still lists exactly its results, all of one's own boxes. Anything
//! else is a breach, named; a call that fails outright (the relay not answering) is an error
//! of the check, not a breach, and counted apart.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::BoxError;
use crate::searches::boxes::{Behaviour, SearchBoxes};
use crate::uplink::broker::Broker;
use crate::uplink::fleet::activate;
use crate::uplink::relay::RelayProcess;
use crate::uplink::site::{Identity, Site, text};

/// The other tenant's boxes.
const OTHER_BOXES: usize = 3;
const PASSWORD: &str = "bench tenant admin password";
/// How long a tenant's own search may take to end.
const SEARCH_LIMIT: Duration = Duration::from_secs(120);

/// One tenant as the check sees it: its admin's token and the objects another tenant must
/// not see.
struct Side {
    name: &'static str,
    tenant: String,
    token: String,
    search: String,
    /// The search's results, as listed once it had ended.
    results: usize,
    devices: Vec<String>,
    person: String,
}

/// The two tenants, and the other tenant's boxes (connected while the check may run).
pub(super) struct Isolation {
    http: reqwest::Client,
    base: String,
    sides: [Side; 2],
    checked: tokio::sync::Mutex<Checked>,
    _boxes: SearchBoxes,
}

/// What the checks found.
#[derive(Debug, Default, serde::Serialize)]
pub(super) struct Checked {
    pub(super) checks: u64,
    /// Each breach, named (`after kill_relay: Other read Bench's search: 200`).
    pub(super) breaches: Vec<String>,
    /// Checks that could not be made (a call failed outright).
    pub(super) errors: u64,
}

impl Isolation {
    /// Makes the other tenant and both tenants' admins and finished searches; `fleet` is the
    /// fleet's tenant, `person` its enrolled person, `identities` its simulated boxes.
    pub(super) async fn start(
        relay: &RelayProcess,
        broker: &Broker,
        fleet: &Site,
        person: &str,
        identities: &[Identity],
        jpeg: &[u8],
    ) -> Result<Isolation, BoxError> {
        let other = Site::start_named(relay, "Other").await?;
        let other_identities = activate(&other, OTHER_BOXES).await?;
        let boxes = SearchBoxes::connect(broker, &other_identities, jpeg.to_vec()).await?;
        boxes.set(Behaviour {
            hold: false,
            matches: 1,
        });
        for identity in &other_identities {
            other.wait_online(&identity.device).await?;
        }
        let other_person = other.enrol("Joe Biden", super::face("biden.jpg")?).await?;
        let own = &identities[..identities.len().min(OTHER_BOXES)];
        let sides = [
            side("Bench", fleet, person, own).await?,
            side("Other", &other, &other_person, &other_identities).await?,
        ];
        Ok(Isolation {
            http: reqwest::Client::new(),
            base: relay.base.clone(),
            sides,
            checked: tokio::sync::Mutex::default(),
            _boxes: boxes,
        })
    }

    /// Checks both ways, labelled `after` (the fault just recovered from, or `end`).
    pub(super) async fn check(&self, after: &str) {
        let mut checked = self.checked.lock().await;
        for (me, them) in [(0, 1), (1, 0)] {
            let (me, them) = (&self.sides[me], &self.sides[them]);
            checked.checks += 1;
            match self.breaches(me, them).await {
                Ok(found) => (checked.breaches)
                    .extend(found.into_iter().map(|b| format!("after {after}: {b}"))),
                Err(error) => {
                    tracing::warn!(%error, after, "fleet: a tenant isolation check failed");
                    checked.errors += 1;
                }
            }
        }
    }

    /// The search the fleet's own tenant ran for the check (its results count with the
    /// fleet's).
    pub(super) fn own_searches(&self) -> Vec<String> {
        vec![self.sides[0].search.clone()]
    }

    /// What the checks so far found.
    pub(super) async fn checked(&self) -> Checked {
        std::mem::take(&mut *self.checked.lock().await)
    }

    /// What `me`'s admin sees of `them` that it must not, and what it misses of its own.
    async fn breaches(&self, me: &Side, them: &Side) -> Result<Vec<String>, BoxError> {
        let mut found = Vec::new();
        let (mine, theirs) = (&me.tenant, &them.tenant);
        let refused = [
            (format!("{theirs}/searches/{}", them.search), "search"),
            (
                format!("{theirs}/searches/{}/results", them.search),
                "results",
            ),
            (format!("{theirs}/devices"), "boxes"),
            (format!("{theirs}/devices/{}", them.devices[0]), "box"),
            (format!("{theirs}/people/{}", them.person), "person"),
            (
                format!("{mine}/searches/{}", them.search),
                "search under its own tenant",
            ),
            (
                format!("{mine}/devices/{}", them.devices[0]),
                "box under its own tenant",
            ),
            (
                format!("{mine}/people/{}", them.person),
                "person under its own tenant",
            ),
        ];
        for (path, what) in refused {
            let (status, _) = self.get(me, &path).await?;
            if !matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) {
                found.push(format!("{} read {}'s {what}: {status}", me.name, them.name));
            }
        }
        let listed = self.ids(me, &format!("{mine}/searches?limit=500")).await?;
        if listed.contains(&them.search) {
            found.push(format!("{} lists {}'s search", me.name, them.name));
        }
        let listed = self.ids(me, &format!("{mine}/devices")).await?;
        if them.devices.iter().any(|d| listed.contains(d)) {
            found.push(format!("{} lists {}'s boxes", me.name, them.name));
        }
        found.extend(self.own_results(me).await?);
        Ok(found)
    }

    /// `me`'s own finished search: exactly its results, all of its own boxes.
    async fn own_results(&self, me: &Side) -> Result<Vec<String>, BoxError> {
        let path = format!("{}/searches/{}/results?limit=500", me.tenant, me.search);
        let (status, page) = self.get(me, &path).await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let strangers = items
            .iter()
            .filter(|r| !me.devices.iter().any(|d| r["device_id"] == d.as_str()))
            .count();
        let mut found = Vec::new();
        if status != StatusCode::OK || items.len() != me.results || strangers > 0 {
            found.push(format!(
                "{}'s own search lists {} results ({status}, {strangers} of other boxes), \
                 not its {}",
                me.name,
                items.len(),
                me.results
            ));
        }
        Ok(found)
    }

    /// The `id`s of the `items` a list answers.
    async fn ids(&self, me: &Side, path: &str) -> Result<HashSet<String>, BoxError> {
        let (status, list) = self.get(me, path).await?;
        if status != StatusCode::OK {
            return Err(format!("GET {path}: {status}").into());
        }
        let items = list["items"].as_array().ok_or("a list without items")?;
        items.iter().map(|item| text(item, "id")).collect()
    }

    /// GETs `/api/v1/tenants/{path}` as `me`'s admin: its status and JSON body. A failure
    /// to answer at all (or a 5xx: the relay not ready) is an error.
    async fn get(&self, me: &Side, path: &str) -> Result<(StatusCode, Value), BoxError> {
        let url = format!("{}/api/v1/tenants/{path}", self.base);
        let response = self.http.get(&url).bearer_auth(&me.token).send().await?;
        let status = response.status();
        if status.is_server_error() {
            return Err(format!("GET {url}: {status}").into());
        }
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }
}

/// `site`'s tenant with its admin signed in and a search of its own finished.
async fn side(
    name: &'static str,
    site: &Site,
    person: &str,
    boxes: &[Identity],
) -> Result<Side, BoxError> {
    let email = format!("admin@{}.bench.test", name.to_lowercase());
    let token = site.tenant_admin(&email, PASSWORD).await?;
    let devices: Vec<String> = boxes.iter().map(|b| b.device.clone()).collect();
    let now = jiff::Timestamp::now();
    let body = json!({
        "person_id": person,
        "from": (now - jiff::SignedDuration::from_hours(1)).to_string(),
        "to": (now - jiff::SignedDuration::from_mins(1)).to_string(),
        "devices": devices,
    });
    let search = text(&site.post_tenant("/searches", body).await?, "id")?;
    let deadline = Instant::now() + SEARCH_LIMIT;
    let results = loop {
        let read = site.get_tenant(&format!("/searches/{search}")).await?;
        if read["state"] != "running" {
            break read["result_count"].as_u64().ok_or("no result_count")?;
        }
        if Instant::now() > deadline {
            return Err(format!("{name}'s own search did not end in {SEARCH_LIMIT:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Ok(Side {
        name,
        tenant: site.tenant_id().to_owned(),
        token,
        search,
        results: usize::try_from(results)?,
        devices,
        person: person.to_owned(),
    })
}
