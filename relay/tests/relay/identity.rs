//! Accounts are an e-mail within a tenant (docs/design/0001-user-identity.md): creating a
//! user with an e-mail that exists in another tenant or among the platform admins answers
//! exactly as a new e-mail, with the same work done, and sign-in names the tenant.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, PASSWORD, TestRelay};
use crate::on_both_backends;
use crate::world::{ROOT_EMAIL, World};

/// What a created user's answer says apart from what differs by nature (id, times, the
/// e-mail itself): the keys, tenant and status.
fn shape(user: &Value) -> Value {
    let mut user = user.clone();
    let object = user.as_object_mut().expect("a JSON object");
    for varying in ["id", "created_at", "updated_at", "email", "display_name"] {
        assert!(object.remove(varying).is_some(), "{varying} missing");
    }
    user
}

/// Creates `email` in `tenant` as `token`; returns the status, the answer and the Argon2
/// work (hashes, checks) the request did.
async fn create_user(
    relay: &TestRelay,
    tenant: &str,
    token: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Value, (u64, u64)) {
    let before = relay.state.passwords.work_done();
    let (status, body) = relay
        .post(
            &format!("/api/v1/tenants/{tenant}/users"),
            token,
            json!({"email": email, "password": password}),
        )
        .await;
    let after = relay.state.passwords.work_done();
    (status, body, (after.0 - before.0, after.1 - before.1))
}

async fn email_elsewhere_is_a_new_account(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, a, b) = (&world.relay, &world.a, &world.b);
    let own_password = "tenant a's own password";

    let (status, fresh, fresh_work) = create_user(
        relay,
        &a.id,
        &a.admin_token,
        "fresh@dipper.test",
        own_password,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    assert_eq!(fresh_work, (1, 0), "a creation hashes the password once");
    // Another tenant's user, a platform admin, and another spelling of another tenant's.
    let elsewhere = [
        b.viewer_email.clone(),
        ROOT_EMAIL.to_owned(),
        b.admin_email.to_uppercase(),
    ];
    for email in &elsewhere {
        let (status, body, work) =
            create_user(relay, &a.id, &a.admin_token, email, own_password).await;
        assert_eq!(status, StatusCode::CREATED, "{email}: {body}");
        assert_eq!(shape(&body), shape(&fresh), "{email}");
        assert_eq!(body["email"], email.to_lowercase());
        assert_eq!(
            work, fresh_work,
            "{email}: the same Argon2 work as a new e-mail"
        );
    }
    // Only the tenant's own users conflict, which its admin can list anyway.
    let (status, taken, work) =
        create_user(relay, &a.id, &a.admin_token, &b.viewer_email, own_password).await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    assert_eq!(taken["error"], "email_taken");
    assert_eq!(taken["field"], "email");
    assert_eq!(work, fresh_work);
    // Every creation left the same audit record.
    let audit = world.audit(a).await;
    let mut creations: Vec<&str> = audit
        .iter()
        .filter(|r| {
            r["action"] == "user.create"
                && r["actor"] == format!("user:{}", a.admin_id)
                && r["target"] != format!("user:{}", a.viewer_id)
        })
        .map(|r| r["outcome"].as_str().expect("outcome"))
        .collect();
    creations.sort_unstable();
    assert_eq!(
        creations,
        [
            "refused: email_taken",
            "success",
            "success",
            "success",
            "success"
        ],
        "{audit:?}"
    );

    each_account_signs_in_to_its_own_tenant(&world, own_password).await;
}

async fn each_account_signs_in_to_its_own_tenant(world: &World, own_password: &str) {
    let (relay, a, b) = (&world.relay, &world.a, &world.b);
    // Each account signs in to its own tenant with its own password.
    let in_a = relay
        .expect_login((Some(&a.id), &b.viewer_email), own_password, StatusCode::OK)
        .await;
    let me = relay.me(&in_a).await;
    assert_eq!(me["tenant_id"], a.id.as_str());
    assert_eq!(me["grants"], json!([]));
    relay.token(Some(&b.id), &b.viewer_email).await;
    let root = relay
        .expect_get(
            "/api/v1/me",
            &relay.token(None, ROOT_EMAIL).await,
            StatusCode::OK,
        )
        .await;
    assert_eq!(root["platform_admin"], true);
    let in_a_as_root = relay
        .expect_login((Some(&a.id), ROOT_EMAIL), own_password, StatusCode::OK)
        .await;
    let me = relay.me(&in_a_as_root).await;
    assert_eq!(me["platform_admin"], false);

    // A wrong tenant, an unknown tenant, an unknown e-mail and a wrong password answer
    // alike, each after one Argon2 check.
    let refused = [
        (Some(b.id.as_str()), "fresh@dipper.test", own_password),
        (
            Some("5a1e4b6e-3c1f-4a53-9e59-2b0b3b8f9d10"),
            b.viewer_email.as_str(),
            PASSWORD,
        ),
        (Some(a.id.as_str()), "nobody@dipper.test", PASSWORD),
        (Some(a.id.as_str()), "fresh@dipper.test", PASSWORD),
        (None, b.admin_email.as_str(), PASSWORD),
    ];
    let mut answers = Vec::new();
    for (tenant, email, password) in refused {
        let before = relay.state.passwords.work_done();
        let answer = relay
            .expect_login((tenant, email), password, StatusCode::UNAUTHORIZED)
            .await;
        let after = relay.state.passwords.work_done();
        assert_eq!((after.0 - before.0, after.1 - before.1), (0, 1), "{email}");
        answers.push(answer);
    }
    assert_eq!(answers[0]["error"], "invalid_credentials");
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

async fn login_checks_its_tenant_field(backend: Backend) {
    let world = World::new(backend).await;
    let answer = world
        .relay
        .expect_call(
            (Method::POST, "/api/v1/auth/login"),
            None,
            Some(json!({"email": world.a.admin_email, "password": PASSWORD, "tenant_id": "a"})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(answer["field"], "tenant_id");
    assert_eq!(answer["message"], "must be a UUID");
}

on_both_backends!(
    email_elsewhere_is_a_new_account,
    login_checks_its_tenant_field
);
