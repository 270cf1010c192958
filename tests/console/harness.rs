//! What every console test does: a site (relay, broker, a tenant with its administrator),
//! a browser signed in as someone, users of each role, and checks on the page.

use std::path::PathBuf;

use serde_json::{Value, json};
use testkit::browser::{Browser, Screen};
use testkit::relay::{PASSWORD, ROOT, TENANT_ADMIN};

use crate::site::Site;

/// Where the screenshots of test `name` go.
pub(crate) fn shots(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("console")
        .join(name)
}

/// A browser for test `name`, in `language` (`en-US`, `zh-CN`).
pub(crate) async fn browser(name: &str, screen: Screen, language: &str) -> Browser {
    Browser::start(screen, language, shots(name)).await
}

/// Who signs in.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) email: String,
    pub(crate) password: String,
    /// None for a platform administrator.
    pub(crate) tenant: Option<String>,
}

impl Account {
    pub(crate) fn root() -> Account {
        Account {
            email: ROOT.to_owned(),
            password: PASSWORD.to_owned(),
            tenant: None,
        }
    }

    pub(crate) fn tenant_admin(site: &Site) -> Account {
        Account {
            email: TENANT_ADMIN.to_owned(),
            password: PASSWORD.to_owned(),
            tenant: Some(site.tenant.id.clone()),
        }
    }
}

/// Adds a user with `role` on the whole tenant of `site` (through the API, as its
/// administrator); the account.
pub(crate) async fn user_with_role(site: &Site, email: &str, role: &str) -> Account {
    let base = format!("/api/v1/tenants/{}/users", site.tenant.id);
    let token = Some(site.tenant.admin_token.as_str());
    let user = site
        .relay
        .post_ok(
            &base,
            token,
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    let id = user["id"].as_str().expect("user id");
    site.relay
        .post_ok(
            &format!("{base}/{id}/grants"),
            token,
            &json!({ "role": role }),
        )
        .await;
    Account {
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        tenant: Some(site.tenant.id.clone()),
    }
}

/// Opens the console of `base` and signs in as `account`; returns once the navigation
/// shows.
pub(crate) async fn sign_in(browser: &Browser, base: &str, account: &Account) {
    browser
        .client
        .goto(&format!("{base}/console/"))
        .await
        .expect("open the console");
    browser.fill("#login-email", &account.email).await;
    browser.fill("#login-password", &account.password).await;
    browser
        .fill("#login-tenant", account.tenant.as_deref().unwrap_or(""))
        .await;
    browser.click("#login-submit").await;
    browser.find("#nav").await;
}

/// Goes to `#/{hash}` of the console and waits for the main view to render `css`.
pub(crate) async fn open(browser: &Browser, base: &str, hash: &str, css: &str) {
    browser
        .client
        .goto(&format!("{base}/console/#/{hash}"))
        .await
        .expect("open a view");
    browser.find(css).await;
}

/// Runs `script` in the page; its value.
pub(crate) async fn eval(browser: &Browser, script: &str) -> Value {
    browser
        .client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// The page's visible text.
pub(crate) async fn page_text(browser: &Browser) -> String {
    eval(browser, "return document.body.innerText")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Whether `window.__xss` was set by anything (every probe sets it when it runs).
pub(crate) async fn assert_no_script_ran(browser: &Browser) {
    let ran = eval(
        browser,
        "return window.__xss === undefined ? null : String(window.__xss)",
    )
    .await;
    assert_eq!(ran, Value::Null, "an injected script ran");
}

/// Text put in user-entered fields: it must show as text and never run.
pub(crate) const PROBE: &str =
    "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";
