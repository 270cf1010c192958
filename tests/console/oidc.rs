//! Single sign-on through a real OpenID Connect provider (panva's oidc-provider, npm): the
//! console's authorization code flow with PKCE as a public client, the provider's JWT access
//! token accepted by the relay with the tenant and role from its claims, a reload signed in
//! again without a prompt, and signing out revoking the provider's refresh token.

use testkit::browser::Screen;
use testkit::oidc::{OidcAccount, OidcSetup};
use testkit::relay::RelayOptions;

use crate::harness::{browser, eval, page_text};
use crate::site::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_through_the_provider_with_pkce_and_out_again() {
    let setup = OidcSetup::new();
    let site = Site::with_relay(RelayOptions {
        toml: setup.relay_toml(),
        env: Vec::new(),
    })
    .await;
    let base = site.relay.base.clone();
    let provider = setup.start(
        &format!("{base}/console/"),
        &[OidcAccount {
            login: "kc-operator".to_owned(),
            tenant: Some(site.tenant.id.clone()),
            roles: vec!["operator".to_owned()],
        }],
    );
    let browser = browser("oidc", Screen::Desktop, "en-US").await;
    browser
        .client
        .goto(&format!("{base}/console/"))
        .await
        .expect("open");
    browser.screenshot("1-sign-in-choices").await;
    browser.click("#login-oidc").await;

    // The provider's own pages: any login name, then consent.
    browser
        .until(
            "the provider's sign-in page",
            "return document.querySelector('input[name=login]')",
        )
        .await;
    browser.fill("input[name=login]", "kc-operator").await;
    browser.fill("input[name=password]", "anything").await;
    let at_provider = eval(&browser, "return location.origin").await;
    assert_eq!(at_provider, serde_json::json!(provider.issuer()));
    browser.click("button[type=submit]").await;
    // The consent page replaces the sign-in one: wait for it before clicking again.
    browser
        .until(
            "the provider's consent page",
            "return !document.querySelector('input[name=login]') && document.querySelector('button[type=submit]')",
        )
        .await;
    browser.click("button[type=submit]").await;

    // Back in the console, signed in as the provider's operator of the tenant.
    browser.find("#nav").await;
    let url = eval(&browser, "return location.href").await;
    let url = url.as_str().expect("href");
    assert!(
        !url.contains("code=") && !url.contains("state="),
        "the code is not left in the address: {url}"
    );
    assert!(page_text(&browser).await.contains("Operator"));
    let me = eval(&browser, "return fetch('/api/v1/me').then(r => r.status)").await;
    assert_eq!(
        me,
        serde_json::json!(401),
        "no ambient credential: the token is in memory"
    );
    browser.screenshot("2-signed-in").await;

    // A reload: no token survives it, the provider is asked again without a prompt.
    browser.client.refresh().await.expect("reload");
    browser.find("#nav").await;
    assert!(page_text(&browser).await.contains("Operator"));

    // Signing out revokes at the provider; a reload shows the sign-in choices.
    browser.click("#logout").await;
    browser.find("#login-oidc").await;
    browser.client.refresh().await.expect("reload");
    browser.find("#login-oidc").await;
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css("#nav"))
            .await
            .is_err()
    );
    browser.screenshot("3-signed-out").await;
    browser.close().await;
    drop(provider);
}
