//! The face library, remote searches and billing in the console, every part real: a tenant
//! admin enrols a person (named with the XSS probe) from a photo through the file input and
//! sees the verdict, and a photo without a face refused with the sentence; then searches a
//! box's footage (a simulated camera whose recordings show the person) from the console,
//! watches each box's part finish live (server-sent events), sees the face crops loaded,
//! opens a frame, sorts by distance, exports the CSV, and finds the search counted on the
//! billing page. The same search page at a phone's width fits it. Nothing injected runs.

use std::time::Duration;

use serde_json::json;
use testkit::browser::{Browser, Locator, Screen};
use testkit::faces::photo;

use crate::harness::{
    Account, PROBE, assert_no_script_ran, browser, eval, open, page_text, sign_in, user_with_role,
};
use crate::site::{Site, camera_with_faces};

/// How long the box may take to search the span and upload the pictures.
const SEARCH_WAIT: Duration = Duration::from_secs(240);

/// Chooses `file` in the file input `css` (found afresh: views redraw).
async fn choose_file(browser: &Browser, css: &str, file: &std::path::Path) {
    let input = browser.find(css).await;
    let file = file.canonicalize().expect("the file's path");
    input
        .send_keys(&file.display().to_string())
        .await
        .expect("choose the file");
}

/// Every `<img>` under `css` has loaded a picture (and there is at least one).
fn pictures_loaded(css: &str) -> String {
    format!(
        "const imgs = [...document.querySelectorAll({css:?})];
         return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0) && imgs.length"
    )
}

