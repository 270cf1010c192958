//! The local page in a real headless Chromium (Debian's chromium and chromium-driver), over
//! a real daemon and simulated cameras with real faces: an installer's first visit (the
//! password, signing out and in, a wrong password), adding a camera (a wrong password told
//! plainly, a name that is markup shown as text), and a search from a photo that finds the
//! known face and shows its crop; in English on a desktop and in Chinese on a 375 px phone.
//! Each test saves screenshots under `$CARGO_TARGET_TMPDIR/local-page/` and prints the page's
//! weight and first paint as the browser measured them.

mod common;

use std::path::PathBuf;

use common::{Daemon, PASSWORD, USER, face_camera, photo, start_sim};
use tempfile::TempDir;
use testkit::browser::{Browser, Screen};

const STRONG: &str = "harbour-lantern-river-42";

fn shots(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("local-page")
        .join(test)
}

/// A new box (the daemon on a fresh data directory) and its page opened in a browser on
/// `screen` in `lang`, showing the first boot's password form; screenshots go to
/// [`shots`]`(test)`.
async fn first_visit(screen: Screen, lang: &str, test: &str) -> (TempDir, Daemon, Browser) {
    let (dir, daemon) = common::start_box("");
    let browser = Browser::start(screen, lang, shots(test)).await;
    browser
        .client
        .goto(&format!("{}/", daemon.base))
        .await
        .expect("open the page");
    browser.find("#setup").await;
    (dir, daemon, browser)
}

/// A civil time in the box's (this machine's) zone, as a `datetime-local` field takes it.
fn local_field(t: jiff::Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// A "device" at a local address that answers every request with a 500 whose body is
/// markup: its error message must reach the page as text.
fn hostile_device() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            use std::io::{Read, Write};
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "<img src=x id=injected2 onerror=alert(2)>";
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/html\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}")
}

/// The first boot's step: sets the password, and waits for the signed-in page.
async fn set_the_first_password(browser: &Browser) {
    browser.fill("#setup-password", STRONG).await;
    browser.fill("#setup-confirm", STRONG).await;
    browser.click("#setup-submit").await;
    browser.find("#nav").await;
    browser.find("#status-cameras").await;
}

/// Asserts that no element matches `css` (`why` says what it would mean).
async fn assert_no_element(browser: &Browser, css: &str, why: &str) {
    let absent = browser
        .client
        .execute(
            "return document.querySelector(arguments[0]) === null",
            vec![css.into()],
        )
        .await
        .expect("query");
    assert_eq!(absent, serde_json::Value::Bool(true), "{why}");
}

