//! Remote search end to end, every part real: the relay on PostgreSQL with its snapshots in a
//! real S3 server (s3s-fs, which checks signatures), Mosquitto, and a box whose camera's
//! recordings show the person. An operator enrols the person from a photo, searches the box's
//! footage through the relay's API, and gets each match with its face and frame as JPEGs
//! behind presigned URLs. The S3 server is down while the box uploads: the uploads are
//! retried, and every result gets its snapshots once the server is back. A URL altered or
//! used for another key is refused by the server itself. A second search outlives a relay
//! restart and a box `kill -9`, and a disabled tenant's box still searches on its own page.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::S3Server;
use testkit::eventually;
use testkit::faces::photo;
use testkit::postgres::TestDatabase;
use testkit::relay::RelayOptions;

use crate::site::{Site, WAIT, camera_with_faces};

const BUCKET: &str = "dipper-e2e";

fn relay_options(s3: &S3Server, database: &TestDatabase) -> RelayOptions {
    let toml = format!(
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
    );
    RelayOptions {
        toml,
        env: vec![(
            "DIPPER_RELAY__DATABASE__URL".to_owned(),
            database.url().to_owned(),
        )],
    }
}

/// Enrols a person from `photo_name` as the tenant's admin; the person's id.
async fn enrol(site: &Site, name: &str, photo_name: &str) -> String {
    let base = format!("/api/v1/tenants/{}/people", site.tenant.id);
    let token = site.tenant.admin_token.as_str();
    let person = site
        .relay
        .post_ok(&base, Some(token), &json!({ "name": name }))
        .await;
    let id = person["id"].as_str().expect("id").to_owned();
    let bytes = std::fs::read(photo(photo_name)).expect("photo");
    let response = reqwest::Client::new()
        .post(format!("{}{base}/{id}/photos", site.relay.base))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(bytes)
        .send()
        .await
        .expect("enrol");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["model"], "dlib-resnet-v1");
    id
}

