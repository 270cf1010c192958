//! The fan-out: a search over an area reaches every active box of it and of the areas below,
//! and no other; a box offline at creation gets it when it connects; a box whose model
//! differs answers `model_mismatch`, shown on its part; the other boxes' results are merged
//! in time order and the search ends `done` once every part has.

use protocol::rpc::{RpcError, RpcResponse};
use protocol::search::CreateSearch;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    SearchSite, accept, devices, finished, found, id, next_search, part, photos, progress,
    send_event,
};
use crate::harness::Backend;
use crate::on_both_backends;
use crate::site::{TestBox, uuid};

async fn a_search_reaches_every_box_of_its_scope(backend: Backend) {
    let site = SearchSite::new(backend).await;
    let a = site.a();
    // Building 1 holds box 2 and, on Floor 1, box 1 and box 4; Building 2 holds box 3.
    let building_2 = site.area("Building 2", &a.community).await;
    let box_1 = site.first_box().await;
    let box_2 = site.new_box(&a.building).await;
    let box_3 = site.new_box(&building_2).await;
    let box_4 = site.new_box(&a.floor).await;
    let mut online = [
        site.online(&box_1).await,
        site.online(&box_2).await,
        site.online(&box_3).await,
    ];

    let body = site.body(json!({"areas": [a.building], "max_distance": 0.6}));
    let search = site.start(body.clone()).await;
    let mut expected = vec![box_1.0, box_2.0, box_4.0];
    expected.sort();
    assert_eq!(devices(&search), expected, "{search}");
    assert_eq!(search["state"], "running");
    assert_eq!(search["created_by"], format!("user:{}", a.admin_id));
    let queued = &part(&search, box_4.0)["state"];
    assert_eq!(queued, "queued", "offline: {search}");
    assert_ne!(
        part(&search, box_1.0)["state"],
        "queued",
        "online: {search}"
    );

    let sent = boxes_answer(&site, &search, &body, &mut online, (box_1.0, box_2.0)).await;
    let late = site.online(&box_4).await;
    the_late_box_completes(&site, &search, (late, box_4.0), (&sent, box_1.0)).await;

    // Box 3 (Building 2) never got the first search: its first request is the next one.
    let only_3 = site.body(json!({"devices": [box_3.0]}));
    let second = site.start(only_3).await;
    assert_eq!(devices(&second), vec![box_3.0]);
    let (_, sent_3) = next_search(&mut online[2]).await;
    assert_eq!(sent_3.search_id, uuid(id(&second)));
    listed_and_audited(&site, [&search, &second]).await;
}

/// Each box online gets the person's every embedding, the span and the distance; box 1 runs
/// the search to its end, box 2 embeds with another model and says so. What box 1 got.
async fn boxes_answer(
    site: &SearchSite,
    search: &Value,
    body: &Value,
    [online_1, online_2, _]: &mut [TestBox; 3],
    (box_1, box_2): (Uuid, Uuid),
) -> CreateSearch {
    let search_id = uuid(id(search));
    let (rpc_1, sent) = next_search(online_1).await;
    assert_eq!(sent.search_id, search_id);
    assert_eq!(sent.embedding, photos()[0]);
    assert_eq!(sent.more_embeddings, photos()[1..]);
    let from = body["from"]
        .as_str()
        .expect("from")
        .parse::<jiff::Timestamp>();
    assert_eq!(sent.from_ms, from.expect("time").as_millisecond());
    assert_eq!(sent.max_distance, Some(0.6));
    let (rpc_2, _) = next_search(online_2).await;

    accept(online_1, rpc_1, "task-1").await;
    let mismatch = RpcError::new(
        protocol::rpc::MODEL_MISMATCH,
        "this box embeds with dlib-resnet-v2, the search is dlib-resnet-v1",
    );
    online_2.answer(rpc_2, RpcResponse::err(mismatch)).await;
    let read = site
        .until(search, "box 1 accepts, box 2 fails", |s| {
            part(s, box_1)["state"] == "accepted" && part(s, box_2)["state"] == "failed"
        })
        .await;
    assert_eq!(part(&read, box_1)["task_id"], "task-1");
    let failed = &part(&read, box_2)["reason"];
    assert_eq!(failed["code"], "model_mismatch", "{failed}");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(message.contains("dlib-resnet-v2"), "{failed}");

    send_event(online_1, search_id, progress(5, 10, 1)).await;
    send_event(online_1, search_id, found(1, 150, 0.31)).await;
    send_event(online_1, search_id, found(2, 90, 0.42)).await;
    send_event(online_1, search_id, progress(10, 10, 2)).await;
    send_event(online_1, search_id, finished("done", None)).await;
    let read = site
        .until(search, "box 1 is done", |s| {
            part(s, box_1)["state"] == "done"
        })
        .await;
    assert_eq!(read["state"], "running", "box 4 has not answered: {read}");
    let progress_1 = &part(&read, box_1)["progress"];
    assert_eq!(progress_1["recordings_done"], 10, "{read}");
    assert_eq!(progress_1["eta_seconds"], 0);
    sent
}

/// Box 4 connects: it gets the same search then, runs it and finds one face between box 1's
/// two; the search is done and its results merged by time.
async fn the_late_box_completes(
    site: &SearchSite,
    search: &Value,
    (mut online_4, box_4): (TestBox, Uuid),
    (sent, box_1): (&CreateSearch, Uuid),
) {
    let search_id = uuid(id(search));
    let (rpc_4, sent_4) = next_search(&mut online_4).await;
    assert_eq!(&sent_4, sent);
    accept(&mut online_4, rpc_4, "task-4").await;
    send_event(&mut online_4, search_id, found(7, 120, 0.25)).await;
    send_event(&mut online_4, search_id, finished("done", None)).await;
    let done = site
        .until(search, "the search is done", |s| s["state"] == "done")
        .await;
    assert!(done["finished_at"].is_string(), "{done}");
    assert_eq!(done["result_count"], 3);
    let merged: Vec<(String, i64)> = done["results"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            let device = r["device_id"].as_str().expect("device").to_owned();
            (device, r["match_id"].as_i64().expect("match"))
        })
        .collect();
    let (one, four) = (box_1.to_string(), box_4.to_string());
    let expected = vec![(one.clone(), 1), (four, 7), (one, 2)];
    assert_eq!(merged, expected, "{done}");
    assert_eq!(done["results"]["items"][0]["distance"], 0.31);
    assert_eq!(done["results"]["next"], Value::Null);
}

/// Both searches are listed, newest first, with their counts, and both creations audited.
async fn listed_and_audited(site: &SearchSite, [first, second]: [&Value; 2]) {
    let list = site
        .relay()
        .expect_get(&site.path(), site.token(), StatusCode::OK)
        .await;
    let listed: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id)
        .collect();
    assert_eq!(listed, vec![id(second), id(first)]);
    assert_eq!(list["items"][1]["boxes"], 3);
    assert_eq!(list["items"][1]["boxes_ended"], 3);
    assert_eq!(list["items"][1]["result_count"], 3);
    let audit = site.site.world.audit(site.a()).await;
    for made in [first, second] {
        let target = format!("search:{}", id(made));
        let record = audit.iter().find(|r| r["target"] == target.as_str());
        let record = record.unwrap_or_else(|| panic!("{target} not audited: {audit:#?}"));
        assert_eq!(record["action"], "search.create");
        assert_eq!(record["outcome"], "success");
    }
}

on_both_backends!(a_search_reaches_every_box_of_its_scope);
