//! Results stored once and read in order: a replayed event (same seq) stores nothing more; a
//! box's older progress arriving after a newer one does not replace it; a box's end arriving
//! before its last match still stores the match, and an end that counts its matches keeps
//! the part running until the last is stored; results of several boxes, interleaved, are
//! listed by time (then device, then match id), page by page, filtered by box and distance;
//! bad parameters are refused.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    SearchSite, accept, done_counting, finished, found_at, id, next_search, part, progress,
    send_event, send_event_as,
};
use crate::harness::Backend;
use crate::on_both_backends;
use crate::site::uuid;

/// `(time ms, device, match id)` of a page's items.
fn places(page: &Value) -> Vec<(i64, String, i64)> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            let time = r["time"].as_str().expect("time").parse::<jiff::Timestamp>();
            let device = r["device_id"].as_str().expect("device").to_owned();
            let time = time.expect("an RFC 3339 time").as_millisecond();
            (time, device, r["match_id"].as_i64().expect("match id"))
        })
        .collect()
}

async fn results_are_stored_once_and_listed_in_order(backend: Backend) {
    let site = SearchSite::new(backend).await;
    let a = site.a();
    let box_1 = site.first_box().await;
    let box_2 = site.new_box(&a.building).await;
    let mut online_1 = site.online(&box_1).await;
    let mut online_2 = site.online(&box_2).await;
    let search = site.start(site.body(json!({"areas": [a.building]}))).await;
    let search_id = uuid(id(&search));
    let (rpc_1, _) = next_search(&mut online_1).await;
    let (rpc_2, _) = next_search(&mut online_2).await;
    accept(&mut online_1, rpc_1, "task-1").await;
    accept(&mut online_2, rpc_2, "task-2").await;

    let t = jiff::Timestamp::now().as_millisecond() - 150 * 60_000;
    let minute = 60_000;
    // Box 1: a match, the same event again (a replay), two more; one at the same time as
    // one of box 2's.
    let seq = send_event(&mut online_1, search_id, found_at(1, t, 0.30)).await;
    send_event_as(&online_1, seq, search_id, found_at(1, t, 0.30)).await;
    send_event(&mut online_1, search_id, found_at(2, t + 10 * minute, 0.55)).await;
    send_event(&mut online_1, search_id, found_at(3, t + 30 * minute, 0.45)).await;
    // Box 2, interleaved: its newer progress, then an older one; its end, then a match
    // numbered before it.
    send_event(&mut online_2, search_id, found_at(10, t + 5 * minute, 0.20)).await;
    let (older, newer) = (online_2.next_seq(), online_2.next_seq());
    send_event_as(&online_2, newer, search_id, progress(8, 10, 2)).await;
    send_event_as(&online_2, older, search_id, progress(3, 10, 1)).await;
    send_event(
        &mut online_2,
        search_id,
        found_at(11, t + 20 * minute, 0.70),
    )
    .await;
    let (last_match, end) = (online_2.next_seq(), online_2.next_seq());
    send_event_as(&online_2, end, search_id, finished("done", None)).await;
    send_event_as(
        &online_2,
        last_match,
        search_id,
        found_at(12, t + 30 * minute, 0.35),
    )
    .await;
    send_event(&mut online_1, search_id, finished("done", None)).await;

    let done = site
        .until(&search, "every result is stored", |s| {
            s["state"] == "done" && s["result_count"] == 6
        })
        .await;
    let progress_2 = &part(&done, box_2.0)["progress"];
    assert_eq!(
        progress_2["recordings_done"], 8,
        "the newer progress: {done}"
    );
    assert_eq!(part(&done, box_1.0)["results"], 3);
    assert_eq!(part(&done, box_2.0)["results"], 3);

    let (one, two) = (box_1.0.to_string(), box_2.0.to_string());
    let mut expected = vec![
        (t, one.clone(), 1),
        (t + 10 * minute, one.clone(), 2),
        (t + 30 * minute, one.clone(), 3),
        (t + 5 * minute, two.clone(), 10),
        (t + 20 * minute, two.clone(), 11),
        (t + 30 * minute, two.clone(), 12),
    ];
    expected.sort();
    assert_eq!(places(&done["results"]), expected, "{done}");
    pages_and_filters(&site, &done, &expected, (box_1.0, box_2.0)).await;
}

/// The results of one search, read as tenant A's admin.
struct Results<'a> {
    site: &'a SearchSite,
    path: String,
}

impl Results<'_> {
    async fn read(&self, query: &str) -> Value {
        let path = format!("{}?{query}", self.path);
        (self.site.relay())
            .expect_get(&path, self.site.token(), StatusCode::OK)
            .await
    }
}

/// The distance each match was sent with.
const DISTANCES: [(i64, f64); 6] = [
    (1, 0.30),
    (2, 0.55),
    (3, 0.45),
    (10, 0.20),
    (11, 0.70),
    (12, 0.35),
];

