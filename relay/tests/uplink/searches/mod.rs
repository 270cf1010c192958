//! Remote searches through the API, the broker and boxes played by raw MQTT clients speaking
//! the real protocol: the fan-out to every box of a scope, each box's part driven by its
//! answers and events, results stored once and merged, the event stream, cancellation,
//! expiry, a relay restart, idempotency and every refusal.
//!
//! People and their photos are rows written with SQL (the face library's API is another
//! change), with real embeddings: `dipper face embed` of the test photos.

mod cancel;
mod expiry;
mod fan_out;
mod refusals;
mod restart;
mod results;
mod stream;

use std::sync::OnceLock;
use std::time::Duration;

use protocol::rpc::{Method, RpcRequest, RpcResponse};
use protocol::search::{
    CreateSearch, SearchAccepted, SearchEvent, SearchEventBody, SearchMatch, SearchProgress,
    WireEmbedding,
};
use protocol::topics::Topic;
use relay::config::Config;
use reqwest::{Method as HttpMethod, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, TestRelay};
use crate::library::add_person;
use crate::site::{Site, TestBox, activate, eventually, uuid, with_broker};
use crate::world::{Tenant, World};
use testkit::TestBroker;

/// The embeddings of two photos of one person, as the box computes them.
pub(crate) fn photos() -> &'static [WireEmbedding] {
    static PHOTOS: OnceLock<Vec<WireEmbedding>> = OnceLock::new();
    PHOTOS.get_or_init(|| {
        ["obama.jpg", "obama2.jpg"]
            .into_iter()
            .map(testkit::faces::embedding_of)
            .collect()
    })
}

/// A site (broker, relay, tenants A and B) with a person of tenant A in the face library.
pub(crate) struct SearchSite {
    pub(crate) site: Site,
    pub(crate) person: Uuid,
}

impl SearchSite {
    pub(crate) async fn new(backend: Backend) -> SearchSite {
        Self::configured(backend, |_| {}).await
    }

    /// A site whose relay's configuration `tweak` changes.
    pub(crate) async fn configured(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
    ) -> SearchSite {
        let broker = TestBroker::start();
        let broker_config = with_broker(&broker, "relay-a");
        let world = World::configured(backend, |config| {
            broker_config(config);
            tweak(config);
        })
        .await;
        let site = Site { world, broker };
        let tenant = uuid(&site.world.a.id);
        let person = add_person(site.relay(), tenant, photos()).await;
        SearchSite { site, person }
    }

    pub(crate) fn relay(&self) -> &TestRelay {
        self.site.relay()
    }

    pub(crate) fn a(&self) -> &Tenant {
        &self.site.world.a
    }

    pub(crate) fn token(&self) -> &str {
        &self.a().admin_token
    }

    pub(crate) fn path(&self) -> String {
        format!("/api/v1/tenants/{}/searches", self.a().id)
    }

    /// A new area of tenant A under `parent`.
    pub(crate) async fn area(&self, name: &str, parent: &str) -> String {
        let path = format!("/api/v1/tenants/{}/areas", self.a().id);
        let body = json!({"name": name, "parent_id": parent});
        let area = self.relay().created(&path, self.token(), body).await;
        area["id"].as_str().expect("id").to_owned()
    }

    /// A new box of tenant A in `area`, activated (not connected): its id and credential.
    pub(crate) async fn new_box(&self, area: &str) -> (Uuid, String) {
        let path = format!("/api/v1/tenants/{}/devices", self.a().id);
        let body = json!({"name": format!("Box in {area}"), "area_id": area});
        let made = self.relay().created(&path, self.token(), body).await;
        let device = made["device"]["id"].as_str().expect("id").to_owned();
        let key = made["provisioning_key"].as_str().expect("key");
        let answer = activate(self.relay(), &device, key).await;
        let credential = answer["credential"].as_str().expect("credential");
        (uuid(&device), credential.to_owned())
    }

    /// Tenant A's first box (on Floor 1), activated (not connected).
    pub(crate) async fn first_box(&self) -> (Uuid, String) {
        let (device, _, answer) = self.site.activate_a().await;
        let credential = answer["credential"].as_str().expect("credential");
        (device, credential.to_owned())
    }

    /// Connects a box of tenant A and says it is online; returns once the relay knows.
    pub(crate) async fn online(&self, (device, credential): &(Uuid, String)) -> TestBox {
        let tenant = uuid(&self.a().id);
        let a_box = TestBox::connect(&self.site.broker, (tenant, *device), credential)
            .await
            .expect("box connects");
        a_box.online().await;
        let path = format!("/api/v1/tenants/{}/devices/{device}", self.a().id);
        eventually("the relay sees the box online", || async {
            let found = self.relay().get(&path, self.token()).await;
            found.1["online"] == true
        })
        .await;
        a_box
    }

    /// Starts a search as tenant A's admin, asserting 201.
    pub(crate) async fn start(&self, body: Value) -> Value {
        self.relay().created(&self.path(), self.token(), body).await
    }

    /// A search's body over the last two hours for the site's person, scope added by the
    /// caller.
    pub(crate) fn body(&self, scope: Value) -> Value {
        let mut body = json!({
            "person_id": self.person,
            "from": ago(Duration::from_secs(3 * 3600)),
            "to": ago(Duration::from_secs(3600)),
        });
        for (key, value) in scope.as_object().expect("scope").clone() {
            body[key] = value;
        }
        body
    }