/// Keeps the page's downloads in the page (the anchors' clicks are recorded, not followed:
/// a headless Chromium would write the files in the driver's working folder), and the Blobs
/// behind their URLs (the console's policy lets no script fetch a `blob:` URL).
async fn keep_downloads_in_the_page(browser: &Browser) {
    eval(
        browser,
        "const click = HTMLAnchorElement.prototype.click;
         const createObjectURL = URL.createObjectURL;
         window.__downloads = [];
         window.__blobs = new Map();
         URL.createObjectURL = (blob) => {
           const url = createObjectURL(blob);
           window.__blobs.set(url, blob);
           return url;
         };
         HTMLAnchorElement.prototype.click = function () {
           if (this.hasAttribute('download')) { window.__downloads.push(this.download); return; }
           return click.call(this);
         };
         return true",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_enrols_a_person_searches_the_footage_and_sees_it_billed() {
    let (sim, from, to) = camera_with_faces().await;
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let tenant = site.tenant.id.clone();
    let a_box = site.activated_box("Box at the gate", "").await;
    let device = a_box.device_id.clone();
    a_box
        .daemon
        .api()
        .add_camera("gate", &sim.device(0).base_url())
        .await;
    let browser = browser("library", Screen::Desktop, "en-US").await;
    sign_in(&browser, &base, &Account::tenant_admin(&site)).await;

    // A person named with the probe: the name shows as text.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/people"),
        "#person-add-form",
    )
    .await;
    browser.find("#people-empty").await;
    browser.fill("#person-name", PROBE).await;
    browser
        .fill("#person-labels", "resident, <b>staff</b>")
        .await;
    browser.click("#person-add").await;
    let probe = serde_json::to_string(PROBE).expect("json");
    browser
        .until(
            "the person's page",
            &format!(
                "const h = document.querySelector('#person-title'); return h && h.textContent === {probe}"
            ),
        )
        .await;
    browser.find("#person-photos-empty").await;

    // A photo of the person: accepted, with the verdict and the thumbnail.
    choose_file(&browser, "#photo-file", &photo("obama.jpg")).await;
    let verdict = browser
        .until(
            "the verdict",
            "const v = document.querySelector('#photo-verdict.outcome.ok'); return v && !v.hidden && v.innerText",
        )
        .await;
    assert!(
        verdict
            .as_str()
            .unwrap()
            .starts_with("Accepted: one face found"),
        "{verdict}"
    );
    browser
        .until("the thumbnail", &pictures_loaded("#person-photos img"))
        .await;
    browser.screenshot("1-enrolled").await;

    // A picture without a face: refused with the sentence, nothing enrolled.
    let folder = tempfile::tempdir().expect("tempdir");
    let blank = folder.path().join("wall.png");
    image::RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]))
        .save(&blank)
        .expect("a picture without a face");
    choose_file(&browser, "#photo-file", &blank).await;
    let refusal = browser
        .until(
            "the refusal",
            "const v = document.querySelector('#photo-verdict.outcome.bad'); return v && !v.hidden && v.innerText",
        )
        .await;
    assert!(
        refusal
            .as_str()
            .unwrap()
            .contains("No face was found in the picture."),
        "{refusal}"
    );
    let photos = eval(
        &browser,
        "return document.querySelectorAll('#person-photos .photo').length",
    )
    .await;
    assert_eq!(photos, json!(1));
    browser.screenshot("2-refused").await;
    let person = eval(&browser, "return location.hash.split('/').pop()").await;
    let person = person.as_str().expect("the person's id").to_owned();

    // The library lists the person, the name as text.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/people"),
        &format!("#person-{person}"),
    )
    .await;
    browser
        .until(
            "the list's thumbnail",
            &pictures_loaded(&format!("#person-{person} img")),
        )
        .await;
    assert!(page_text(&browser).await.contains(PROBE));
    assert_no_script_ran(&browser).await;
    browser.screenshot("3-library").await;

    // A search for the person from their page, over the span of the camera's footage.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/people/{person}"),
        "#person-search",
    )
    .await;
    browser.click("#person-search").await;
    browser.find("#search-form").await;
    let chosen = eval(
        &browser,
        "return document.querySelector('#search-person').value",
    )
    .await;
    assert_eq!(chosen, json!(person), "the person is chosen");
    let set_span = format!(
        "const local = (ms) => {{
           const d = new Date(ms); const p = (n) => String(n).padStart(2, '0');
           return `${{d.getFullYear()}}-${{p(d.getMonth() + 1)}}-${{p(d.getDate())}}T${{p(d.getHours())}}:${{p(d.getMinutes())}}:${{p(d.getSeconds())}}`;
         }};
         document.querySelector('#search-from').value = local({from});
         document.querySelector('#search-to').value = local({to});
         return true",
        from = from.as_millisecond() + 1_000,
        to = to.as_millisecond(),
    );
    eval(&browser, &set_span).await;
    browser.click(&format!("#search-device-{device}")).await;
    browser.screenshot("4-new-search").await;
    browser.click("#search-start").await;
    browser.find("#search-facts").await;
    let search = eval(&browser, "return location.hash.split('/').pop()").await;
    let search = search.as_str().expect("the search's id").to_owned();

    // Watched live: the box's part and the search end without a reload.
    eval(&browser, "window.__same_page = true; return true").await;
    browser.until_within(
        "the search done",
        "const s = document.querySelector('#search-state'); return s && s.classList.contains('done')",
        SEARCH_WAIT,
    )
    .await;
    let box_state = browser.text(&format!("#search-box-{device} .badge")).await;
    assert_eq!(box_state, "Done");
    assert_eq!(
        eval(&browser, "return window.__same_page === true").await,
        json!(true),
        "followed live, not reloaded"
    );

    // The crops, once the box has uploaded them; a timeline mark for each.
    let shown = browser
        .until_within(
            "every face crop loaded",
            &format!(
                "if (document.querySelector('.crop.pending')) return false; {}",
                pictures_loaded("#results-groups img.crop")
            ),
            SEARCH_WAIT,
        )
        .await;
    let shown = shown.as_u64().expect("a count");
    let marks = eval(
        &browser,
        "return document.querySelectorAll('#results-timeline .mark').length",
    )
    .await;
    assert_eq!(marks, json!(shown));
    let api_results = site
        .relay
        .get(
            &format!("/api/v1/tenants/{tenant}/searches/{search}/results"),
            &site.tenant.admin_token,
        )
        .await
        .1;
    let count = api_results["items"].as_array().expect("items").len() as u64;
    assert_eq!(shown, count, "every result shown: {api_results}");
    assert!(
        browser
            .text(&format!("#results-box-{device} h3"))
            .await
            .starts_with("Box at the gate"),
        "grouped by box"
    );
    assert!(
        browser.text("#results-groups h4").await.starts_with("gate"),
        "grouped by camera"
    );
    eval(
        &browser,
        "document.querySelector('#search-results').scrollIntoView(); return true",
    )
    .await;
    browser.screenshot("5-search-results").await;

    // A frame, with the face marked.
    browser.click("#results-groups .result").await;
    browser
        .until("the frame", &pictures_loaded("#frame-viewer #frame-image"))
        .await;
    let (frame, crop) = {
        let sizes = eval(
            &browser,
            "return [document.querySelector('#frame-image').naturalWidth,
                     document.querySelector('#results-groups img.crop').naturalWidth]",
        )
        .await;
        (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap())
    };
    assert!(crop < frame, "the crop is smaller than the frame");
    browser
        .until(
            "the face marked",
            "const b = document.querySelector('#frame-viewer .face-box'); return b && !b.hidden",
        )
        .await;
    browser.screenshot("6-frame").await;
    browser.click("#frame-close").await;
    assert!(
        browser
            .client
            .find(Locator::Css("#frame-viewer"))
            .await
            .is_err()
    );

    // Sorted by distance, closest first.
    eval(
        &browser,
        "const s = document.querySelector('#results-sort'); s.value = 'distance';
         s.dispatchEvent(new Event('change')); return true",
    )
    .await;
    let distances = eval(
        &browser,
        "return [...document.querySelectorAll('#results-groups .result .caption .muted')]
           .map((e) => Number(e.textContent.replace(/[^0-9.]/g, '')))",
    )
    .await;
    let distances: Vec<f64> = distances
        .as_array()
        .expect("distances")
        .iter()
        .map(|d| d.as_f64().expect("a distance"))
        .collect();
    assert_eq!(count_groups(&browser).await, 1, "one box, one camera");
    assert_eq!(distances.len() as u64, shown);
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");

    // The CSV export: a Blob URL with a row for every result, the person's name as text.
    keep_downloads_in_the_page(&browser).await;
    browser.click("#results-export").await;
    let csv = eval(
        &browser,
        "const a = document.querySelector('#results-csv');
         return window.__blobs.get(a.href).text().then((text) => [a.download, text, window.__downloads])",
    )
    .await;
    assert_eq!(csv[0], json!(format!("search-{}.csv", &search[..8])));
    assert_eq!(csv[2], json!([format!("search-{}.csv", &search[..8])]));
    let text = csv[1].as_str().expect("the CSV");
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(
        lines[0].trim_start_matches('\u{feff}'),
        "\"search\",\"person\",\"time\",\"box\",\"box_id\",\"camera\",\"distance\",\"match_id\",\"face_x\",\"face_y\",\"face_width\",\"face_height\""
    );
    assert_eq!(lines.len() as u64, count + 1, "{text}");
    let quoted = format!("\"{}\"", PROBE.replace('"', "\"\""));
    assert!(
        lines[1..].iter().all(|l| l.contains(&quoted)
            && l.contains(&device)
            && l.contains("\"gate\"")
            && l.contains("\"Box at the gate\"")),
        "{text}"
    );
    assert_no_script_ran(&browser).await;

    // The searches list shows it done; the billing page counts it.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/searches"),
        &format!("#search-row-{search}"),
    )
    .await;
    let row = browser.text(&format!("#search-row-{search}")).await;
    assert!(row.contains(PROBE) && row.contains("Done"), "{row}");
    browser.click("#nav-billing").await;
    let searches = browser.text("#usage-searches .usage-value").await;
    assert_eq!(searches, "1");
    browser.find("#standing-badge").await;
    assert_eq!(browser.text("#standing-badge").await, "In good standing");
    browser.find("#invoices-none").await;
    browser.screenshot("7-billing").await;
    // An invoice that is not there: the not-found page, as for another tenant's.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/billing/invoices/{}", uuid::Uuid::new_v4()),
        "#not-found",
    )
    .await;

    // A search with a one-off photo instead of a person: found too.
    open(
        &browser,
        &base,
        &format!("t/{tenant}/searches"),
        "#search-form",
    )
    .await;
    browser.click("#search-target-photo").await;
    choose_file(&browser, "#search-photo", &photo("obama2.jpg")).await;
    eval(&browser, &set_span).await;
    browser.click(&format!("#search-device-{device}")).await;
    browser.click("#search-start").await;
    browser.find("#search-facts").await;
    browser.until_within(
        "the photo's search done with results",
        "const s = document.querySelector('#search-state');
         return s && s.classList.contains('done') && document.querySelectorAll('#results-groups .result').length",
        SEARCH_WAIT,
    )
    .await;
    assert_eq!(browser.text("#search-title").await, "Search with a photo");
    assert_no_script_ran(&browser).await;
    browser.close().await;

    // A viewer, on a phone, in Chinese: the library and the search to read, no control to
    // change them, no billing; the search's page fits the screen.
    let viewer = user_with_role(&site, "viewer@example.com", "viewer").await;
    let phone = crate::harness::browser("library-viewer-phone", Screen::Phone, "zh-CN").await;
    sign_in(&phone, &base, &viewer).await;
    open(
        &phone,
        &base,
        &format!("t/{tenant}/people/{person}"),
        "#person-photos img",
    )
    .await;
    for control in [
        "#photo-file",
        "#person-delete",
        "#person-form",
        "#person-search",
        ".photo-delete",
    ] {
        assert!(
            phone.client.find(Locator::Css(control)).await.is_err(),
            "a viewer sees {control}"
        );
    }
    assert!(
        phone
            .client
            .find(Locator::Css("#nav-billing"))
            .await
            .is_err(),
        "a viewer sees billing"
    );
    open(
        &phone,
        &base,
        &format!("t/{tenant}/searches"),
        &format!("#search-row-{search}"),
    )
    .await;
    assert!(
        phone
            .client
            .find(Locator::Css("#search-form"))
            .await
            .is_err()
    );
    open(
        &phone,
        &base,
        &format!("t/{tenant}/searches/{search}"),
        "#search-facts",
    )
    .await;
    phone
        .until(
            "the crops on a phone",
            &pictures_loaded("#results-groups img.crop"),
        )
        .await;
    assert_eq!(phone.text("#search-state").await, "已完成");
    assert!(page_text(&phone).await.contains("导出 CSV"));
    assert!(
        phone
            .client
            .find(Locator::Css("#search-cancel"))
            .await
            .is_err()
    );
    let fits = eval(
        &phone,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1",
    )
    .await;
    assert_eq!(fits, json!(true), "the page scrolls sideways on a phone");
    eval(
        &phone,
        "document.querySelector('#search-results').scrollIntoView(); return true",
    )
    .await;
    phone.screenshot("8-search-viewer-zh-phone").await;
    open(&phone, &base, &format!("t/{tenant}/billing"), "#not-found").await;
    assert_no_script_ran(&phone).await;
    phone.close().await;
    drop(site);
}

/// How many camera groups the results show.
async fn count_groups(browser: &Browser) -> u64 {
    eval(
        browser,
        "return document.querySelectorAll('#results-groups .result-camera').length",
    )
    .await
    .as_u64()
    .unwrap_or(0)
}
