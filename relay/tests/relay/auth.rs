//! Sign-in: passwords, throttling, refresh-token rotation and reuse, disabled users and
//! tenants, rate limits, and external OpenID Connect tokens checked against a JWKS the test
//! serves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

use crate::harness::{Backend, PASSWORD, TestRelay, assert_says, expect};
use crate::on_both_backends;
use crate::world::World;

async fn refresh(relay: &TestRelay, token: &str) -> (StatusCode, Value) {
    relay
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
        .await
}

async fn login_refresh_rotation_and_reuse(backend: Backend) {
    let world = World::new(backend).await;
    let relay = &world.relay;
    let email = &world.a.admin_email;
    let first = relay
        .expect_login((Some(&world.a.id), email), PASSWORD, StatusCode::OK)
        .await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 900);
    let me = relay.me(&first).await;
    assert_eq!(me["tenant_id"], world.a.id.as_str());
    assert_eq!(me["grants"][0]["role"], "tenant_admin");

    // Rotation: each refresh token is good once and yields the next.
    let r1 = first["refresh_token"].as_str().expect("r1");
    let second = expect(refresh(relay, r1).await, StatusCode::OK);
    let r2 = second["refresh_token"].as_str().expect("r2");
    assert_ne!(r1, r2);
    relay.me(&second).await;
    // Reuse of r1 is theft: the whole family goes, r2 included.
    let reused = expect(refresh(relay, r1).await, StatusCode::UNAUTHORIZED);
    assert_says(&reused, "already used");
    expect(refresh(relay, r2).await, StatusCode::UNAUTHORIZED);
    // Another login starts a new family, unaffected.
    let third = relay
        .expect_login((Some(&world.a.id), email), PASSWORD, StatusCode::OK)
        .await;
    let r3 = third["refresh_token"].as_str().expect("r3");
    let fourth = expect(refresh(relay, r3).await, StatusCode::OK);
    // Logout revokes the family.
    relay
        .expect_call(
            (Method::POST, "/api/v1/auth/logout"),
            None,
            Some(json!({"refresh_token": fourth["refresh_token"]})),
            StatusCode::NO_CONTENT,
        )
        .await;
    expect(
        refresh(relay, fourth["refresh_token"].as_str().expect("r4")).await,
        StatusCode::UNAUTHORIZED,
    );
    expect(
        refresh(relay, "not-a-token").await,
        StatusCode::UNAUTHORIZED,
    );
    assert_session_events(&world).await;
    let access = third["access_token"].as_str().expect("access");
    tampered_and_missing_tokens_are_refused(relay, access).await;
}

/// Every session event is in the tenant's audit log.
async fn assert_session_events(world: &World) {
    let relay = &world.relay;
    let audit = relay
        .expect_get(
            &format!("/api/v1/tenants/{}/audit?limit=500", world.a.id),
            &world.a.admin_token,
            StatusCode::OK,
        )
        .await;
    let events: Vec<(String, String)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("auth.login", "success"),
        ("auth.refresh", "success"),
        ("auth.refresh", "refused: refresh_token_reused"),
        ("auth.logout", "success"),
    ] {
        assert!(
            events
                .iter()
                .any(|(a, o)| a == expected.0 && o == expected.1),
            "{expected:?} missing from {events:?}"
        );
    }
}

async fn tampered_and_missing_tokens_are_refused(relay: &TestRelay, access: &str) {
    let mut tampered = access.to_owned();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    relay
        .expect_get("/api/v1/me", &tampered, StatusCode::UNAUTHORIZED)
        .await;
    relay
        .expect_public_get("/api/v1/me", StatusCode::UNAUTHORIZED)
        .await;
    relay
        .expect_get("/api/v1/me", "garbage", StatusCode::UNAUTHORIZED)
        .await;
}

/// A login body for `email` in `tenant`.
fn credentials(tenant: &str, email: &str, password: &str) -> Value {
    json!({"tenant_id": tenant, "email": email, "password": password})
}

