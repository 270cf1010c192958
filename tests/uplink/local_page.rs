//! The box's local page provisions the box against a running relay in a real headless
//! Chromium: the installer pastes the activation string the relay showed, activates, sees
//! the link come up (and the relay sees the box online), then de-provisions it (and the
//! relay sees it go). Screenshots under `$CARGO_TARGET_TMPDIR/local-page/provisioning/`.

use testkit::browser::{Browser, Screen};
use testkit::daemon::Daemon;
use testkit::relay::RegisteredBox;

use crate::site::{BOX_CONFIG, Site};

const STRONG: &str = "harbour-lantern-river-42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installer_provisions_the_box_from_its_page_with_the_relay_s_activation_string() {
    let site = Site::start().await;
    let RegisteredBox {
        device_id,
        activation,
        ..
    } = site
        .relay
        .register_box(&site.tenant, "Box at the gate")
        .await;
    assert!(
        activation.starts_with("dipper://activate?relay="),
        "{activation}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), BOX_CONFIG);
    let shots =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("local-page/provisioning");
    let browser = Browser::start(Screen::Desktop, "en-US", shots).await;
    browser
        .client
        .goto(&format!("{}/", daemon.base))
        .await
        .expect("open the page");
    browser.fill("#setup-password", STRONG).await;
    browser.fill("#setup-confirm", STRONG).await;
    browser.click("#setup-submit").await;
    browser.find("#nav").await;

    browser.click("#nav-uplink").await;
    browser.fill("#uplink-activation", &activation).await;
    // Pasting fills the three fields from the string.
    let filled = browser
        .until(
            "the fields from the string",
            "return document.querySelector('#uplink-device').value",
        )
        .await;
    assert_eq!(filled, serde_json::Value::String(device_id.clone()));
    let relay_field = browser
        .client
        .execute(
            "return document.querySelector('#uplink-relay').value",
            vec![],
        )
        .await
        .expect("relay field");
    assert_eq!(
        relay_field,
        serde_json::Value::String(site.relay.base.clone())
    );
    browser.screenshot("1-pasted").await;
    browser.click("#uplink-activate").await;
    browser
        .until("the link online", "const s = document.querySelector('#uplink-state'); return s && /online/i.test(s.innerText)")
        .await;
    site.wait_presence(&device_id, true).await;
    browser.screenshot("2-online").await;

    // De-provisioning takes a second click to confirm, and the relay sees the box go.
    browser.click("#uplink-deprovision").await;
    browser.click("#uplink-deprovision").await;
    browser
        .until("not provisioned", "const s = document.querySelector('#uplink-state'); return s && !/online/i.test(s.innerText) && document.querySelector('#uplink-activate')")
        .await;
    site.wait_presence(&device_id, false).await;
    let (status, uplink) = daemon.api().get("/uplink/status").await;
    assert_eq!(status, 200);
    assert_eq!(uplink["state"], "not_activated", "{uplink}");
    browser.screenshot("3-deprovisioned").await;
    browser.close().await;
}
