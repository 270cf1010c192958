//! The tenant administrator's views: the area tree (created, moved by the select and by
//! dragging, a refused delete), users and a role grant, a box registered in the console and
//! activated by a real box daemon from the activation string the page shows (with its QR
//! code), seen online with its figures, its diagnostics read remotely, the audit log with
//! its filters; the XSS probe in every name; a viewer's read-only view; and another tenant's
//! URL giving the same not-found page as a made-up id.

use serde_json::{Value, json};
use testkit::Daemon;
use testkit::browser::{Browser, Screen};
use testkit::relay::ROOT;

use crate::harness::{
    Account, PROBE, assert_no_script_ran, browser, eval, open, page_text, sign_in, user_with_role,
};
use crate::site::{BOX_CONFIG, Site};

/// The ids of the areas shown in the tree, by name.
async fn area_id(browser: &Browser, name: &str) -> String {
    let script = format!(
        "for (const li of document.querySelectorAll('.area-node')) {{ \
           if (li.querySelector('.area-name').textContent === {name}) return li.dataset.id; }} \
         return null;",
        name = json!(name)
    );
    let found = browser.until(&format!("the area {name}"), &script).await;
    found.as_str().expect("id").to_owned()
}

/// Whether the element `css` exists now.
async fn exists(browser: &Browser, css: &str) -> bool {
    let script = format!("return document.querySelector({}) !== null", json!(css));
    eval(browser, &script).await == Value::Bool(true)
}

/// Sets a `<select>`'s value and tells the page, as a choice by hand does.
async fn choose(browser: &Browser, css: &str, value: &str) {
    let script = format!(
        "const s = document.querySelector({}); s.value = {}; \
         s.dispatchEvent(new Event('change', {{ bubbles: true }})); return s.value;",
        json!(css),
        json!(value)
    );
    assert_eq!(
        eval(browser, &script).await,
        json!(value),
        "{css} = {value}"
    );
}

/// Drags the area `from` onto the area `onto` with the HTML drag-and-drop events.
async fn drag_area(browser: &Browser, from: &str, onto: &str) {
    let script = format!(
        "const dt = new DataTransfer(); \
         const src = document.getElementById('area-{from}'); \
         const dst = document.getElementById('area-{onto}'); \
         src.dispatchEvent(new DragEvent('dragstart', {{ bubbles: true, dataTransfer: dt }})); \
         dst.dispatchEvent(new DragEvent('dragover', {{ bubbles: true, cancelable: true, dataTransfer: dt }})); \
         dst.dispatchEvent(new DragEvent('drop', {{ bubbles: true, cancelable: true, dataTransfer: dt }})); \
         src.dispatchEvent(new DragEvent('dragend', {{ bubbles: true, dataTransfer: dt }})); \
         return true;"
    );
    eval(browser, &script).await;
}