async fn lockout_is_per_account_and_address(backend: Backend) {
    let world = World::configured(backend, |config| {
        config.auth.login_max_failures = 3;
        config.auth.login_account_max_failures = 7;
    })
    .await;
    let (relay, a) = (&world.relay, &world.a);
    let login = "/api/v1/auth/login";
    let (attacker, owner) = ([127, 0, 0, 2], [127, 0, 0, 3]);
    let wrong = credentials(&a.id, &a.viewer_email, "wrong password!!");
    let right = credentials(&a.id, &a.viewer_email, PASSWORD);
    for _ in 0..3 {
        let (status, _, answer) = relay.post_from(attacker, login, wrong.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"], "invalid_credentials");
    }
    // The address that failed is locked out of the account, even with the right password...
    let (status, retry_after, locked) = relay.post_from(attacker, login, right.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{locked}");
    assert_eq!(locked["error"], "login_locked");
    assert!(
        retry_after.is_some_and(|s| (1..=300).contains(&s)),
        "{retry_after:?}"
    );
    // ...but the owner, elsewhere, signs in.
    let (status, _, signed_in) = relay.post_from(owner, login, right.clone()).await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    // The attacker's address may still try other accounts.
    let (status, _, _) = relay
        .post_from(
            attacker,
            login,
            credentials(&a.id, &a.admin_email, PASSWORD),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // An account that does not exist locks the same way, so the lock reveals nothing.
    let nobody = credentials(&a.id, "nobody@dipper.test", "wrong password!!");
    for _ in 0..3 {
        let (status, _, answer) = relay.post_from(attacker, login, nobody.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    }
    let (status, _, nobody_locked) = relay.post_from(attacker, login, nobody).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(nobody_locked, locked);
    // Failures known and unknown are audited only for a real user, in its tenant.
    let audit = relay
        .expect_get(
            &format!("/api/v1/tenants/{}/audit?limit=500", a.id),
            &a.admin_token,
            StatusCode::OK,
        )
        .await;
    let refused = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["action"] == "auth.login" && r["outcome"] == "refused: wrong_password")
        .count();
    assert_eq!(refused, 3, "{audit}");

    account_wide_brake(&world, (wrong, right), &locked).await;
}

async fn account_wide_brake(world: &World, (wrong, right): (Value, Value), locked: &Value) {
    let (relay, login, owner) = (&world.relay, "/api/v1/auth/login", [127, 0, 0, 3]);
    // Guessing spread over addresses meets the slower account-wide brake: 3 + 2 + 2 failures
    // reach the 7 allowed, and then even the owner's right password waits.
    for address in [[127, 0, 0, 4], [127, 0, 0, 5]] {
        for _ in 0..2 {
            let (status, _, answer) = relay.post_from(address, login, wrong.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        }
    }
    let (status, retry_after, answer) = relay.post_from(owner, login, right).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(&answer, locked);
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{retry_after:?}"
    );
    // Other accounts are untouched.
    let (status, _, _) = relay
        .post_from(
            owner,
            login,
            credentials(&world.b.id, &world.b.viewer_email, PASSWORD),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

fn access(pair: &Value) -> String {
    pair["access_token"].as_str().expect("access").to_owned()
}

fn refresh_token(pair: &Value) -> String {
    pair["refresh_token"].as_str().expect("refresh").to_owned()
}

#[track_caller]
fn refused_as(answer: (StatusCode, Value), code: &str) {
    let body = expect(answer, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], code, "{body}");
}

/// A new session of A's viewer: its token pair.
async fn sign_in(world: &World) -> Value {
    let (relay, a) = (&world.relay, &world.a);
    let account = (Some(a.id.as_str()), a.viewer_email.as_str());
    relay.expect_login(account, PASSWORD, StatusCode::OK).await
}

async fn access_tokens_die_with_their_session(backend: Backend) {
    let world = &World::new(backend).await;
    let relay = &world.relay;

    // Reuse of a refresh token: every access token of its session, old and new, stops.
    let first = sign_in(world).await;
    let second = expect(refresh(relay, &refresh_token(&first)).await, StatusCode::OK);
    let other_session = sign_in(world).await;
    relay
        .expect_get("/api/v1/me", &access(&second), StatusCode::OK)
        .await;
    refused_as(
        refresh(relay, &refresh_token(&first)).await,
        "refresh_token_reused",
    );
    for pair in [&first, &second] {
        refused_as(
            relay.get("/api/v1/me", &access(pair)).await,
            "session_revoked",
        );
    }
    relay
        .expect_get("/api/v1/me", &access(&other_session), StatusCode::OK)
        .await;

    // Logout.
    relay
        .expect_call(
            (Method::POST, "/api/v1/auth/logout"),
            None,
            Some(json!({"refresh_token": refresh_token(&other_session)})),
            StatusCode::NO_CONTENT,
        )
        .await;
    refused_as(
        relay.get("/api/v1/me", &access(&other_session)).await,
        "session_revoked",
    );
    password_change_and_disabling_end_sessions(world).await;
}

/// A password change ends every session of the user, and no one else's; disabling the user
/// ends its sessions too.
async fn password_change_and_disabling_end_sessions(world: &World) {
    let (relay, a) = (&world.relay, &world.a);
    let (one, two) = (sign_in(world).await, sign_in(world).await);
    let user = format!("/api/v1/tenants/{}/users/{}", a.id, a.viewer_id);
    let new_password = "a brand new passphrase";
    relay
        .expect_call(
            (Method::PATCH, &user),
            Some(&a.admin_token),
            Some(json!({"password": new_password})),
            StatusCode::OK,
        )
        .await;
    for pair in [&one, &two] {
        refused_as(
            relay.get("/api/v1/me", &access(pair)).await,
            "session_revoked",
        );
        refused_as(
            refresh(relay, &refresh_token(pair)).await,
            "refresh_token_invalid",
        );
    }
    relay
        .expect_get("/api/v1/me", &a.admin_token, StatusCode::OK)
        .await;
    let fresh = relay
        .expect_login((Some(&a.id), &a.viewer_email), new_password, StatusCode::OK)
        .await;
    relay
        .expect_get("/api/v1/me", &access(&fresh), StatusCode::OK)
        .await;

    // Disabling the user ends its sessions too: enabling it again does not revive them.
    for status in ["disabled", "active"] {
        relay
            .expect_call(
                (Method::PATCH, &user),
                Some(&a.admin_token),
                Some(json!({"status": status})),
                StatusCode::OK,
            )
            .await;
        if status == "disabled" {
            refused_as(
                relay.get("/api/v1/me", &access(&fresh)).await,
                "user_disabled",
            );
        }
    }
    refused_as(
        relay.get("/api/v1/me", &access(&fresh)).await,
        "session_revoked",
    );
}

async fn logins_from_one_address_are_limited(backend: Backend) {
    // Populating logs in three times (the platform admin, then each tenant's admin).
    let world = World::configured(backend, |config| {
        config.limits.login_per_address_per_minute = 1;
        config.limits.login_per_address_burst = 6;
    })
    .await;
    let relay = &world.relay;
    for n in 0..3 {
        let email = format!("nobody-{n}@dipper.test");
        relay
            .expect_login(
                (Some(&world.a.id), &email),
                PASSWORD,
                StatusCode::UNAUTHORIZED,
            )
            .await;
    }
    // Each email is far from its own lockout, but the address has spent its attempts.
    let limited = relay
        .expect_login(
            (Some(&world.a.id), &world.a.admin_email),
            PASSWORD,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    assert_eq!(limited["error"], "rate_limited");
    assert_says(&limited, "address");
}

async fn disabled_users_and_tenants_are_refused(backend: Backend) {
    let world = World::new(backend).await;
    let relay = &world.relay;
    let (a, root) = (&world.a, &world.root_token);
    let viewer = relay
        .expect_login((Some(&a.id), &a.viewer_email), PASSWORD, StatusCode::OK)
        .await;
    let viewer_access = viewer["access_token"].as_str().expect("access").to_owned();

    // Disabling the tenant: its users' tokens, logins and refreshes, and its boxes' activation.
    relay
        .expect_post(
            &format!("/api/v1/tenants/{}/disable", a.id),
            root,
            json!(null),
            StatusCode::OK,
        )
        .await;
    let refused = relay
        .expect_get("/api/v1/me", &viewer_access, StatusCode::FORBIDDEN)
        .await;
    assert_eq!(refused["error"], "tenant_disabled");
    assert_eq!(
        relay
            .expect_login(
                (Some(&a.id), &a.admin_email),
                PASSWORD,
                StatusCode::FORBIDDEN
            )
            .await["error"],
        "tenant_disabled"
    );
    assert_eq!(
        expect(
            refresh(relay, viewer["refresh_token"].as_str().expect("r")).await,
            StatusCode::FORBIDDEN
        )["error"],
        "tenant_disabled"
    );
    let activation = relay
        .call(
            Method::POST,
            "/api/v1/devices/activate",
            None,
            Some(json!({"device_id": a.device, "provisioning_key": a.provisioning_key})),
        )
        .await;
    assert_eq!(
        expect(activation, StatusCode::FORBIDDEN)["error"],
        "tenant_disabled"
    );
    // Tenant B is untouched; A comes back when enabled.
    relay
        .expect_get("/api/v1/me", &world.b.admin_token, StatusCode::OK)
        .await;
    relay
        .expect_post(
            &format!("/api/v1/tenants/{}/enable", a.id),
            root,
            json!(null),
            StatusCode::OK,
        )
        .await;
    relay
        .expect_get("/api/v1/me", &viewer_access, StatusCode::OK)
        .await;

    disabling_a_user_ends_its_tokens(&world, &viewer).await;
}

async fn disabling_a_user_ends_its_tokens(world: &World, viewer: &Value) {
    let (relay, a) = (&world.relay, &world.a);
    let viewer_access = access(viewer);
    // Disabling a user ends its tokens and sessions.
    relay
        .expect_call(
            (
                Method::PATCH,
                &format!("/api/v1/tenants/{}/users/{}", a.id, a.viewer_id),
            ),
            Some(&a.admin_token),
            Some(json!({"status": "disabled"})),
            StatusCode::OK,
        )
        .await;
    relay
        .expect_get("/api/v1/me", &viewer_access, StatusCode::UNAUTHORIZED)
        .await;
    relay
        .expect_login(
            (Some(&a.id), &a.viewer_email),
            PASSWORD,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    expect(
        refresh(relay, viewer["refresh_token"].as_str().expect("r")).await,
        StatusCode::UNAUTHORIZED,
    );
}

async fn rate_limits_per_user_and_per_tenant(backend: Backend) {
    let world = World::configured(backend, |config| {
        config.limits.per_user_per_second = 1;
        config.limits.per_user_burst = 40;
        config.limits.per_tenant_per_second = 1;
        config.limits.per_tenant_burst = 60;
    })
    .await;
    let relay = &world.relay;
    // Populating used part of the buckets; spend the rest of A's admin's.
    let mut limited = None;
    for n in 0..60 {
        let response = relay
            .raw(Method::GET, "/api/v1/me")
            .bearer_auth(&world.a.admin_token)
            .send()
            .await
            .expect("me");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .expect("header")
                .parse()
                .expect("seconds");
            assert!(retry >= 1);
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["error"], "rate_limited");
            limited = Some(n);
            break;
        }
    }
    assert!(limited.is_some(), "the per-user limit never answered 429");
    // The viewer of the same tenant has its own user bucket but shares the tenant's, which
    // the admin's requests emptied.
    let viewer = relay.token(Some(&world.a.id), &world.a.viewer_email).await;
    let mut tenant_limited = false;
    for _ in 0..60 {
        let (status, body) = relay.get("/api/v1/me", &viewer).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_says(&body, "tenant");
            tenant_limited = true;
            break;
        }
    }
    assert!(tenant_limited, "the per-tenant limit never answered 429");
    // Tenant B has buckets of its own.
    relay
        .expect_get("/api/v1/me", &world.b.admin_token, StatusCode::OK)
        .await;
}

on_both_backends!(
    login_refresh_rotation_and_reuse,
    lockout_is_per_account_and_address,
    access_tokens_die_with_their_session,
    logins_from_one_address_are_limited,
    disabled_users_and_tenants_are_refused,
    rate_limits_per_user_and_per_tenant,
);

/// An RSA key pair and its JWK.
fn rsa_key(kid: &str) -> (EncodingKey, Value) {
    // rsa 0.9 takes a rand_core 0.6 generator; argon2 re-exports that version's OsRng.
    let mut rng = argon2::password_hash::rand_core::OsRng;
    let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa key");
    let public = private.to_public_key();
    let jwk = json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    });
    let der = private.to_pkcs1_der().expect("der");
    (EncodingKey::from_rsa_der(der.as_bytes()), jwk)
}

async fn serve_jwks(keys: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let keys = keys.clone();
            async move { axum::Json(keys) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks")
}

fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

/// The claims of an IdP's token for `tenant` with `roles`, valid from `now` for 5 minutes.
fn oidc_claims(tenant: &str, roles: Value, now: i64) -> Value {
    json!({
        "iss": "https://idp.test/realms/dipper", "aud": "dipper-relay", "sub": "kc-user-1",
        "exp": now + 300, "iat": now, "dipper_tenant": tenant, "dipper_roles": roles,
    })
}

async fn external_oidc_tokens(backend: Backend) {
    let (key, jwk) = rsa_key("k1");
    let (other_key, _) = rsa_key("k2");
    let jwks_url = serve_jwks(json!({"keys": [jwk]})).await;
    let world = World::configured(backend, |config| {
        config.oidc = Some(relay::config::OidcConfig {
            issuer: "https://idp.test/realms/dipper".to_owned(),
            audience: "dipper-relay".to_owned(),
            jwks_url,
            tenant_claim: "dipper_tenant".to_owned(),
            roles_claim: "dipper_roles".to_owned(),
            jwks_min_refresh_seconds: 30,
            console_client_id: Some("dipper-console".to_owned()),
            console_scope: "openid".to_owned(),
        });
    })
    .await;
    let relay = &world.relay;
    let now = jiff::Timestamp::now().as_second();
    let claims = |tenant: &str, roles: Value| oidc_claims(tenant, roles, now);

    // The console learns the provider and its client without signing in, and may fetch
    // from the provider (its discovery document and token endpoint), from nowhere else.
    let config = relay
        .expect_public_get("/api/v1/auth/config", StatusCode::OK)
        .await;
    assert_eq!(
        config["oidc"],
        json!({"issuer": "https://idp.test/realms/dipper", "client_id": "dipper-console", "scope": "openid"})
    );
    let page = relay
        .raw(Method::GET, "/console/")
        .send()
        .await
        .expect("page");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("connect-src 'self' https://idp.test;"),
        "{csp}"
    );

    let token = sign(
        &key,
        "k1",
        &claims(&world.a.id, json!(["operator", "offline_access"])),
    );
    let me = relay.expect_get("/api/v1/me", &token, StatusCode::OK).await;
    assert_eq!(me["actor"], "oidc:kc-user-1");
    assert_eq!(me["tenant_id"], world.a.id.as_str());
    assert_eq!(me["grants"], json!([{"role": "operator", "area_id": null}]));
    // An operator of A registers a device in A, and cannot reach B.
    relay
        .expect_post(
            &format!("/api/v1/tenants/{}/devices", world.a.id),
            &token,
            json!({"name": "OIDC box", "area_id": world.a.floor}),
            StatusCode::CREATED,
        )
        .await;
    relay
        .expect_get(
            &format!("/api/v1/tenants/{}/devices", world.b.id),
            &token,
            StatusCode::NOT_FOUND,
        )
        .await;
    relay
        .expect_get(
            &format!("/api/v1/tenants/{}/users", world.a.id),
            &token,
            StatusCode::FORBIDDEN,
        )
        .await;
    // The action is audited under the external subject.
    let audit = relay
        .expect_get(
            &format!("/api/v1/tenants/{}/audit", world.a.id),
            &world.a.admin_token,
            StatusCode::OK,
        )
        .await;
    assert!(
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|r| r["actor"] == "oidc:kc-user-1" && r["action"] == "device.register"),
        "{audit}"
    );

    refused_external_tokens(&world, (&key, &other_key), &token).await;
}

