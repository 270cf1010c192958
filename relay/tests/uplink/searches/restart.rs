//! A relay stopped mid-search: the box answers and reports while no relay reads, and the
//! relay that takes the session back applies all of it; the search completes.

use reqwest::StatusCode;
use serde_json::json;

use super::{SearchSite, accept, finished, found, id, next_search, part, progress, send_event};
use crate::harness::Backend;
use crate::on_both_backends;
use crate::site::{eventually, uuid};

async fn a_search_completes_across_a_relay_restart(backend: Backend) {
    let site = SearchSite::new(backend).await;
    let box_1 = site.first_box().await;
    let mut online_1 = site.online(&box_1).await;
    let search = site.start(site.body(json!({"devices": [box_1.0]}))).await;
    let search_id = uuid(id(&search));
    let (rpc, _) = next_search(&mut online_1).await;

    // The relay stops (its session stays on the broker); the box works meanwhile.
    let uplink = site.relay().state.uplink.clone().expect("an uplink");
    uplink.stop().await;
    accept(&mut online_1, rpc, "task-1").await;
    send_event(&mut online_1, search_id, progress(3, 3, 1)).await;
    send_event(&mut online_1, search_id, found(4, 150, 0.38)).await;
    send_event(&mut online_1, search_id, finished("done", None)).await;

    // A relay with the same client id takes the session back, and what waited in it.
    let restarted = site.site.another_relay("relay-a").await;
    let path = format!("{}/{}", site.path(), id(&search));
    eventually("the search completes", || async {
        let read = restarted.get(&path, site.token()).await;
        read.0 == StatusCode::OK && read.1["state"] == "done"
    })
    .await;
    let done = restarted
        .expect_get(&path, site.token(), StatusCode::OK)
        .await;
    let part = part(&done, box_1.0);
    assert_eq!(part["state"], "done", "{done}");
    assert_eq!(part["task_id"], "task-1");
    assert_eq!(done["result_count"], 1);
    assert_eq!(done["results"]["items"][0]["match_id"], 4);
}

on_both_backends!(a_search_completes_across_a_relay_restart);
