//! The console's defences in a real browser: it cannot be framed by another page
//! (clickjacking); another site's page cannot use the refresh cookie (CSRF: a JSON request
//! needs a preflight the relay does not grant, a form-like one is refused and carries no
//! cookie); and a sweep through every page the navigation offers, with names an attacker
//! chose in every user-entered field, runs no injected script and trips no content security
//! policy rule.

use serde_json::json;
use testkit::browser::{Browser, Screen};

use crate::harness::{Account, PROBE, assert_no_script_ran, browser, eval, sign_in};
use crate::site::Site;

/// How many `auth.refresh` records the tenant's audit log holds.
async fn refreshes(site: &Site) -> usize {
    let path = format!("/api/v1/tenants/{}/audit?limit=500", site.tenant.id);
    let (status, body) = site.relay.get(&path, &site.tenant.admin_token).await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["action"] == "auth.refresh")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_site_can_neither_frame_the_console_nor_use_its_cookie() {
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let browser = browser("security", Screen::Desktop, "en-US").await;
    sign_in(&browser, &base, &Account::tenant_admin(&site)).await;
    let before = refreshes(&site).await;

    // Another site's page (an opaque origin) frames the console: the browser refuses.
    let framing = format!(
        "data:text/html,<h1>evil</h1><iframe id=f width=800 height=600 src='{base}/console/'></iframe>"
    );
    browser
        .client
        .goto(&framing)
        .await
        .expect("the framing page");
    browser.find("#f").await;
    browser.client.enter_frame(0).await.expect("into the frame");
    let inside = eval(
        &browser,
        "return document.body ? document.body.innerText : ''",
    )
    .await;
    assert!(
        !inside.as_str().unwrap_or_default().contains("Dipper"),
        "the console rendered inside another site's frame: {inside}"
    );
    browser
        .client
        .enter_parent_frame()
        .await
        .expect("out of the frame");
    browser.screenshot("1-framing-refused").await;

    // The same page tries the refresh route with the browser's cookie: as JSON (the
    // preflight is not granted), then as a plain form post (refused: not JSON, and the
    // SameSite=Strict cookie does not travel with another site's request anyway).
    let json = eval(
        &browser,
        &format!(
            "try {{
               const r = await fetch('{base}/api/v1/auth/refresh', {{ method: 'POST',
                 credentials: 'include', headers: {{ 'content-type': 'application/json' }},
                 body: '{{\"cookie\":true}}' }});
               return 'answered ' + r.status;
             }} catch (e) {{ return 'blocked'; }}"
        ),
    )
    .await;
    assert_eq!(json, json!("blocked"));
    eval(
        &browser,
        &format!(
            "const form = document.createElement('form');
             form.method = 'POST';
             form.action = '{base}/api/v1/auth/refresh';
             form.enctype = 'text/plain';
             const field = document.createElement('input');
             field.name = '{{\"cookie\":true, \"x\":\"';
             field.value = '\"}}';
             form.appendChild(field);
             document.body.appendChild(form);
             form.submit();
             return true;"
        ),
    )
    .await;
    let answer = browser
        .until(
            "the relay's answer to the form",
            "return location.href.includes('/api/v1/auth/refresh') && document.body.innerText",
        )
        .await;
    assert!(
        answer.as_str().unwrap_or_default().contains("\"error\""),
        "the form post was refused: {answer}"
    );
    assert_eq!(
        refreshes(&site).await,
        before,
        "no refresh happened for another site's page"
    );
    browser.close().await;
}

/// Visits every link of the navigation; on each page, checks that no probe ran and no
/// content-security-policy rule was broken; the pages visited and those showing the probe
/// as text.
async fn sweep(browser: &Browser, base: &str, shots: &str) -> (usize, usize) {
    let links = eval(
        browser,
        "return [...document.querySelectorAll('#nav a.nav-link')].map(a => a.getAttribute('href'))",
    )
    .await;
    let links: Vec<String> = links
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l.as_str().expect("href").to_owned())
        .collect();
    assert!(!links.is_empty(), "no navigation links");
    let mut showing = 0;
    for (i, link) in links.iter().enumerate() {
        browser
            .client
            .goto(&format!("{base}/console/{link}"))
            .await
            .expect("a page");
        browser.find("#nav").await;
        // Wait for the view to render and its API calls to end.
        browser
            .until(
                &format!("{link} rendered"),
                "const m = document.querySelector('#main'); return m && m.children.length > 0 && window.__apiInFlight === 0",
            )
            .await;
        assert_no_script_ran(browser).await;
        let violations = eval(browser, "return window.__cspViolations || []").await;
        assert_eq!(violations, json!([]), "{link}: {violations}");
        let text = eval(browser, "return document.body.innerText").await;
        if text.as_str().unwrap_or_default().contains(PROBE) {
            showing += 1;
        }
        browser.screenshot(&format!("{shots}-{i}")).await;
    }
    (links.len(), showing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_an_attacker_chose_show_as_text_on_every_page() {
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let root = site.relay.login(None, testkit::relay::ROOT).await;
    let token = site.tenant.admin_token.clone();
    let t = format!("/api/v1/tenants/{}", site.tenant.id);
    // A probe in every name a user types: tenant, area, box, person, and a user's grant.
    let rename = reqwest::Client::new()
        .patch(format!("{}{t}", site.relay.base))
        .bearer_auth(&root)
        .json(&json!({ "name": PROBE }))
        .send()
        .await
        .expect("rename the tenant");
    assert!(rename.status().is_success(), "{}", rename.status());
    site.relay
        .post_ok(
            &format!("{t}/areas"),
            Some(&token),
            &json!({ "name": PROBE }),
        )
        .await;
    site.relay
        .post_ok(
            &format!("{t}/devices"),
            Some(&token),
            &json!({ "name": PROBE, "area_id": site.tenant.area, "group": PROBE }),
        )
        .await;
    site.relay
        .post_ok(
            &format!("{t}/people"),
            Some(&token),
            &json!({ "name": PROBE }),
        )
        .await;

    let browser = browser("xss-sweep", Screen::Desktop, "en-US").await;
    sign_in(&browser, &base, &Account::tenant_admin(&site)).await;
    let (pages, showing) = sweep(&browser, &base, "tenant").await;
    assert!(pages >= 6, "the tenant admin sees {pages} pages");
    // The areas, boxes and people pages list the probe's names, as text.
    assert!(showing >= 3, "the probe shows as text on {showing} pages");
    browser.close().await;

    let browser = testkit::browser::Browser::start(
        Screen::Phone,
        "zh-CN",
        crate::harness::shots("xss-sweep-root"),
    )
    .await;
    sign_in(&browser, &base, &Account::root()).await;
    let (pages, showing) = sweep(&browser, &base, "root").await;
    assert!(pages >= 2, "the platform admin sees {pages} pages");
    // The tenants page lists the renamed tenant.
    assert!(showing >= 1, "the probe shows as text on {showing} pages");
    browser.close().await;
}