async fn refused_external_tokens(
    world: &World,
    (key, other_key): (&EncodingKey, &EncodingKey),
    token: &str,
) {
    let relay = &world.relay;
    let now = jiff::Timestamp::now().as_second();
    let claims = |tenant: &str, roles: Value| oidc_claims(tenant, roles, now);
    // Refused: a key not in the set, the wrong audience, an expired token, another issuer.
    let cases = [
        sign(other_key, "k2", &claims(&world.a.id, json!(["operator"]))),
        sign(other_key, "k1", &claims(&world.a.id, json!(["operator"]))),
        sign(key, "k1", &{
            let mut c = claims(&world.a.id, json!([]));
            c["aud"] = json!("someone-else");
            c
        }),
        sign(key, "k1", &{
            let mut c = claims(&world.a.id, json!([]));
            c["exp"] = json!(now - 600);
            c
        }),
        sign(key, "k1", &{
            let mut c = claims(&world.a.id, json!([]));
            c["iss"] = json!("https://evil.test");
            c
        }),
        sign(key, "k1", &claims("not-a-uuid", json!(["viewer"]))),
    ];
    for token in &cases {
        relay
            .expect_get("/api/v1/me", token, StatusCode::UNAUTHORIZED)
            .await;
    }
    // A disabled tenant's external users are refused too.
    relay
        .expect_post(
            &format!("/api/v1/tenants/{}/disable", world.a.id),
            &world.root_token,
            json!(null),
            StatusCode::OK,
        )
        .await;
    let refused = relay
        .expect_get("/api/v1/me", token, StatusCode::FORBIDDEN)
        .await;
    assert_eq!(refused["error"], "tenant_disabled");
}

on_both_backends!(external_oidc_tokens);
