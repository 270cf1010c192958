//! A tenant admin's invoice in the console: last month invoiced by the billing run (its
//! pricing rule set back then in the relay's database, as only a past rule can price a past
//! month), listed on the billing page, opened as a printable invoice with its lines and
//! total, and its CSV downloaded; a viewer sees no billing page.

use serde_json::{Value, json};
use testkit::browser::Screen;

use crate::harness::{Account, browser, eval, sign_in, user_with_role};
use crate::site::Site;

/// The first day of this month and of the one before, in Shanghai: ("2026-12-01", "2026-11").
fn months() -> (String, String) {
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone"))
        .date();
    let first = today.first_of_month();
    let last = first.yesterday().expect("a day before").first_of_month();
    (
        first.to_string(),
        format!("{:04}-{:02}", last.year(), last.month()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_opens_last_month_s_invoice_prints_it_and_downloads_its_csv() {
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let root = site.relay.login(None, testkit::relay::ROOT).await;
    let (this_month, last_month) = months();
    let rules = format!("/api/v1/tenants/{}/pricing-rules", site.tenant.id);
    let rule = json!({
        "effective_from": this_month, "currency": "CNY", "minimum_monthly_minor": 12345,
        "charges": { "device_days": { "unit_price_minor": 300 } },
    });
    site.relay.post_ok(&rules, Some(&root), &rule).await;
    // Set back to last month, as if made then (the API takes no date before this month).
    let back_then = format!("{last_month}-01");
    let db = rusqlite::Connection::open(site.relay.database()).expect("the relay's database");
    let stored: String = db
        .query_row("SELECT rule FROM pricing_rules", [], |row| row.get(0))
        .expect("the rule");
    let mut moved: Value = serde_json::from_str(&stored).expect("json");
    moved["effective_from"] = json!(back_then);
    db.execute(
        "UPDATE pricing_rules SET effective_from = ?1, rule = ?2",
        rusqlite::params![back_then, moved.to_string()],
    )
    .expect("set back");
    drop(db);
    let run = site
        .relay
        .post_ok(
            "/api/v1/billing/runs",
            Some(&root),
            &json!({ "month": last_month, "tenant_id": site.tenant.id }),
        )
        .await;
    assert_eq!(run["outcomes"][0]["outcome"], "issued", "{run}");
    assert_eq!(run["outcomes"][0]["total_minor"], 12345, "{run}");

    let browser = browser("invoice", Screen::Desktop, "en-US").await;
    sign_in(&browser, &base, &Account::tenant_admin(&site)).await;
    browser.click("#nav-billing").await;
    browser.find("#invoices-table").await;
    browser.screenshot("1-billing").await;
    browser.click("#invoices-table a.invoice-open").await;
    let title = browser
        .until(
            "the invoice",
            "const b = document.querySelector('#invoice-print'); return b && !b.disabled && document.querySelector('#invoice-title').innerText",
        )
        .await;
    assert!(
        title.as_str().unwrap_or_default().contains("Invoice"),
        "{title}"
    );
    let sheet = browser.text("#invoice-sheet").await;
    assert!(sheet.contains(&last_month), "{sheet}");
    assert!(sheet.contains("123.45"), "the minimum charge: {sheet}");
    // The printable view: the console's bar and buttons are not printed.
    let printed = eval(
        &browser,
        "const rules = [...document.styleSheets].flatMap(s => [...s.cssRules])
           .filter(r => r.media && [...r.media].includes('print')).map(r => r.cssText).join(' ');
         return rules.includes('.bar') && rules.includes('display: none')",
    )
    .await;
    assert_eq!(
        printed,
        json!(true),
        "print rules hide the console's chrome"
    );
    browser.screenshot("2-invoice").await;

    // The CSV through the API with the page's token, offered as a download.
    eval(
        &browser,
        "window.__blobs = new Map();
         const make = URL.createObjectURL;
         URL.createObjectURL = (blob) => { const url = make(blob); window.__blobs.set(url, blob); return url; };
         HTMLAnchorElement.prototype.click = function () { window.__clicked = this.download; };
         return true",
    )
    .await;
    browser.click("#invoice-csv").await;
    let csv = browser
        .until(
            "the CSV",
            "const a = document.querySelector('#invoice-csv-link'); return a && window.__blobs.get(a.href) && window.__blobs.get(a.href).text()",
        )
        .await;
    let csv = csv.as_str().expect("text");
    assert!(csv.lines().count() >= 2, "{csv}");
    assert!(csv.contains("123.45") || csv.contains("12345"), "{csv}");
    browser.close().await;

    // A viewer has no billing page: no link, and the address shows not-found.
    let viewer = user_with_role(&site, "viewer@dipper.test", "viewer").await;
    let browser = browser_for_viewer().await;
    sign_in(&browser, &base, &viewer).await;
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css("#nav-billing"))
            .await
            .is_err()
    );
    browser
        .client
        .goto(&format!("{base}/console/#/t/{}/billing", site.tenant.id))
        .await
        .expect("the billing address");
    browser.find("#not-found").await;
    browser.close().await;
}

async fn browser_for_viewer() -> testkit::browser::Browser {
    browser("invoice-viewer", Screen::Phone, "en-US").await
}
