//! A tenant admin's invoice in the console: last month invoiced by the billing run, listed on
//! the billing page, opened as a printable invoice with its lines and total, and its CSV
//! downloaded; a viewer sees no billing page.
//!
//! A month is priced by a rule in force then, and the API takes no rule dated before the
//! current month: so the relay runs under libfaketime (Debian's `faketime`) with its wall
//! clock set back into last month while the rule is made, then set right for the run.

use std::path::Path;

use serde_json::json;
use testkit::browser::Screen;
use testkit::relay::RelayOptions;

use crate::harness::{Account, browser, eval, sign_in, user_with_role};
use crate::site::Site;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Last month ("2026-11"), and the offset in seconds from now to its 15th at noon in
/// Shanghai (negative).
fn last_month() -> (String, i64) {
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
    let now = jiff::Zoned::now().with_time_zone(zone.clone());
    let first = now.date().first_of_month();
    let last = first.yesterday().expect("a day before").first_of_month();
    let mid = last
        .with()
        .day(15)
        .build()
        .expect("the 15th")
        .at(12, 0, 0, 0)
        .to_zoned(zone)
        .expect("in the zone");
    let offset = mid.timestamp().as_second() - now.timestamp().as_second();
    (format!("{:04}-{:02}", last.year(), last.month()), offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_opens_last_month_s_invoice_prints_it_and_downloads_its_csv() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} missing: scripts/test installs Debian's faketime"
    );
    let clock_dir = tempfile::tempdir().expect("tempdir");
    let clock = clock_dir.path().join("faketime");
    std::fs::write(&clock, "+0").expect("the clock file");
    let env = [
        ("LD_PRELOAD", LIBFAKETIME.to_owned()),
        ("FAKETIME_TIMESTAMP_FILE", clock.display().to_string()),
        // Read at every call, so a change takes effect at once.
        ("FAKETIME_NO_CACHE", "1".to_owned()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let site = Site::with_relay(RelayOptions {
        toml: String::new(),
        env: env.to_vec(),
    })
    .await;
    let base = site.relay.base.clone();
    let (last_month, offset) = last_month();

    // Mid-last-month on the relay's clock: the platform admin sets the tenant's price.
    std::fs::write(&clock, format!("{offset:+}")).expect("the clock file");
    let root = site.relay.login(None, testkit::relay::ROOT).await;
    let rules = format!("/api/v1/tenants/{}/pricing-rules", site.tenant.id);
    let rule = json!({
        "effective_from": format!("{last_month}-01"), "currency": "CNY",
        "minimum_monthly_minor": 12345,
        "charges": { "device_days": { "unit_price_minor": 300 } },
    });
    site.relay.post_ok(&rules, Some(&root), &rule).await;

    // Back to today: last month has ended, and the run invoices it.
    std::fs::write(&clock, "+0").expect("the clock file");
    let root = site.relay.login(None, testkit::relay::ROOT).await;
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
