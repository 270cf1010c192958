//! Three relays share one deployment's work: the API behind a load balancer (any call on
//! any instance), calls to boxes through any instance, the boxes' reports split among them
//! by the broker's shared subscription, and one instance killed in the middle.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use testkit::faces::photo;
use testkit::relay::{PASSWORD, ROOT, TENANT_ADMIN};
use testkit::{Daemon, S3Server, eventually};

use crate::boxes::SimBox;
use crate::cluster::{Cluster, NAMES};
use crate::site::{BOX_CONFIG, WAIT, camera_with_faces, metric_sum};

const BUCKET: &str = "dipper-scale";
/// Boxes played by MQTT clients, and the telemetry each sends (one every [`EVERY`]).
const SIM_BOXES: usize = 4;
const SAMPLES: u64 = 300;
const EVERY: Duration = Duration::from_millis(20);
/// Relay b, the one killed.
const KILLED: usize = 1;

/// `[objects]` on the S3 server: every instance hands out URLs of the same bucket.
fn objects_toml(s3: &S3Server) -> String {
    format!(
        r#"
[objects]
backend = "s3"
[objects.s3]
endpoint = "{endpoint}"
bucket = "{BUCKET}"
access_key_id = "{access}"
secret_access_key = "{secret}"
create_bucket = true
"#,
        endpoint = s3.endpoint(),
        access = s3.access_key(),
        secret = s3.secret_key(),
    )
}

/// Signs in on relay `i`: the access and the refresh token.
async fn login(cluster: &Cluster, i: usize, tenant: Option<&str>, email: &str) -> (String, String) {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let Some(tenant) = tenant {
        body["tenant_id"] = json!(tenant);
    }
    let (status, answer) = cluster
        .send(
            i,
            (Method::POST, "/api/v1/auth/login"),
            None,
            Some(&body),
            None,
        )
        .await;
    assert_eq!(status, 200, "login on relay {}: {answer}", NAMES[i]);
    let token = |key: &str| answer[key].as_str().expect("token").to_owned();
    (token("access_token"), token("refresh_token"))
}

/// `POST /api/v1/auth/refresh` on relay `i`: the status and the body.
async fn refresh(cluster: &Cluster, i: usize, refresh_token: &str) -> (u16, Value) {
    let body = json!({ "refresh_token": refresh_token });
    cluster
        .send(
            i,
            (Method::POST, "/api/v1/auth/refresh"),
            None,
            Some(&body),
            None,
        )
        .await
}

/// Creates a tenant named `name` on relay `i` with the idempotency key `key`: its id.
async fn create_tenant(cluster: &Cluster, i: usize, root: &str, name: &str, key: &str) -> String {
    let (status, tenant) = cluster
        .send(
            i,
            (Method::POST, "/api/v1/tenants"),
            Some(root),
            Some(&json!({ "name": name })),
            Some(key),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {tenant}");
    tenant["id"].as_str().expect("id").to_owned()
}

/// A box registered on relay `on` in `tenant`'s `area`: its id and provisioning key.
async fn register(
    cluster: &Cluster,
    on: usize,
    (tenant, area): (&str, &str),
    token: &str,
    name: &str,
) -> (String, String) {
    let path = format!("/api/v1/tenants/{tenant}/devices");
    let device = cluster
        .post_ok(on, &path, token, &json!({ "name": name, "area_id": area }))
        .await;
    let id = device["device"]["id"].as_str().expect("id").to_owned();
    let key = device["provisioning_key"].as_str().expect("key").to_owned();
    (id, key)
}

/// A two-way `ping` to `device` through relay `i`, which must be answered: the instance
/// that waits for the answer is woken whichever instance applied it. The call's own timeout
/// is twice the wait, so a waiter left unwoken fails here instead of ending as a late 200.
async fn ping(cluster: &Cluster, i: usize, (tenant, device): (&str, &str), token: &str) {
    let path = format!("/api/v1/tenants/{tenant}/devices/{device}/rpc");
    let body = json!({ "method": "ping", "timeout_ms": 2 * WAIT.as_millis() as u64 });
    let call = cluster.send(i, (Method::POST, &path), Some(token), Some(&body), None);
    let (status, answer) = tokio::time::timeout(WAIT, call).await.unwrap_or_else(|_| {
        panic!(
            "a ping to {device} through relay {} not answered within {WAIT:?}\n{}",
            NAMES[i],
            cluster.logs()
        )
    });
    assert_eq!(status, 200, "relay {}: {answer}", NAMES[i]);
    assert_eq!(
        answer["state"], "successful",
        "relay {}: {answer}",
        NAMES[i]
    );
}

/// Telemetry messages relay `i` applied, from its `/metrics`.
async fn telemetry_applied(cluster: &Cluster, i: usize) -> u64 {
    let metrics = cluster.relay(i).metrics().await;
    let labels = ["topic=\"telemetry\"", "outcome=\"applied\""];
    metric_sum(&metrics, "relay_uplink_messages_total", &labels)
}

/// A search's server-sent events from `url`, read until the stream ends: (event, data).
async fn follow_events(url: String, token: String) -> Vec<(String, Value)> {
    let mut response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("the event stream");
    assert_eq!(response.status(), 200);
    let mut buffer: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("a chunk of the stream") {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let block = String::from_utf8(block).expect("UTF-8 events");
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(event) = line.strip_prefix("event:") {
                    name = Some(event.trim().to_owned());
                } else if let Some(line) = line.strip_prefix("data:") {
                    data.push_str(line.trim_start());
                }
            }
            if let Some(name) = name {
                let data = serde_json::from_str(&data).expect("an event's JSON");
                events.push((name, data));
            }
        }
    }
    events
}

