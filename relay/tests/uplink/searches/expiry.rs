//! Parts that expire: a box offline for the whole delivery window never gets the search (its
//! part `expired`, `not_delivered`) while the others complete it; a box that took the search
//! and never finished it expires at its deadline (`not_finished`), and what it sends later
//! stores its matches but no longer moves its part.

use protocol::rpc::Method;
use reqwest::StatusCode;
use serde_json::json;

use super::{SearchSite, accept, finished, found, id, next_search, part, progress, send_event};
use crate::harness::Backend;
use crate::on_both_backends;
use crate::site::uuid;

async fn an_offline_boxs_part_expires_while_the_others_complete(backend: Backend) {
    let site = SearchSite::new(backend).await;
    let a = site.a();
    let box_1 = site.first_box().await;
    let box_4 = site.new_box(&a.floor).await;
    let mut online_1 = site.online(&box_1).await;
    let body = site.body(json!({"areas": [a.floor], "expires_in_seconds": 2}));
    let search = site.start(body).await;
    let search_id = uuid(id(&search));
    let (rpc, _) = next_search(&mut online_1).await;
    accept(&mut online_1, rpc, "task-1").await;
    send_event(&mut online_1, search_id, found(3, 150, 0.4)).await;
    send_event(&mut online_1, search_id, finished("done", None)).await;

    let done = site
        .until(&search, "the search is done", |s| s["state"] == "done")
        .await;
    assert_eq!(part(&done, box_1.0)["state"], "done", "{done}");
    let expired = part(&done, box_4.0);
    assert_eq!(expired["state"], "expired", "{done}");
    assert_eq!(expired["reason"]["code"], "not_delivered");
    assert_eq!(done["result_count"], 1);

    // Box 4 connects later: the search is not sent; its first request is a later one.
    let rpc_path = format!("/api/v1/tenants/{}/devices/{}/rpc", a.id, box_4.0);
    let ping = json!({"method": "ping", "persistent": true});
    site.relay()
        .expect_post(&rpc_path, site.token(), ping, StatusCode::ACCEPTED)
        .await;
    let mut online_4 = site.online(&box_4).await;
    let (_, first) = online_4.next_rpc().await;
    assert_eq!(first.method, Method::Ping);
}

async fn a_box_that_never_finishes_expires_at_its_deadline(backend: Backend) {
    let site = SearchSite::configured(backend, |c| c.searches.finish_within_seconds = 1).await;
    let box_1 = site.first_box().await;
    let mut online_1 = site.online(&box_1).await;
    let body = site.body(json!({"devices": [box_1.0], "expires_in_seconds": 2}));
    let search = site.start(body).await;
    let search_id = uuid(id(&search));
    let (rpc, _) = next_search(&mut online_1).await;
    accept(&mut online_1, rpc, "task-1").await;
    send_event(&mut online_1, search_id, progress(1, 100, 0)).await;

    let done = site
        .until(&search, "the search is done", |s| s["state"] == "done")
        .await;
    let expired = part(&done, box_1.0);
    assert_eq!(expired["state"], "expired", "{done}");
    assert_eq!(expired["reason"]["code"], "not_finished");

    // Too late: the match is kept, the part stays expired.
    send_event(&mut online_1, search_id, finished("done", None)).await;
    send_event(&mut online_1, search_id, found(1, 150, 0.3)).await;
    let late = site
        .until(&search, "the late match is stored", |s| {
            s["result_count"] == 1
        })
        .await;
    assert_eq!(part(&late, box_1.0)["state"], "expired", "{late}");
    assert_eq!(late["state"], "done");
}

on_both_backends!(
    an_offline_boxs_part_expires_while_the_others_complete,
    a_box_that_never_finishes_expires_at_its_deadline,
);