async fn get(site: &Site, path: &str) -> Value {
    let (status, body) = site.relay.get(path, &site.tenant.admin_token).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Fetches `url` (no token: the signature is the authority) and checks it is a JPEG; its
/// size in pixels.
async fn jpeg_at(url: &str) -> (u32, u32) {
    let response = reqwest::get(url).await.expect("fetch");
    assert_eq!(response.status(), 200, "{url}");
    let bytes = response.bytes().await.expect("bytes");
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .unwrap_or_else(|e| panic!("{url} is not a JPEG: {e}"));
    (image.width(), image.height())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_an_enrolled_person_with_snapshots_in_s3_through_an_s3_outage() {
    let (sim, from, to) = camera_with_faces().await;
    let mut s3 = S3Server::start();
    let database = TestDatabase::create();
    let site = Site::with_relay(relay_options(&s3, &database)).await;
    let retry_fast = "uplink.upload_retry_min_ms = 200\nuplink.upload_retry_max_ms = 1000\n";
    let a_box = site.activated_box("Box at the gate", retry_fast).await;
    let device = a_box.device_id.clone();
    a_box
        .daemon
        .api()
        .add_camera("gate", &sim.device(0).base_url())
        .await;
    let person = enrol(&site, "Barack Obama", "obama.jpg").await;

    // The store goes down before the box has anything to upload.
    s3.stop();
    let searches = format!("/api/v1/tenants/{}/searches", site.tenant.id);
    let request = json!({
        "person_id": person,
        "from": jiff::Timestamp::from_millisecond(from.as_millisecond() + 1_000).expect("from").to_string(),
        "to": to.to_string(),
        "devices": [device],
    });
    let token = Some(site.tenant.admin_token.as_str());
    let (status, search) = site.relay.post(&searches, token, &request).await;
    assert_eq!(status, 201, "{search}");
    let search_id = search["id"].as_str().expect("id").to_owned();
    let path = format!("{searches}/{search_id}");

    eventually(
        "the search done with results",
        Duration::from_secs(180),
        || async {
            let search = get(&site, &path).await;
            search["state"] == "done" && search["result_count"].as_i64() > Some(0)
        },
    )
    .await;
    let done = get(&site, &path).await;
    assert_eq!(done["boxes"][0]["state"], "done", "{done}");
    let results = get(&site, &format!("{path}/results")).await;
    let items = results["items"].as_array().expect("items").clone();
    assert!(
        items.iter().all(|r| r["snapshots"].is_null()),
        "snapshots while the store is down: {results}"
    );

    // Back: every result gets its snapshots, uploaded by the box with the relay's grants.
    s3.resume();
    eventually("every result's snapshots uploaded", WAIT, || async {
        let results = get(&site, &format!("{path}/results")).await;
        results["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|r| !r["snapshots"].is_null()))
    })
    .await;
    let results = get(&site, &format!("{path}/results")).await;
    let items = results["items"].as_array().expect("items");
    assert_eq!(
        items.len(),
        done["result_count"].as_u64().expect("count") as usize
    );
    let span = from.as_millisecond()..=to.as_millisecond();
    for result in items {
        let time: jiff::Timestamp = result["time"]
            .as_str()
            .expect("time")
            .parse()
            .expect("time");
        assert!(span.contains(&time.as_millisecond()), "{result}");
        assert!(
            result["distance"].as_f64().expect("distance") < 0.6,
            "{result}"
        );
        let snapshots = &result["snapshots"];
        let (face_w, face_h) = jpeg_at(snapshots["face_url"].as_str().expect("face")).await;
        let (frame_w, frame_h) = jpeg_at(snapshots["frame_url"].as_str().expect("frame")).await;
        assert!(face_w < frame_w && face_h < frame_h, "{result}");
        // Under the key the issue names, in the bucket.
        let date = time.strftime("%Y-%m-%d").to_string();
        let key = format!(
            "{}/snapshots/{device}/{date}/{search_id}/{}-face.jpg",
            site.tenant.id, result["match_id"]
        );
        assert!(
            s3.root().join(BUCKET).join(&key).is_file(),
            "{key} not in the bucket"
        );
    }

    // The S3 server itself refuses an altered signature and a URL used for another key.
    let face_url = items[0]["snapshots"]["face_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let mut altered = face_url.clone();
    let last = altered.pop().expect("a character");
    altered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(reqwest::get(&altered).await.expect("fetch").status(), 403);
    let other_key = face_url.replacen("-face.jpg", "-frame.jpg", 1);
    assert_eq!(reqwest::get(&other_key).await.expect("fetch").status(), 403);
    drop(site);
    drop(database);
}

/// The search outlives its relay and its box: the relay (SQLite, its own disk for the
/// snapshots) is stopped while the box searches, the box is `kill -9`ed and started again
/// meanwhile, and the relay comes back. The search still ends `done`, with each of the
/// box's matches once and its snapshots. Then the tenant is disabled: the relay refuses its
/// searches, and the box's own page still searches its footage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_completes_across_a_relay_restart_and_a_box_kill_9() {
    let (sim, from, to) = camera_with_faces().await;
    let mut site = Site::start().await;
    let mut a_box = site.activated_box("Box at the gate", "").await;
    let device = a_box.device_id.clone();
    let camera = a_box
        .daemon
        .api()
        .add_camera("gate", &sim.device(0).base_url())
        .await;
    let person = enrol(&site, "Barack Obama", "obama.jpg").await;
    let searches = format!("/api/v1/tenants/{}/searches", site.tenant.id);
    let from_ms = from.as_millisecond() + 1_000;
    let request = json!({
        "person_id": person,
        "from": jiff::Timestamp::from_millisecond(from_ms).expect("from").to_string(),
        "to": to.to_string(),
        "devices": [device],
    });
    let token = Some(site.tenant.admin_token.as_str());
    let (status, search) = site.relay.post(&searches, token, &request).await;
    assert_eq!(status, 201, "{search}");
    let path = format!("{searches}/{}", search["id"].as_str().expect("id"));

    // The box has the search: the relay stops, the box dies and comes back, the relay too.
    eventually("the box took the search", WAIT, || async {
        let state = get(&site, &path).await["boxes"][0]["state"].clone();
        state == "accepted" || state == "running"
    })
    .await;
    site.relay.stop();
    a_box.daemon.kill9();
    a_box.daemon.start_again();
    site.relay.start_again().await;

    eventually(
        "the search done, every result with its snapshots",
        Duration::from_secs(180),
        || async {
            let search = get(&site, &path).await;
            let results = get(&site, &format!("{path}/results")).await;
            search["state"] == "done"
                && results["items"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty() && r.iter().all(|r| !r["snapshots"].is_null()))
        },
    )
    .await;
    let done = get(&site, &path).await;
    assert_eq!(done["boxes"][0]["state"], "done", "{done}");
    let task = done["boxes"][0]["task_id"]
        .as_str()
        .expect("task")
        .to_owned();
    let on_the_box: std::collections::BTreeSet<i64> = a_box
        .daemon
        .api()
        .matches(&task)
        .await
        .iter()
        .filter_map(|m| m["id"].as_i64())
        .collect();
    let results = get(&site, &format!("{path}/results")).await;
    let items = results["items"].as_array().expect("items");
    let at_the_relay: Vec<i64> = items
        .iter()
        .filter_map(|r| r["match_id"].as_i64())
        .collect();
    assert_eq!(
        at_the_relay.len(),
        done["result_count"].as_u64().expect("count") as usize
    );
    assert_eq!(
        at_the_relay
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        on_the_box,
        "each of the box's matches once: {results}"
    );
    let snapshots = &items[0]["snapshots"];
    let (face_w, _) = jpeg_at(snapshots["face_url"].as_str().expect("face")).await;
    let (frame_w, _) = jpeg_at(snapshots["frame_url"].as_str().expect("frame")).await;
    assert!(face_w < frame_w, "{results}");

    // A disabled tenant: no new cloud search, but the box still searches on its own page.
    let root = site.relay.login(None, testkit::relay::ROOT).await;
    let disable = format!("/api/v1/tenants/{}/disable", site.tenant.id);
    site.relay
        .post_ok(&disable, Some(&root), &json!(null))
        .await;
    let (status, refused) = site.relay.post(&searches, Some(&root), &request).await;
    assert_eq!(
        (status, &refused["error"]),
        (403, &json!("tenant_disabled"))
    );
    let api = a_box.daemon.api();
    let local = api
        .create_task(&photo("obama.jpg"), from, to, &[camera])
        .await;
    let finished = api.wait_finished(&local, Duration::from_secs(120)).await;
    assert_eq!(finished["state"], "done", "{finished}");
    assert!(!api.matches(&local).await.is_empty(), "{finished}");
}