/// Two at a time the pages hold the same list; filters keep its order; bad parameters and
/// another tenant are refused.
async fn pages_and_filters(
    site: &SearchSite,
    search: &Value,
    expected: &[(i64, String, i64)],
    (box_1, box_2): (Uuid, Uuid),
) {
    let path = format!("{}/{}/results", site.path(), id(search));
    let results = Results { site, path };
    let mut paged = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = results.read(&query).await;
        let items = places(&page);
        assert!(items.len() <= 2, "{page}");
        paged.extend(items);
        match page["next"].as_str() {
            Some(next) => query = format!("limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(paged, expected);

    // What a filter keeps of `expected`: one box's (or all, for nil), at most `max` away.
    let of = |device: Uuid, max: f64| -> Vec<(i64, String, i64)> {
        let close = |m: i64| DISTANCES.iter().any(|&(id, d)| id == m && d <= max);
        let of_device = |d: &str| device.is_nil() || d == device.to_string();
        let kept = expected
            .iter()
            .filter(|(_, d, m)| of_device(d) && close(*m));
        kept.cloned().collect()
    };
    let only_2 = results.read(&format!("device={box_2}")).await;
    assert_eq!(places(&only_2), of(box_2, 2.0));
    let close = results.read("max_distance=0.4").await;
    assert_eq!(places(&close), of(Uuid::nil(), 0.4));
    assert_eq!(places(&close).len(), 3);
    let both = results
        .read(&format!("device={box_1}&max_distance=0.5"))
        .await;
    assert_eq!(places(&both), of(box_1, 0.5));
    let first = &results.read("limit=1").await["items"][0];
    assert_eq!(first["camera"], "Camera 1");
    assert_eq!(first["face_box"], json!([10.0, 20.0, 64.0, 64.0]));
    assert_eq!(first["distance"], 0.3);
    refusals(&results, search).await;
}

async fn refusals(results: &Results<'_>, search: &Value) {
    let site = results.site;
    for (query, field) in [
        ("after=bm90LWEtY3Vyc29y", "after"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("max_distance=3", "max_distance"),
        ("device=12", "device"),
        ("colour=red", "colour"),
    ] {
        let path = format!("{}?{query}", results.path);
        let answer = (site.relay())
            .expect_get(&path, site.token(), StatusCode::BAD_REQUEST)
            .await;
        assert_eq!(answer["field"], field, "{query}: {answer}");
    }
    // Tenant B sees none of it.
    let b = &site.site.world.b;
    let theirs = format!(
        "/api/v1/tenants/{}/searches/{}/results",
        site.a().id,
        id(search)
    );
    (site.relay())
        .expect_get(&theirs, &b.admin_token, StatusCode::NOT_FOUND)
        .await;
}

on_both_backends!(results_are_stored_once_and_listed_in_order);

/// A box's end counting two matches applied when the relay holds one (relays sharing the
/// box's messages applied them out of order): the part stays running, and ends, with the
/// search, in the transaction that stores the second.
async fn an_end_counting_a_match_not_yet_stored_waits_for_it(backend: Backend) {
    let site = SearchSite::new(backend).await;
    let a_box = site.first_box().await;
    let mut online = site.online(&a_box).await;
    let uplink = site.relay().state.uplink.clone().expect("uplink");
    let search = site.start(site.body(json!({"devices": [a_box.0]}))).await;
    let search_id = uuid(id(&search));
    let (rpc, _) = next_search(&mut online).await;
    accept(&mut online, rpc, "task-1").await;
    site.until(&search, "the box's part is accepted", |s| {
        part(s, a_box.0)["state"] == "accepted"
    })
    .await;
    let counts = uplink.counts();
    let t = jiff::Timestamp::now().as_millisecond() - 150 * 60_000;
    send_event(&mut online, search_id, found_at(1, t, 0.30)).await;
    let (last_match, end) = (online.next_seq(), online.next_seq());
    send_event_as(&online, end, search_id, done_counting(2)).await;
    crate::site::eventually("the match and the end are applied", || async {
        uplink.counts().applied - counts.applied == 2
    })
    .await;
    let held = site.search(&search).await;
    assert_eq!(
        (
            &held["state"],
            &part(&held, a_box.0)["state"],
            &held["result_count"]
        ),
        (&json!("running"), &json!("running"), &json!(1)),
        "{held}"
    );

    send_event_as(
        &online,
        last_match,
        search_id,
        found_at(2, t + 60_000, 0.40),
    )
    .await;
    let done = site
        .until(&search, "the search done", |s| s["state"] == "done")
        .await;
    assert_eq!(part(&done, a_box.0)["state"], "done", "{done}");
    assert_eq!(done["result_count"], 2, "{done}");
}

on_both_backends!(an_end_counting_a_match_not_yet_stored_waits_for_it);