/// Sets an input's value as a person would, firing its events.
async fn set_value(browser: &Browser, css: &str, value: &str) {
    browser
        .client
        .execute(
            "const el = document.querySelector(arguments[0]);
             el.value = arguments[1];
             el.dispatchEvent(new Event('input', {bubbles: true}));
             el.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![css.into(), value.into()],
        )
        .await
        .expect("set a value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installer_sets_up_the_box_adds_a_camera_and_finds_a_face() {
    let end = jiff::Timestamp::now();
    let sim = start_sim(vec![face_camera(
        "CAM-GATE",
        end,
        &[(1435, "cam1_h264.ps")],
    )])
    .await;
    // First boot: the password form and nothing else.
    let (_dir, daemon, browser) = first_visit(Screen::Desktop, "en-US", "installer").await;
    let (bytes, first_paint) = browser.weight_and_first_paint().await;
    eprintln!(
        "local page: {bytes} bytes transferred before images, first contentful paint {first_paint:.0} ms"
    );
    assert!(bytes > 0 && bytes < 150 * 1024, "{bytes} bytes");
    assert!(
        browser
            .client
            .find(testkit::browser::Locator::Css("#nav"))
            .await
            .is_err()
    );
    browser.screenshot("1-first-boot").await;
    set_the_first_password(&browser).await;
    browser
        .until(
            "the live status",
            "return document.querySelector('#status-live.live') !== null",
        )
        .await;
    browser.screenshot("2-status").await;

    // Signing out, a wrong password, then the right one.
    browser.click("#logout").await;
    browser.fill("#login-password", "not-the-password").await;
    browser.click("#login-submit").await;
    browser
        .until("the wrong-password message", "const e = document.querySelector('#login-error'); return e && !e.hidden && e.innerText")
        .await;
    browser.screenshot("3-wrong-password").await;
    browser.fill("#login-password", STRONG).await;
    browser.click("#login-submit").await;
    browser.find("#nav").await;

    // A camera: the wrong password is told plainly; the right one adds it. Its name is
    // markup, shown as text.
    let url = sim.device(0).base_url();
    browser.click("#nav-cameras").await;
    browser
        .fill(
            "#camera-name",
            "<img src=x id=injected onerror=alert(1)>Gate",
        )
        .await;
    browser.fill("#camera-url", &url).await;
    browser.fill("#camera-username", USER).await;
    // A device whose error message is markup: shown as text.
    browser.fill("#camera-url", &hostile_device()).await;
    browser.fill("#camera-password", PASSWORD).await;
    browser.click("#camera-test").await;
    let problem = browser
        .until("the device's error", "const e = document.querySelector('#camera-problem'); return e && !e.hidden && e.innerText")
        .await;
    assert!(
        problem
            .as_str()
            .unwrap_or_default()
            .contains("<img src=x id=injected2"),
        "{problem}"
    );
    assert_no_element(&browser, "#injected2", "the device's message became markup").await;
    browser.fill("#camera-url", &url).await;
    browser.fill("#camera-password", "wrong-password").await;
    browser.click("#camera-test").await;
    let problem = browser
        .until("the wrong password told", "const e = document.querySelector('#camera-problem'); return e && !e.hidden && /password/i.test(e.innerText) && e.innerText")
        .await;
    let problem = problem.as_str().unwrap_or_default().to_lowercase();
    assert!(problem.contains("password"), "{problem}");
    browser.screenshot("4-wrong-camera-password").await;
    browser.fill("#camera-password", PASSWORD).await;
    browser.click("#camera-test").await;
    browser
        .until(
            "a successful test",
            "const b = document.querySelector('#camera-save'); return b && !b.disabled",
        )
        .await;
    browser.click("#camera-save").await;
    let shown = browser
        .until(
            "the camera in the list",
            "const c = document.querySelector('#camera-list .camera'); return c && c.innerText",
        )
        .await;
    assert!(
        shown.as_str().unwrap_or_default().contains("<img src=x"),
        "{shown}"
    );
    assert_no_element(&browser, "#injected", "the name became markup").await;
    browser.screenshot("5-camera-added").await;

    // A search: the photo's face, the last minutes of footage, the known face found.
    browser.click("#nav-search").await;
    let file = browser.find("#search-photo").await;
    let path = photo("obama.jpg").canonicalize().expect("the photo");
    file.send_keys(&path.display().to_string())
        .await
        .expect("choose the photo");
    browser
        .until(
            "the photo's face",
            "return document.querySelectorAll('#search-faces .face.selected').length",
        )
        .await;
    let (from, _) = sim.recording_span(0, 101, 1433).expect("a recording");
    set_value(&browser, "#search-from", &local_field(from)).await;
    set_value(
        &browser,
        "#search-to",
        &local_field(end + jiff::SignedDuration::from_mins(1)),
    )
    .await;
    browser.screenshot("6-search").await;
    browser.click("#search-start").await;
    browser.find("#task-results").await;
    let crops = browser
        .until("a match's crop", "const imgs = [...document.querySelectorAll('#task-results .result img')]; return imgs.filter(i => i.complete && i.naturalWidth > 0).length")
        .await;
    assert!(crops.as_u64().unwrap_or(0) >= 1, "{crops}");
    browser.screenshot("7-results").await;
    // The camera's latest keyframe, decoded by the search, beside it in the list.
    let (status, jpeg) = daemon.api().bytes("/cameras/1/snapshot.jpg").await;
    assert_eq!(status, 200);
    assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]), "a JPEG");
    browser.click("#nav-cameras").await;
    browser
        .until("the keyframe beside the camera", "const i = document.querySelector('#camera-list .camera img'); return i && i.complete && i.naturalWidth > 0")
        .await;
    browser.screenshot("8-camera-with-keyframe").await;
    browser.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_in_chinese_gets_the_same_page() {
    let (_dir, _daemon, browser) = first_visit(Screen::Phone, "zh-CN", "phone-zh").await;
    let lang = browser
        .until(
            "the page's language",
            "return document.documentElement.lang",
        )
        .await;
    assert_eq!(lang, "zh-CN");
    let width = browser
        .until(
            "the page's width",
            "return [window.innerWidth, document.documentElement.scrollWidth]",
        )
        .await;
    assert_eq!(width[0], 375, "{width}");
    assert!(
        width[1].as_u64().unwrap_or(999) <= 375,
        "scrolls sideways: {width}"
    );
    let text = browser.text("#setup").await;
    assert!(
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{text}"
    );
    browser.screenshot("1-first-boot").await;
    set_the_first_password(&browser).await;
    browser.screenshot("2-status").await;
    // Switched to English and back, on the spot.
    browser.click("#lang").await;
    browser
        .until("English", "return document.documentElement.lang === 'en'")
        .await;
    browser.click("#lang").await;
    browser
        .until(
            "Chinese again",
            "return document.documentElement.lang === 'zh-CN'",
        )
        .await;
    browser.close().await;
}