/// A second tenant, made by the platform administrator through the API; its id.
async fn second_tenant(site: &Site) -> String {
    let root = site.relay.login(None, ROOT).await;
    // Its own idempotency key: `Relay::post` keys by path, and the site's tenant used it.
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/tenants", site.relay.base))
        .bearer_auth(&root)
        .header("idempotency-key", "console-tenant-elsewhere")
        .json(&json!({ "name": "Elsewhere" }))
        .send()
        .await
        .expect("request");
    let status = answer.status();
    let body: Value = answer.json().await.expect("JSON");
    assert!(status.is_success(), "{status} {body}");
    body["id"].as_str().expect("tenant id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_runs_areas_users_boxes_and_the_audit_log() {
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let tenant = site.tenant.id.clone();
    let browser = browser("tenant-admin", Screen::Desktop, "en-US").await;
    sign_in(&browser, &base, &Account::tenant_admin(&site)).await;

    // Areas: one named with the probe, one plain; the probe's moves under the plain one by
    // the "move to" select, the installer's "Gate" by dragging.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/areas"),
        "#area-create-form",
    )
    .await;
    for name in [PROBE, "North building"] {
        browser.fill("#area-new-name", name).await;
        choose(&browser, "#area-new-parent", "").await;
        browser.click("#area-create").await;
        area_id(&browser, name).await;
    }
    let probe = area_id(&browser, PROBE).await;
    let north = area_id(&browser, "North building").await;
    let gate = area_id(&browser, "Gate").await;
    choose(&browser, &format!("#area-move-{probe}"), &north).await;
    let nested = format!("#area-{north} #area-{probe}");
    browser.find(&nested).await;
    drag_area(&browser, &gate, &north).await;
    browser.find(&format!("#area-{north} #area-{gate}")).await;
    let shown = eval(
        &browser,
        &format!("return document.getElementById('area-name-{probe}').textContent"),
    )
    .await;
    assert_eq!(shown, json!(PROBE), "the probe shows as text");
    // The API refuses to delete an area that holds others, and the page says why.
    browser.click(&format!("#area-delete-{north}")).await;
    browser.click(&format!("#area-delete-{north}")).await;
    let refusal = browser
        .until(
            "the refusal",
            "const e = document.getElementById('areas-error'); return e && !e.hidden && e.innerText",
        )
        .await;
    assert!(
        refusal
            .as_str()
            .unwrap()
            .contains("still holds boxes or areas"),
        "{refusal}"
    );
    browser.find(&format!("#area-{north}")).await;
    browser.screenshot("1-areas").await;
    assert_no_script_ran(&browser).await;

    // Users: one added with the probe as its name, made an operator of North building.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/users"),
        "#users-table",
    )
    .await;
    browser.fill("#user-email", "operator2@dipper.test").await;
    browser.fill("#user-name", PROBE).await;
    browser
        .fill("#user-password", "a long enough password")
        .await;
    browser.click("#user-add").await;
    let user = browser
        .until(
            "the new user",
            &format!(
                "for (const tr of document.querySelectorAll('#users-table tbody tr')) {{ \
                   if (tr.querySelector('.user-name').textContent === {}) return tr.id.slice(5); }} \
                 return null;",
                json!(PROBE)
            ),
        )
        .await;
    let user = user.as_str().unwrap().to_owned();
    choose(&browser, &format!("#grant-role-{user}"), "operator").await;
    choose(&browser, &format!("#grant-area-{user}"), &north).await;
    browser.click(&format!("#grant-add-{user}")).await;
    browser
        .until(
            "the grant shown",
            &format!(
                "const g = document.getElementById('grants-{user}'); \
                 return g && g.innerText.includes('Operator') && g.innerText.includes('North building')"
            ),
        )
        .await;
    browser.screenshot("2-users").await;
    assert_no_script_ran(&browser).await;

    // A box registered in the console: the one-time string and its QR code.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/boxes"),
        "#box-register-form",
    )
    .await;
    let box_name = format!("Gate box {PROBE}");
    browser.fill("#box-name", &box_name).await;
    choose(&browser, "#box-area", &gate).await;
    browser.click("#box-register").await;
    let activation = browser
        .until(
            "the activation string",
            "const t = document.getElementById('activation-text'); return t && t.value",
        )
        .await;
    let activation = activation.as_str().unwrap().to_owned();
    assert!(
        activation.starts_with("dipper://activate?relay="),
        "{activation}"
    );
    let qr = browser
        .until(
            "the QR code drawn",
            "const i = document.getElementById('activation-qr'); \
             return i && i.complete && i.naturalWidth > 0 && i.getAttribute('src')",
        )
        .await;
    assert!(
        qr.as_str().unwrap().starts_with("data:image/svg+xml"),
        "{qr}"
    );
    browser.screenshot("3-activation").await;
    // What the installer reads from it (the box's page parses the same string).
    let fields = eval(
        &browser,
        "const u = new URL(document.getElementById('activation-text').value); \
         return [u.searchParams.get('relay'), u.searchParams.get('device_id'), u.searchParams.get('key')];",
    )
    .await;
    let [relay, device, key] = [0, 1, 2].map(|i| fields[i].as_str().expect("field").to_owned());
    assert_eq!(relay, base);

    // A real box daemon activates with it and comes online in the list, with its figures.
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), BOX_CONFIG);
    let activated = daemon.cli(&[
        "uplink",
        "activate",
        "--relay",
        &relay,
        "--device-id",
        &device,
        "--key",
        &key,
    ]);
    assert!(
        activated.status.success(),
        "dipper uplink activate: {}",
        String::from_utf8_lossy(&activated.stderr)
    );
    browser
        .until(
            "the box online in the list",
            &format!(
                "const s = document.getElementById('box-state-{device}'); \
                 const o = document.getElementById('box-outbox-{device}'); \
                 const v = document.getElementById('box-version-{device}'); \
                 return s && s.textContent === 'Online' && o.textContent !== '–' && v.textContent !== '–'"
            ),
        )
        .await;
    let name_shown = eval(
        &browser,
        &format!("return document.getElementById('box-link-{device}').textContent"),
    )
    .await;
    assert_eq!(name_shown, json!(box_name));
    browser.screenshot("4-boxes-online").await;
    assert_no_script_ran(&browser).await;

    // Its page: the diagnostics, asked through the relay, answered by the box.
    browser.click(&format!("#box-link-{device}")).await;
    browser.click("#box-diagnostics").await;
    let result = browser
        .until(
            "the diagnostics",
            "const r = document.getElementById('rpc-result'); return r && r.textContent",
        )
        .await;
    let diagnostics: Value = serde_json::from_str(result.as_str().unwrap()).expect("JSON shown");
    assert!(diagnostics["software_version"].is_string(), "{diagnostics}");
    assert_eq!(browser.text("#rpc-state").await, "State: successful");
    browser.screenshot("5-diagnostics").await;

    // The audit log shows the registration, and its action filter keeps only those.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/audit"),
        "#audit-rows tr",
    )
    .await;
    assert!(page_text(&browser).await.contains("device.register"));
    browser.fill("#audit-action", "device.register").await;
    browser.click("#audit-apply").await;
    browser
        .until(
            "only registrations",
            "const rows = [...document.querySelectorAll('#audit-rows tr')]; \
             return rows.length > 0 && rows.every((r) => r.dataset.action === 'device.register')",
        )
        .await;
    browser.screenshot("6-audit").await;
    assert_no_script_ran(&browser).await;

    // Another tenant's URL: the same not-found page as an id that does not exist.
    let other = second_tenant(&site).await;
    open(&browser, &base, &format!("t/{other}/boxes"), "#not-found").await;
    let foreign = browser.text("#main").await;
    open(
        &browser,
        &base,
        &format!("t/{tenant}/boxes"),
        "#boxes-table",
    )
    .await;
    let made_up = uuid::Uuid::new_v4();
    open(&browser, &base, &format!("t/{made_up}/boxes"), "#not-found").await;
    assert_eq!(browser.text("#main").await, foreign);
    open(
        &browser,
        &base,
        &format!("t/{tenant}/boxes"),
        "#boxes-table",
    )
    .await;
    open(
        &browser,
        &base,
        &format!("t/{other}/boxes/{device}"),
        "#not-found",
    )
    .await;
    assert_eq!(browser.text("#main").await, foreign);
    browser.screenshot("7-other-tenant").await;
    browser.close().await;

    // A viewer sees the boxes and the areas, and no control to change them.
    let viewer = user_with_role(&site, "viewer@dipper.test", "viewer").await;
    let browser = crate::harness::browser("tenant-viewer", Screen::Phone, "en-US").await;
    sign_in(&browser, &base, &viewer).await;
    open(
        &browser,
        &base,
        &format!("t/{tenant}/boxes"),
        &format!("#box-{device}"),
    )
    .await;
    for css in ["#box-register-form", "[id^='box-decommission']"] {
        assert!(!exists(&browser, css).await, "a viewer has {css}");
    }
    browser.screenshot("1-viewer-boxes").await;
    browser.click(&format!("#box-link-{device}")).await;
    browser.find("#box-facts dl").await;
    for css in [
        "#box-actions",
        "#box-diagnostics",
        "#box-edit-form",
        "#box-decommission",
    ] {
        assert!(!exists(&browser, css).await, "a viewer has {css}");
    }
    open(&browser, &base, &format!("t/{tenant}/areas"), "#area-tree").await;
    for css in [
        "#area-create-form",
        "[id^='area-delete-']",
        "[id^='area-move-']",
        "[draggable='true']",
    ] {
        assert!(!exists(&browser, css).await, "a viewer has {css}");
    }
    for link in ["#nav-users", "#nav-audit"] {
        assert!(!exists(&browser, link).await, "a viewer has {link}");
    }
    browser.screenshot("2-viewer-areas").await;
    assert_no_script_ran(&browser).await;
    browser.close().await;
    drop(daemon);
}
