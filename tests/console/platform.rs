//! The platform administrator's views: tenants created through the creation saga with its
//! steps shown (one named with the XSS probe, shown as text), disabled, enabled, deleted
//! after the confirmation; a tenant's pricing rule and billing settings; a dry billing run,
//! a dunning run and the reports. A tenant administrator gets the not-found page there.

use serde_json::{Value, json};
use testkit::browser::Screen;
use testkit::relay::ROOT;

use crate::harness::{
    Account, PROBE, assert_no_script_ran, browser, eval, open, page_text, sign_in,
};
use crate::site::Site;

/// The tenant named `name` as the API lists it (the root's token).
async fn tenant_named(site: &Site, root: &str, name: &str) -> Option<Value> {
    let (status, list) = site.relay.get("/api/v1/tenants?limit=500", root).await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().expect("items");
    items.iter().find(|t| t["name"] == name).cloned()
}

/// Waits until the list's row of tenant `id` shows the status `label`.
async fn row_status(browser: &testkit::browser::Browser, id: &str, label: &str) {
    browser
        .until(
            &format!("the row of {id} shows {label}"),
            &format!(
                "const b = document.querySelector('#tenants-table tr[data-id=\"{id}\"] .badge');
                 return b && b.textContent === {label:?}"
            ),
        )
        .await;
}

