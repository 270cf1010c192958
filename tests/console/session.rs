//! Signing in and out: a wrong password is refused with a sentence and no session; the right
//! one signs in, survives a reload (the refresh cookie, never readable by the page's
//! scripts), and signing out revokes the session so a reload asks to sign in again. In
//! Chinese too.

use serde_json::Value;
use testkit::browser::Screen;

use crate::harness::{Account, browser, eval, page_text, sign_in};
use crate::site::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_signs_in_stays_signed_in_across_a_reload_and_signs_out() {
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let browser = browser("session", Screen::Desktop, "en-US").await;
    let admin = Account::tenant_admin(&site);

    // A wrong password: refused, said so, still on the sign-in form.
    browser
        .client
        .goto(&format!("{base}/console/"))
        .await
        .expect("open");
    browser.find("#login-form").await;
    // What the console costs a first visit (every module at once, no compression, nothing
    // cached), for the README; the bytes are the build's, the paint this machine's.
    let (bytes, paint) = browser.weight_and_first_paint().await;
    eprintln!(
        "console: {bytes} bytes transferred before images, first contentful paint {paint:.0} ms"
    );
    assert!(bytes > 50_000 && bytes < 1_000_000, "{bytes} bytes");
    browser.fill("#login-email", &admin.email).await;
    browser.fill("#login-password", "not-the-password").await;
    browser
        .fill("#login-tenant", admin.tenant.as_deref().unwrap())
        .await;
    browser.click("#login-submit").await;
    let error = browser
        .until(
            "the refusal shown",
            "const e = document.querySelector('#login-error'); return e && !e.hidden && e.innerText",
        )
        .await;
    assert!(
        error
            .as_str()
            .unwrap()
            .contains("Wrong e-mail, organisation or password"),
        "{error}"
    );
    assert!(browser.client.find(fantoccini_css("#nav")).await.is_err());
    browser.screenshot("1-wrong-password").await;

    // The right one: the tenant's views, the refresh token only in an HttpOnly cookie.
    sign_in(&browser, &base, &admin).await;
    browser.screenshot("2-signed-in").await;
    let cookies = eval(&browser, "return document.cookie").await;
    assert_eq!(
        cookies,
        Value::String(String::new()),
        "the page's scripts see no cookie"
    );
    // WebDriver shows a page's own cookies only: look from under the cookie's path.
    let cookie = refresh_cookie(&browser, &base)
        .await
        .expect("the refresh cookie is set");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.path(), Some("/api/v1/auth"));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    browser
        .client
        .goto(&format!("{base}/console/"))
        .await
        .expect("back to the console");
    browser.find("#nav").await;

    // A reload keeps the session: the cookie renews the access token.
    browser.client.refresh().await.expect("reload");
    browser.find("#nav").await;
    assert!(page_text(&browser).await.contains("Tenant administrator"));

    // Signing out ends it: the cookie is gone, and a reload asks to sign in.
    browser.click("#logout").await;
    browser.find("#login-form").await;
    assert!(
        refresh_cookie(&browser, &base).await.is_none(),
        "the cookie is cleared"
    );
    browser
        .client
        .goto(&format!("{base}/console/"))
        .await
        .expect("back to the console");
    browser.find("#login-form").await;
    browser.screenshot("3-signed-out").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_speaks_chinese_to_a_chinese_browser_and_switches_to_english() {
    let site = Site::start().await;
    let base = site.relay.base.clone();
    let browser = browser("chinese", Screen::Phone, "zh-CN").await;
    browser
        .client
        .goto(&format!("{base}/console/"))
        .await
        .expect("open");
    let title = browser.text("#login-form h1").await;
    assert_eq!(title, "登录 Dipper");
    // The address scripts/demo prints fills in the organisation.
    browser
        .client
        .goto(&format!("{base}/console/?tenant={}", site.tenant.id))
        .await
        .expect("open with the tenant");
    // The form is drawn by the page's script after the load: wait for it.
    browser.find("#login-tenant").await;
    let filled = eval(
        &browser,
        "return document.querySelector('#login-tenant').value",
    )
    .await;
    assert_eq!(filled, Value::String(site.tenant.id.clone()));
    browser
        .client
        .goto(&format!("{base}/console/"))
        .await
        .expect("open");
    sign_in(&browser, &base, &Account::root()).await;
    assert!(page_text(&browser).await.contains("平台管理员"));
    browser.screenshot("1-zh-phone").await;
    browser.click("#lang").await;
    browser
        .until(
            "English",
            "return document.body.innerText.includes('Platform administrator')",
        )
        .await;
    assert_eq!(
        eval(&browser, "return document.documentElement.lang").await,
        Value::String("en".to_owned())
    );
    browser.screenshot("2-en-phone").await;
    browser.close().await;
}

fn fantoccini_css(css: &str) -> testkit::browser::Locator<'_> {
    testkit::browser::Locator::Css(css)
}

/// The `dipper_refresh` cookie as the browser holds it, read from a page under its path
/// (the relay's 405 answer there); the browser is left on that page.
async fn refresh_cookie(
    browser: &testkit::browser::Browser,
    base: &str,
) -> Option<fantoccini::cookies::Cookie<'static>> {
    browser
        .client
        .goto(&format!("{base}/api/v1/auth/refresh"))
        .await
        .expect("a page under the cookie's path");
    browser.client.get_named_cookie("dipper_refresh").await.ok()
}