/// Fetches `url` (no token: the signature is the authority) and checks it is a JPEG.
async fn assert_jpeg(url: &str) {
    let response = reqwest::get(url).await.expect("fetch");
    assert_eq!(response.status(), 200, "{url}");
    let bytes = response.bytes().await.expect("bytes");
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .unwrap_or_else(|e| panic!("{url} is not a JPEG: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_relays_share_the_api_the_boxes_and_the_events_and_outlive_a_kill_9() {
    let (sim, from, to) = camera_with_faces().await;
    let s3 = S3Server::start();
    let mut cluster = Cluster::start(&objects_toml(&s3), &[]).await;
    let (a, b, c) = (0, 1, 2);

    // The API behind a balancer: a tenant made on a, the same request again on b (one
    // tenant: the idempotency key is in the database), read on b, renamed on c, read on a.
    let (root, _) = login(&cluster, a, None, ROOT).await;
    let tenant = create_tenant(&cluster, a, &root, "Community", "scale-community").await;
    let again = create_tenant(&cluster, b, &root, "Community", "scale-community").await;
    assert_eq!(again, tenant, "one tenant for one idempotency key");
    let tenant_path = format!("/api/v1/tenants/{tenant}");
    assert_eq!(
        cluster.get_ok(b, &tenant_path, &root).await["name"],
        "Community"
    );
    let renamed = json!({ "name": "Community North" });
    let (status, body) = cluster
        .send(
            c,
            (Method::PATCH, &tenant_path),
            Some(&root),
            Some(&renamed),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        cluster.get_ok(a, &tenant_path, &root).await["name"],
        "Community North"
    );
    let listed = cluster.get_ok(c, "/api/v1/tenants", &root).await;
    let named: Vec<&Value> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| t["id"] == tenant.as_str())
        .collect();
    assert_eq!(named.len(), 1, "{listed}");

    // Its administrator made on b and granted on c; signed in on b, refreshed on c, the new
    // token honoured on a. The next refresh token presented on a and b at once: one
    // renewal, the other caught as reuse, and the session ends on every instance.
    let admin = json!({ "email": TENANT_ADMIN, "password": PASSWORD });
    let admin = cluster
        .post_ok(b, &format!("{tenant_path}/users"), &root, &admin)
        .await;
    let grants = format!(
        "{tenant_path}/users/{}/grants",
        admin["id"].as_str().expect("id")
    );
    cluster
        .post_ok(c, &grants, &root, &json!({ "role": "tenant_admin" }))
        .await;
    let (_, first_refresh) = login(&cluster, b, Some(&tenant), TENANT_ADMIN).await;
    let (status, renewed) = refresh(&cluster, c, &first_refresh).await;
    assert_eq!(status, 200, "{renewed}");
    let renewed_access = renewed["access_token"].as_str().expect("access").to_owned();
    let me = cluster.get_ok(a, "/api/v1/me", &renewed_access).await;
    assert_eq!(me["tenant_id"], tenant.as_str(), "{me}");
    let next_refresh = renewed["refresh_token"].as_str().expect("refresh");
    let (on_a, on_b) = tokio::join!(
        refresh(&cluster, a, next_refresh),
        refresh(&cluster, b, next_refresh)
    );
    let statuses = BTreeSet::from([on_a.0, on_b.0]);
    assert_eq!(
        statuses,
        BTreeSet::from([200, 401]),
        "one renewal: {on_a:?} {on_b:?}"
    );
    let refused = if on_a.0 == 401 { &on_a.1 } else { &on_b.1 };
    assert_eq!(refused["error"], "refresh_token_reused", "{refused}");
    let (status, body) = cluster
        .send(
            c,
            (Method::GET, "/api/v1/me"),
            Some(&renewed_access),
            None,
            None,
        )
        .await;
    assert_eq!((status, &body["error"]), (401, &json!("session_revoked")));
    let (admin_token, _) = login(&cluster, c, Some(&tenant), TENANT_ADMIN).await;
    let area = cluster
        .post_ok(
            a,
            &format!("{tenant_path}/areas"),
            &admin_token,
            &json!({ "name": "Gate" }),
        )
        .await;
    let area = area["id"].as_str().expect("area").to_owned();

    // A box daemon on a camera whose footage shows the person: registered on c, activated
    // through b. It publishes again what no relay acknowledged within a second.
    let (box_id, key) = register(&cluster, c, (&tenant, &area), &admin_token, "Gate box").await;
    let box_dir = tempfile::tempdir().expect("tempdir");
    let config = format!("{BOX_CONFIG}uplink.republish_after_ms = 1000\n");
    let daemon = Daemon::start_with(box_dir.path(), &config, &[], &[]);
    let relay_b = cluster.relay(b).base.clone();
    let activated = daemon.cli(&[
        "uplink",
        "activate",
        "--relay",
        &relay_b,
        "--device-id",
        &box_id,
        "--key",
        &key,
    ]);
    assert!(
        activated.status.success(),
        "dipper uplink activate: {}",
        String::from_utf8_lossy(&activated.stderr)
    );
    daemon
        .api()
        .add_camera("gate", &sim.device(0).base_url())
        .await;

    // A second tenant of boxes played by MQTT clients, each registered on one instance and
    // activated through the next.
    let fleet = create_tenant(&cluster, b, &root, "Fleet", "scale-fleet").await;
    let fleet_area = cluster
        .post_ok(
            c,
            &format!("/api/v1/tenants/{fleet}/areas"),
            &root,
            &json!({ "name": "Street" }),
        )
        .await;
    let fleet_area = fleet_area["id"].as_str().expect("area").to_owned();
    let mut sim_boxes = Vec::new();
    for n in 0..SIM_BOXES {
        let name = format!("Fleet box {n}");
        let (id, key) = register(&cluster, n % 3, (&fleet, &fleet_area), &root, &name).await;
        let body = json!({ "device_id": id, "provisioning_key": key });
        let activated = cluster
            .send(
                (n + 1) % 3,
                (Method::POST, "/api/v1/devices/activate"),
                None,
                Some(&body),
                None,
            )
            .await;
        assert_eq!(activated.0, 200, "{}", activated.1);
        let credential = activated.1["credential"].as_str().expect("credential");
        let prefix = activated.1["broker"]["topic_prefix"]
            .as_str()
            .expect("prefix");
        sim_boxes.push(SimBox::connect(&cluster.broker, &id, credential, prefix).await);
    }
    let everyone: Vec<(String, String, String)> = sim_boxes
        .iter()
        .map(|b| (fleet.clone(), b.device_id.clone(), root.clone()))
        .chain([(tenant.clone(), box_id.clone(), admin_token.clone())])
        .collect();
    for (owner, device, token) in &everyone {
        eventually(&format!("{device} online"), WAIT, || async {
            let path = format!("/api/v1/tenants/{owner}/devices/{device}");
            cluster.get_ok(c, &path, token).await["online"] == true
        })
        .await;
    }

    // Calls to every box through every instance are answered: the box's answer reaches all
    // three, one applies it, and the one whose caller waits is woken whichever it was.
    for i in [a, b, c] {
        for (owner, device, token) in &everyone {
            ping(&cluster, i, (owner, device), token).await;
        }
    }

    // A remote search made on a, followed as events on c.
    let people = format!("{tenant_path}/people");
    let person = cluster
        .post_ok(a, &people, &admin_token, &json!({ "name": "Barack Obama" }))
        .await;
    let person = person["id"].as_str().expect("person").to_owned();
    let enrolled = reqwest::Client::new()
        .post(format!("{}{people}/{person}/photos", cluster.relay(a).base))
        .bearer_auth(&admin_token)
        .header("content-type", "image/jpeg")
        .body(std::fs::read(photo("obama.jpg")).expect("photo"))
        .send()
        .await
        .expect("enrol");
    assert_eq!(enrolled.status(), 201);
    let from = jiff::Timestamp::from_millisecond(from.as_millisecond() + 1_000).expect("from");
    let request = json!({
        "person_id": person,
        "from": from.to_string(),
        "to": to.to_string(),
        "devices": [box_id],
    });
    let searches = format!("{tenant_path}/searches");
    let search = cluster.post_ok(a, &searches, &admin_token, &request).await;
    let search_path = format!("{searches}/{}", search["id"].as_str().expect("id"));
    let events = tokio::spawn(follow_events(
        format!("{}{search_path}/events", cluster.relay(c).base),
        admin_token.clone(),
    ));

    // Meanwhile the fleet reports, and every instance takes its share.
    for sim_box in &sim_boxes {
        sim_box.send_telemetry(SAMPLES, EVERY);
    }
    let before: Vec<u64> = applied_by_each(&cluster).await;
    eventually(
        "each instance applied telemetry of its own",
        WAIT,
        || async {
            let now = applied_by_each(&cluster).await;
            now.iter().zip(&before).all(|(now, before)| now > before)
        },
    )
    .await;
    eventually("the box took the search (read on b)", WAIT, || async {
        let state =
            cluster.get_ok(b, &search_path, &admin_token).await["boxes"][0]["state"].clone();
        state == "accepted" || state == "running"
    })
    .await;

    // Relay b dies at once, in the middle of it all.
    cluster.relays[KILLED].kill9();

    // The other two carry on: calls are answered through them, the search ends with every
    // match of the box once, the event stream on c sees it all, the snapshots are in the
    // bucket behind c's URLs.
    for i in [a, c] {
        for (owner, device, token) in &everyone {
            ping(&cluster, i, (owner, device), token).await;
        }
    }
    eventually(
        "the search done, every result with its snapshots (read on a)",
        Duration::from_secs(180),
        || async {
            let search = cluster.get_ok(a, &search_path, &admin_token).await;
            let results = cluster
                .get_ok(a, &format!("{search_path}/results"), &admin_token)
                .await;
            search["state"] == "done"
                && results["items"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty() && r.iter().all(|r| !r["snapshots"].is_null()))
        },
    )
    .await;
    let done = cluster.get_ok(c, &search_path, &admin_token).await;
    let task = done["boxes"][0]["task_id"]
        .as_str()
        .expect("task")
        .to_owned();
    let on_the_box: BTreeSet<i64> = daemon
        .api()
        .matches(&task)
        .await
        .iter()
        .filter_map(|m| m["id"].as_i64())
        .collect();
    assert!(!on_the_box.is_empty(), "the box found the person: {done}");
    let results = cluster
        .get_ok(c, &format!("{search_path}/results"), &admin_token)
        .await;
    let items = results["items"].as_array().expect("items");
    let at_the_relay: Vec<i64> = items
        .iter()
        .filter_map(|r| r["match_id"].as_i64())
        .collect();
    assert_eq!(
        at_the_relay.len() as u64,
        done["result_count"].as_u64().expect("count"),
        "{done}"
    );
    assert_eq!(
        at_the_relay.iter().copied().collect::<BTreeSet<_>>(),
        on_the_box,
        "each of the box's matches once: {results}"
    );
    for result in items {
        assert_jpeg(result["snapshots"]["face_url"].as_str().expect("face")).await;
    }
    let streamed = tokio::time::timeout(WAIT, events)
        .await
        .expect("the event stream on c ended with the search")
        .expect("the stream's task");
    assert_eq!(
        streamed.last().map(|(name, _)| name.as_str()),
        Some("end"),
        "{streamed:?}"
    );
    let streamed_results: Vec<i64> = streamed
        .iter()
        .filter(|(name, _)| name == "result")
        .filter_map(|(_, result)| result["match_id"].as_i64())
        .collect();
    let first = &streamed[0].1;
    let already: Vec<i64> = first["results"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|r| r["match_id"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    let mut every: Vec<i64> = already.iter().chain(&streamed_results).copied().collect();
    every.sort_unstable();
    assert_eq!(
        every,
        on_the_box.iter().copied().collect::<Vec<_>>(),
        "the stream on c gave each result once: {streamed:?}"
    );

    // The fleet has sent everything. What the broker queued for b's session waits for b:
    // it comes back with the same client id and applies it, once.
    eventually("the fleet sent its telemetry", WAIT, || async {
        sim_boxes.iter().all(|b| b.sent().telemetry == SAMPLES)
    })
    .await;
    let ids: Vec<String> = sim_boxes
        .iter()
        .map(|b| format!("'{}'", b.device_id))
        .collect();
    let ids = ids.join(",");
    let applied = |cluster: &Cluster| {
        cluster.number(&format!(
            "SELECT count(*) FROM uplink_messages WHERE device_id IN ({ids})"
        ))
    };
    let sent: u64 = sim_boxes.iter().map(|b| b.sent().last_seq).sum();
    let waiting = sent as i64 - applied(&cluster);
    eprintln!("with relay b down: {waiting} of {sent} numbered fleet messages not applied");
    cluster.relays[KILLED].start_again().await;
    eventually("every numbered fleet message applied", WAIT, || async {
        applied(&cluster) == sent as i64
    })
    .await;
    for sim_box in &sim_boxes {
        let seqs = cluster.query(&format!(
            "SELECT min(seq), max(seq), count(*) FROM uplink_messages WHERE device_id = '{}'",
            sim_box.device_id
        ));
        let last = sim_box.sent().last_seq.to_string();
        assert_eq!(
            seqs,
            vec![vec!["1".to_owned(), last.clone(), last]],
            "{}",
            sim_box.device_id
        );
    }
    // Applied once each: the traffic meter, added to in the transaction that applies a
    // message, counts every byte once.
    let metered = cluster.number(&format!(
        "SELECT coalesce(sum(quantity), 0) FROM meter_hours WHERE tenant_id = '{fleet}' \
         AND meter = 'traffic_bytes' AND class = 'mqtt'"
    ));
    let bytes: u64 = sim_boxes.iter().map(|b| b.sent().bytes).sum();
    assert_eq!(metered, bytes as i64, "the fleet's bytes metered once");
    let states = cluster.query(&format!(
        "SELECT state, count(*) FROM device_rpcs WHERE tenant_id = '{fleet}' GROUP BY state"
    ));
    let answers: u64 = sim_boxes.iter().map(|b| b.sent().answers).sum();
    assert_eq!(
        states,
        vec![vec!["successful".to_owned(), answers.to_string()]],
        "every call to the fleet answered once"
    );
    drop(sim_boxes);
    drop(daemon);
}

/// The telemetry each instance has applied so far (0 for one that is down).
async fn applied_by_each(cluster: &Cluster) -> Vec<u64> {
    let mut counts = Vec::with_capacity(3);
    for i in 0..cluster.relays.len() {
        counts.push(telemetry_applied(cluster, i).await);
    }
    counts
}