/// Creates a tenant named `name` in the form; waits for the saga's steps; the step names
/// shown, in order, and the tenant as the API lists it.
async fn create_in_form(
    browser: &testkit::browser::Browser,
    site: &Site,
    root: &str,
    name: &str,
) -> (Vec<String>, Value) {
    browser.fill("#tenant-name", name).await;
    browser.click("#tenant-create").await;
    let steps = browser
        .until(
            "the saga's steps, every one done",
            "const done = document.querySelector('#tenant-created');
             if (!done || done.hidden) return null;
             const items = [...document.querySelectorAll('#tenant-steps li')];
             if (!items.every((li) => li.classList.contains('done'))) return null;
             return items.map((li) => li.dataset.step)",
        )
        .await;
    let steps = steps
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s.as_str().expect("step").to_owned())
        .collect();
    let tenant = tenant_named(site, root, name)
        .await
        .expect("the tenant is listed by the API");
    (steps, tenant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_admin_manages_tenants_their_pricing_and_billing_runs() {
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let root = site.relay.login(None, ROOT).await;
    let browser = browser("platform", Screen::Desktop, "en-US").await;
    sign_in(&browser, &base, &Account::root()).await;
    // A platform administrator starts on the tenants.
    browser.find("#tenants-table").await;
    assert!(page_text(&browser).await.contains("Community"));

    // The probe as a name: created through the saga, its steps shown, shown as text.
    let (steps, probe) = create_in_form(&browser, &site, &root, PROBE).await;
    assert_eq!(
        steps,
        [
            "tenant_record",
            "object_storage_prefix",
            "broker_credentials",
            "face_library",
            "enabled"
        ]
    );
    let step_text = browser.text("#tenant-steps").await;
    assert!(step_text.contains("Its face library"), "{step_text}");
    assert!(step_text.contains(" ms"), "each step's time: {step_text}");
    let probe_id = probe["id"].as_str().expect("id").to_owned();
    let shown = eval(
        &browser,
        &format!(
            "const a = document.querySelector('#tenants-table tr[data-id=\"{probe_id}\"] .tenant-name');
             return a && a.textContent"
        ),
    )
    .await;
    assert_eq!(shown, Value::String(PROBE.to_owned()));
    assert!(browser.text("#tenant-created").await.contains(PROBE));
    assert_no_script_ran(&browser).await;
    browser.screenshot("1-tenant-created-with-steps").await;

    let (_, harbour) = create_in_form(&browser, &site, &root, "Harbour View").await;
    let harbour_id = harbour["id"].as_str().expect("id").to_owned();
    assert_eq!(harbour["status"], "enabled");
    row_status(&browser, &harbour_id, "Enabled").await;

    // Disable (a second click confirms), then enable.
    browser
        .click(&format!("#tenant-disable-{harbour_id}"))
        .await;
    assert_eq!(
        browser.text(&format!("#tenant-disable-{harbour_id}")).await,
        "Click again to disable"
    );
    browser
        .click(&format!("#tenant-disable-{harbour_id}"))
        .await;
    row_status(&browser, &harbour_id, "Disabled").await;
    let path = format!("/api/v1/tenants/{harbour_id}");
    assert_eq!(site.relay.get(&path, &root).await.1["status"], "disabled");
    browser.screenshot("2-tenant-disabled").await;
    browser.click(&format!("#tenant-enable-{harbour_id}")).await;
    row_status(&browser, &harbour_id, "Enabled").await;
    assert_eq!(site.relay.get(&path, &root).await.1["status"], "enabled");

    // Delete the probe's tenant: the first click only asks.
    let delete = format!("#tenant-delete-{probe_id}");
    browser.click(&delete).await;
    assert!(
        browser
            .text(&delete)
            .await
            .starts_with("Click again to delete")
    );
    let probe_path = format!("/api/v1/tenants/{probe_id}");
    assert_eq!(site.relay.get(&probe_path, &root).await.0, 200);
    browser.click(&delete).await;
    browser
        .until(
            "the deleted tenant's row is gone",
            &format!("return !document.querySelector('#tenants-table tr[data-id=\"{probe_id}\"]')"),
        )
        .await;
    assert_eq!(site.relay.get(&probe_path, &root).await.0, 404);
    assert!(
        browser
            .text("#tenants-notice")
            .await
            .starts_with("Deleted ")
    );
    assert_no_script_ran(&browser).await;

    // The tenant's page: its details, a pricing rule, its billing settings, its standing.
    browser
        .click(&format!(
            "#tenants-table tr[data-id=\"{harbour_id}\"] a.tenant-name"
        ))
        .await;
    browser.find("#pricing-table").await;
    assert_eq!(browser.text("#tenant-title").await, "Harbour View");
    assert_eq!(browser.text("#tenant-id").await, harbour_id);
    browser.fill("#rule-price-device_days", "1.50").await;
    browser.fill("#rule-free-device_days", "10").await;
    browser.fill("#rule-price-searches", "0.2").await;
    browser.click("#rule-add").await;
    browser
        .until(
            "the rule listed",
            "return document.querySelectorAll('#pricing-table tbody tr[data-from]').length === 1",
        )
        .await;
    let rules = site
        .relay
        .get(&format!("{path}/pricing-rules"), &root)
        .await
        .1;
    let rule = &rules["items"][0];
    assert_eq!(rule["currency"], "CNY");
    assert_eq!(rule["charges"]["device_days"]["unit_price_minor"], 150);
    assert_eq!(rule["charges"]["device_days"]["free_allowance"], 10);
    assert_eq!(rule["charges"]["searches"]["unit_price_minor"], 20);
    let charges = browser.text("#pricing-table").await;
    assert!(charges.contains("Box-days"), "{charges}");

    browser
        .until(
            "the settings loaded",
            "return !document.querySelector('#settings-save').disabled",
        )
        .await;
    assert_eq!(
        eval(
            &browser,
            "return document.querySelector('#settings-zone').value"
        )
        .await,
        json!("Asia/Shanghai")
    );
    browser.fill("#settings-payment-days", "30").await;
    browser.click("#settings-save").await;
    browser
        .until(
            "the settings saved",
            "const n = document.querySelector('#settings-notice'); return n && !n.hidden",
        )
        .await;
    let settings = site
        .relay
        .get(&format!("{path}/billing/settings"), &root)
        .await
        .1;
    assert_eq!(settings["payment_days"], 30);
    assert_eq!(browser.text("#standing-badge").await, "Good standing");
    browser.screenshot("3-tenant-page").await;

    // A dry billing run of the previous month: the outcomes as the API gives them, nothing
    // stored.
    browser.click("#nav-billing_runs").await;
    browser.find("#run-dry").await;
    let month = eval(
        &browser,
        "return document.querySelector('#run-month').value",
    )
    .await;
    browser.click("#run-dry").await;
    browser.find("#run-done[data-dry=\"true\"]").await;
    let expected = site
        .relay
        .post_ok(
            "/api/v1/billing/runs",
            Some(&root),
            &json!({ "month": month, "dry_run": true }),
        )
        .await;
    for outcome in expected["outcomes"].as_array().expect("outcomes") {
        let tenant = outcome["tenant_id"].as_str().expect("tenant");
        let shown = eval(
            &browser,
            &format!(
                "const r = document.querySelector('#run-outcomes tr[data-tenant=\"{tenant}\"]');
                 return r && r.dataset.outcome"
            ),
        )
        .await;
        assert_eq!(shown, outcome["outcome"], "{outcome}");
    }
    let outcomes = browser.text("#run-outcomes").await;
    assert!(outcomes.contains("Harbour View"), "{outcomes}");
    let invoices = site.relay.get(&format!("{path}/invoices"), &root).await.1;
    assert_eq!(invoices["items"], json!([]), "a dry run stores nothing");
    browser.screenshot("4-dry-billing-run").await;

    // The dunning run (confirmed) and the reports.
    browser.click("#dunning-start").await;
    browser.click("#dunning-start").await;
    browser.find("#dunning-done").await;
    browser.find("#revenue-table").await;
    browser.find("#states-status").await;
    let by_status = site.relay.get("/api/v1/reports/tenants", &root).await.1["by_status"].clone();
    let enabled = browser
        .text("#states-status tr[data-key=\"enabled\"] td.num")
        .await;
    assert_eq!(enabled, by_status["enabled"].to_string());
    browser
        .find(&format!("#usage-table tr[data-tenant=\"{harbour_id}\"]"))
        .await;
    browser.fill("#revenue-from", "2026-13").await;
    browser.click("#revenue-show").await;
    assert_eq!(
        browser.text("#revenue-error").await,
        "Enter the month as YYYY-MM."
    );
    browser.screenshot("5-reports").await;
    assert_no_script_ran(&browser).await;
    browser.close().await;
}

/// Whether the page is wider than the screen (a phone would scroll it sideways).
async fn overflows(browser: &testkit::browser::Browser) -> bool {
    let wide = "return document.documentElement.scrollWidth > window.innerWidth + 1";
    eval(browser, wide).await == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_finds_no_platform_views_which_speak_chinese_on_a_phone() {
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let browser = browser("platform-phone", Screen::Phone, "zh-CN").await;
    sign_in(&browser, &base, &Account::tenant_admin(&site)).await;
    assert!(
        browser
            .client
            .find(testkit::browser::Locator::Css("#nav-tenants"))
            .await
            .is_err(),
        "no link to the tenants"
    );
    for hash in [
        "tenants".to_owned(),
        format!("tenants/{}", site.tenant.id),
        "billing".to_owned(),
    ] {
        open(&browser, &base, &hash, "#not-found").await;
        assert!(
            browser
                .client
                .find(testkit::browser::Locator::Css(
                    "#tenants-table, #tenant-view, #billing-view"
                ))
                .await
                .is_err(),
            "{hash}"
        );
    }
    browser.screenshot("1-not-found").await;

    // The platform administrator's views in Chinese at a phone's width: no sideways scroll
    // (wide tables scroll inside their frame).
    browser.click("#logout").await;
    browser.find("#login-form").await;
    sign_in(&browser, &base, &Account::root()).await;
    browser.find("#tenants-table").await;
    assert_eq!(browser.text("#tenants-view h1").await, "租户");
    assert_eq!(browser.text("#tenant-create").await, "创建租户");
    assert!(!overflows(&browser).await, "the tenants fit the phone");
    browser.screenshot("2-tenants-zh-phone").await;
    open(
        &browser,
        &base,
        &format!("tenants/{}", site.tenant.id),
        "#pricing-table",
    )
    .await;
    assert_eq!(browser.text("#pricing h2").await, "计价规则");
    assert!(
        !overflows(&browser).await,
        "the tenant's page fits the phone"
    );
    browser.screenshot("3-tenant-zh-phone").await;
    open(&browser, &base, "billing", "#usage-table").await;
    assert_eq!(browser.text("#billing-view h1").await, "计费与报表");
    browser.click("#run-dry").await;
    browser.find("#run-outcomes").await;
    assert!(
        !overflows(&browser).await,
        "the billing page fits the phone"
    );
    browser.screenshot("4-billing-zh-phone").await;
    browser.close().await;
}
