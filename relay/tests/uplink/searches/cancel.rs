//! Cancelling: a box running the search gets `cancelSearch`; a box never sent the search
//! never gets it (nor a cancel); every part and the search are `cancelled`; cancelling again
//! sends nothing more; a viewer may not cancel, another tenant finds nothing to cancel; every
//! cancellation is audited.

use protocol::rpc::{CancelSearch, Method};
use reqwest::{Method as HttpMethod, StatusCode};
use serde_json::{Value, json};

use super::{SearchSite, accept, id, next_search, part, progress, send_event};
use crate::harness::Backend;
use crate::on_both_backends;
use crate::site::{TestBox, uuid};

async fn cancel(site: &SearchSite, search: &Value, token: &str, status: StatusCode) -> Value {
    let path = format!("{}/{}", site.path(), id(search));
    site.relay()
        .expect_call((HttpMethod::DELETE, &path), Some(token), None, status)
        .await
}

/// Sends a persistent ping to `device` through the API: the next request the box gets after
/// what it got before.
async fn ping(site: &SearchSite, device: uuid::Uuid) {
    let path = format!("/api/v1/tenants/{}/devices/{device}/rpc", site.a().id);
    let ping = json!({"method": "ping", "persistent": true});
    site.relay()
        .expect_post(&path, site.token(), ping, StatusCode::ACCEPTED)
        .await;
}

async fn next_is_ping(a_box: &mut TestBox) {
    let (_, request) = a_box.next_rpc().await;
    assert_eq!(request.method, Method::Ping, "{request:?}");
}

async fn cancelling_reaches_every_box(backend: Backend) {
    let site = SearchSite::new(backend).await;
    let a = site.a();
    let box_1 = site.first_box().await;
    let box_4 = site.new_box(&a.floor).await;
    let mut online_1 = site.online(&box_1).await;
    let search = site.start(site.body(json!({"areas": [a.floor]}))).await;
    let search_id = uuid(id(&search));
    let (rpc, _) = next_search(&mut online_1).await;
    accept(&mut online_1, rpc, "task-1").await;
    send_event(&mut online_1, search_id, progress(1, 9, 0)).await;
    site.until(&search, "box 1 runs", |s| {
        part(s, box_1.0)["state"] == "running"
    })
    .await;

    let viewer = site.relay().token(Some(&a.id), &a.viewer_email).await;
    let refused = cancel(&site, &search, &viewer, StatusCode::FORBIDDEN).await;
    assert_eq!(refused["error"], "forbidden");
    let b = &site.site.world.b;
    cancel(&site, &search, &b.admin_token, StatusCode::NOT_FOUND).await;
    assert_eq!(site.search(&search).await["state"], "running");

    let cancelled = cancel(&site, &search, site.token(), StatusCode::OK).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    assert!(cancelled["cancelled_at"].is_string());
    for device in [box_1.0, box_4.0] {
        let part = part(&cancelled, device);
        assert_eq!(part["state"], "cancelled", "{cancelled}");
        assert_eq!(part["reason"]["code"], "cancelled");
    }
    // The box running it is told; the box that never got it gets nothing of it.
    let (_, request) = online_1.next_rpc().await;
    assert_eq!(
        request.method,
        Method::CancelSearch(CancelSearch { search_id }),
        "{request:?}"
    );
    ping(&site, box_4.0).await;
    let mut online_4 = site.online(&box_4).await;
    next_is_ping(&mut online_4).await;

    // Again: the same answer, nothing sent.
    let again = cancel(&site, &search, site.token(), StatusCode::OK).await;
    assert_eq!(again["state"], "cancelled");
    assert_eq!(again["cancelled_at"], cancelled["cancelled_at"]);
    ping(&site, box_1.0).await;
    next_is_ping(&mut online_1).await;

    let audit = site.site.world.audit(a).await;
    let target = format!("search:{search_id}");
    let outcomes: Vec<&str> = audit
        .iter()
        .filter(|r| r["action"] == "search.cancel" && r["target"] == target.as_str())
        .filter_map(|r| r["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "success").count(),
        2,
        "{audit:#?}"
    );
    assert!(outcomes.contains(&"refused: forbidden"), "{outcomes:?}");
}

on_both_backends!(cancelling_reaches_every_box);
