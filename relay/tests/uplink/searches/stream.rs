//! The event stream: the search at once, then each box's change and each new result, the
//! result again with its snapshot URLs once the box uploaded them with its grant, then
//! `end`, and the stream closes; the same on the relay instance that applied the changes
//! (woken by them) and on one that applied none (an instance without a broker, reading the
//! database); a search already ended streams itself and `end`.

use protocol::search::SearchEventBody;
use protocol::topics::Topic;
use protocol::uploads::UploadGrants;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    EventStream, SearchSite, accept, finished, found, id, next_search, progress, send_event,
};
use crate::harness::{Backend, TestRelay};
use crate::on_both_backends;
use crate::site::{TestBox, uuid};

async fn the_event_stream_shows_states_and_results_and_ends(backend: Backend) {
    let site = SearchSite::configured(backend, |c| c.searches.events_poll_ms = 100).await;
    // Another instance on the same database, with no broker: it applies nothing itself.
    let reader = TestRelay::start_with(
        site.site.world.db(),
        |c| c.searches.events_poll_ms = 100,
        None,
    )
    .await;
    let box_1 = site.first_box().await;
    let mut online_1 = site.online(&box_1).await;
    let uploads = online_1.topics.topic(&Topic::Uploads);
    assert!(online_1.subscribe(&uploads).await);
    let search = site.start(site.body(json!({"devices": [box_1.0]}))).await;
    let search_id = uuid(id(&search));
    let path = format!("{}/{}/events", site.path(), id(&search));
    let mut streams = [
        EventStream::open(site.relay(), &path, site.token()).await,
        EventStream::open(&reader, &path, site.token()).await,
    ];
    for stream in &mut streams {
        let first = stream.expect("search").await;
        assert_eq!(first["id"], id(&search));
        assert_eq!(first["state"], "running");
        assert_eq!(first["boxes"][0]["state"], "sent", "{first}");
    }

    let (rpc, _) = next_search(&mut online_1).await;
    accept(&mut online_1, rpc, "task-1").await;
    for stream in &mut streams {
        let part = stream.expect("box").await;
        assert_eq!(part["state"], "accepted", "{part}");
        assert_eq!(part["task_id"], "task-1");
    }
    send_event(&mut online_1, search_id, progress(2, 4, 0)).await;
    for stream in &mut streams {
        let part = stream.expect("box").await;
        assert_eq!(part["state"], "running", "{part}");
        assert_eq!(part["progress"]["recordings_done"], 2);
    }
    send_event(&mut online_1, search_id, found(5, 150, 0.33)).await;
    for stream in &mut streams {
        let result = stream.expect("result").await;
        assert_eq!(result["match_id"], 5, "{result}");
        assert_eq!(result["device_id"], box_1.0.to_string().as_str());
        assert_eq!(
            result["snapshots"],
            Value::Null,
            "not uploaded yet: {result}"
        );
    }
    upload_snapshots(&mut online_1, search_id).await;
    for stream in &mut streams {
        let again = stream.expect("snapshots").await;
        assert_eq!(again["match_id"], 5, "{again}");
        let face = again["snapshots"]["face_url"].as_str().expect("a face URL");
        let fetched = reqwest::get(face).await.expect("GET the face");
        assert_eq!(fetched.status(), StatusCode::OK, "{face}");
        let bytes = fetched.bytes().await.expect("the face");
        assert_eq!(
            bytes.as_ref(),
            jpeg().as_slice(),
            "the JPEG the box uploaded"
        );
    }
    send_event(&mut online_1, search_id, finished("done", None)).await;
    for stream in &mut streams {
        let part = stream.expect("box").await;
        assert_eq!(part["state"], "done", "{part}");
        let end = stream.expect("end").await;
        assert_eq!(end["state"], "done", "{end}");
        assert_eq!(end["result_count"], 1);
        let shown = &end["results"]["items"][0]["snapshots"];
        assert!(shown["face_url"].is_string(), "with its URLs: {end}");
        assert!(
            stream.next().await.is_none(),
            "the stream closes after `end`"
        );
    }

    after_the_end(&site, &reader, (&search, box_1.0)).await;
}

/// A JPEG the box uploads as both snapshots.
fn jpeg() -> Vec<u8> {
    std::fs::read(testkit::faces::photo("obama.jpg")).expect("the test photo")
}

/// Reads the box's upload grant for match 5, PUTs both snapshots with it and says so.
async fn upload_snapshots(a_box: &mut TestBox, search: Uuid) {
    let grants = UploadGrants::decode(&a_box.next_on(&Topic::Uploads).await).expect("grants");
    let grant = &grants.grants[0];
    assert_eq!((grant.search_id, grant.match_id), (search, 5));
    let http = reqwest::Client::new();
    for url in [&grant.face_url, &grant.frame_url] {
        let put = http
            .put(url)
            .header("content-type", "image/jpeg")
            .body(jpeg())
            .send()
            .await
            .expect("PUT a snapshot");
        assert!(put.status().is_success(), "{url}: {}", put.status());
    }
    let uploaded = SearchEventBody::SnapshotsUploaded {
        match_id: 5,
        bytes: Some(2 * jpeg().len() as u64),
    };
    send_event(a_box, search, uploaded).await;
}

/// A stream of a search that ended: the search, `end`, closed. Neither tenant B nor a
/// viewer who does not see every box of a search reads its stream.
async fn after_the_end(site: &SearchSite, reader: &TestRelay, (search, box_1): (&Value, Uuid)) {
    let path = format!("{}/{}/events", site.path(), id(search));
    let mut late = EventStream::open(reader, &path, site.token()).await;
    assert_eq!(late.expect("search").await["state"], "done");
    assert_eq!(late.expect("end").await["state"], "done");
    assert!(late.next().await.is_none());
    let b = &site.site.world.b;
    reader
        .expect_get(&path, &b.admin_token, StatusCode::NOT_FOUND)
        .await;
    let a = site.a();
    let other_building = site.area("Building 2", &a.community).await;
    let box_2 = site.new_box(&other_building).await;
    let wide = site.body(json!({"devices": [box_1, box_2.0]}));
    let wide = site.start(wide).await;
    let viewer = reader.token(Some(&a.id), &a.viewer_email).await;
    let wide_events = format!("{}/{}/events", site.path(), id(&wide));
    reader
        .expect_get(&wide_events, &viewer, StatusCode::NOT_FOUND)
        .await;
    let mut seen = EventStream::open(reader, &path, &viewer).await;
    assert_eq!(seen.expect("search").await["id"], id(search));
}

on_both_backends!(the_event_stream_shows_states_and_results_and_ends);