    /// The search as tenant A's admin reads it.
    pub(crate) async fn search(&self, search: &Value) -> Value {
        let path = format!("{}/{}", self.path(), id(search));
        self.relay()
            .expect_get(&path, self.token(), StatusCode::OK)
            .await
    }

    /// Waits until `condition` holds of the search as read; returns it.
    pub(crate) async fn until(
        &self,
        search: &Value,
        what: &str,
        condition: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(what, || async { condition(&self.search(search).await) }).await;
        self.search(search).await
    }
}

pub(crate) fn id(value: &Value) -> &str {
    value["id"].as_str().expect("id")
}

/// `ago` before now, RFC 3339.
pub(crate) fn ago(ago: Duration) -> String {
    let now = jiff::Timestamp::now();
    let ago = jiff::SignedDuration::try_from(ago).expect("duration");
    now.checked_sub(ago).expect("a time").to_string()
}

/// The part of `device` in a search as read.
pub(crate) fn part(search: &Value, device: Uuid) -> &Value {
    search["boxes"]
        .as_array()
        .expect("boxes")
        .iter()
        .find(|b| b["device_id"] == device.to_string().as_str())
        .unwrap_or_else(|| panic!("no part of {device} in {search}"))
}

/// The devices of a search's parts, sorted.
pub(crate) fn devices(search: &Value) -> Vec<Uuid> {
    let mut found: Vec<Uuid> = search["boxes"]
        .as_array()
        .expect("boxes")
        .iter()
        .map(|b| uuid(b["device_id"].as_str().expect("device")))
        .collect();
    found.sort();
    found
}

/// The next RPC of the box, which must be a `createSearch`: its wire id and params.
pub(crate) async fn next_search(a_box: &mut TestBox) -> (u64, CreateSearch) {
    let (id, request) = a_box.next_rpc().await;
    let RpcRequest {
        method: Method::CreateSearch(search),
        ..
    } = request
    else {
        panic!("not a createSearch: {request:?}");
    };
    (id, search)
}

/// Answers a createSearch with the box's task.
pub(crate) async fn accept(a_box: &mut TestBox, rpc: u64, task: &str) {
    let accepted = SearchAccepted {
        task_id: task.to_owned(),
    };
    a_box.answer(rpc, RpcResponse::ok(&accepted)).await;
}

/// Publishes a search event with the box's next sequence; the sequence.
pub(crate) async fn send_event(a_box: &mut TestBox, search: Uuid, body: SearchEventBody) -> u64 {
    let seq = a_box.next_seq();
    send_event_as(a_box, seq, search, body).await;
    seq
}

/// Publishes a search event with sequence `seq` (a replay sends one again).
pub(crate) async fn send_event_as(a_box: &TestBox, seq: u64, search: Uuid, body: SearchEventBody) {
    let event = SearchEvent::new(seq, search, body);
    a_box.publish(Topic::Events, protocol::encode(&event)).await;
}

pub(crate) fn progress(done: u64, total: u64, matches: u64) -> SearchEventBody {
    SearchEventBody::Progress(SearchProgress {
        recordings_total: total,
        recordings_done: done,
        recordings_failed: 0,
        matches,
        eta_seconds: Some(total - done),
    })
}

/// A match seen `minutes_ago` minutes before now, at `distance`.
pub(crate) fn found(match_id: i64, minutes_ago: i64, distance: f32) -> SearchEventBody {
    let time_ms = jiff::Timestamp::now().as_millisecond() - minutes_ago * 60_000;
    found_at(match_id, time_ms, distance)
}

/// A match seen at `time_ms`, at `distance`.
pub(crate) fn found_at(match_id: i64, time_ms: i64, distance: f32) -> SearchEventBody {
    SearchEventBody::Match(SearchMatch {
        match_id,
        time_ms,
        camera: format!("Camera {}", match_id % 3),
        distance,
        face_box: [10.0, 20.0, 64.0, 64.0],
    })
}

/// A box's end of its part, without the footage it covered (as boxes before metering send).
pub(crate) fn finished(state: &str, reason: Option<&str>) -> SearchEventBody {
    SearchEventBody::Finished {
        state: state.to_owned(),
        reason: reason.map(str::to_owned),
        camera_seconds: None,
        matches: None,
    }
}

/// A box's `done` counting `matches` matches, as boxes since the count send it.
pub(crate) fn done_counting(matches: u64) -> SearchEventBody {
    SearchEventBody::Finished {
        state: "done".to_owned(),
        reason: None,
        camera_seconds: None,
        matches: Some(matches),
    }
}

/// A search's server-sent events, read from the relay's answer.
pub(crate) struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    pub(crate) async fn open(relay: &TestRelay, path: &str, token: &str) -> EventStream {
        let response = relay
            .raw(HttpMethod::GET, path)
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let kind = response.headers()["content-type"].to_str().expect("ascii");
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name and data, within 15 s; none once the stream has closed.
    pub(crate) async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = ("message".to_owned(), String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        value.trim().clone_into(&mut name);
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // A keep-alive comment.
                }
                return Some((name, serde_json::from_str(&data).expect("JSON data")));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(15), self.response.chunk())
                .await
                .expect("an event within 15 s")
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return None,
            }
        }
    }

    /// The next event, which must be named `name`: its data.
    pub(crate) async fn expect(&mut self, name: &str) -> Value {
        let (found, data) = self.next().await.expect("the stream is open");
        assert_eq!(found, name, "{data}");
        data
    }
}
