//! A populated relay: a platform admin and two tenants, A and B, each with a tenant admin, a
//! viewer granted on one building, an area tree (community > building > floor) and a device.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, PASSWORD, TestDb, TestRelay, expect, id};

#[derive(Debug)]
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) admin_email: String,
    pub(crate) admin_id: String,
    pub(crate) admin_token: String,
    pub(crate) viewer_email: String,
    pub(crate) viewer_id: String,
    pub(crate) viewer_grant: String,
    pub(crate) community: String,
    pub(crate) building: String,
    pub(crate) floor: String,
    pub(crate) device: String,
    pub(crate) provisioning_key: String,
}

#[derive(Debug)]
pub(crate) struct World {
    pub(crate) relay: TestRelay,
    pub(crate) root_token: String,
    pub(crate) a: Tenant,
    pub(crate) b: Tenant,
    // Dropped last: the relay must stop before its database goes.
    _db: TestDb,
}

pub(crate) const ROOT_EMAIL: &str = "root@dipper.test";

impl World {
    pub(crate) async fn new(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let relay = TestRelay::start(&db).await;
        Self::populate(db, relay).await
    }

    pub(crate) async fn populate(db: TestDb, relay: TestRelay) -> Self {
        relay::admin::create_platform_admin(
            &relay.state.db,
            &relay.state.passwords,
            ROOT_EMAIL,
            PASSWORD.to_owned(),
        )
        .await
        .expect("platform admin");
        let root_token = relay.token(None, ROOT_EMAIL).await;
        let a = make_tenant(&relay, &root_token, "a").await;
        let b = make_tenant(&relay, &root_token, "b").await;
        World {
            relay,
            root_token,
            a,
            b,
            _db: db,
        }
    }
}

pub(crate) async fn create_tenant(
    relay: &TestRelay,
    token: &str,
    name: &str,
    key: &str,
) -> (StatusCode, serde_json::Value) {
    let response = relay
        .raw(reqwest::Method::POST, "/api/v1/tenants")
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(json!({ "name": name }).to_string())
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn make_tenant(relay: &TestRelay, root: &str, label: &str) -> Tenant {
    let tenant = expect(
        create_tenant(
            relay,
            root,
            &format!("Tenant {label}"),
            &format!("create-{label}"),
        )
        .await,
        StatusCode::CREATED,
    );
    let t = id(&tenant);
    let base = format!("/api/v1/tenants/{t}");
    let admin_email = format!("admin-{label}@dipper.test");
    let admin = expect(
        relay
            .post(
                &format!("{base}/users"),
                root,
                json!({"email": admin_email, "password": PASSWORD}),
            )
            .await,
        StatusCode::CREATED,
    );
    expect(
        relay
            .post(
                &format!("{base}/users/{}/grants", id(&admin)),
                root,
                json!({"role": "tenant_admin"}),
            )
            .await,
        StatusCode::CREATED,
    );
    let admin_token = relay.token(Some(&t), &admin_email).await;
    let community = expect(
        relay
            .post(
                &format!("{base}/areas"),
                &admin_token,
                json!({"name": "Community"}),
            )
            .await,
        StatusCode::CREATED,
    );
    let building = expect(
        relay
            .post(
                &format!("{base}/areas"),
                &admin_token,
                json!({"name": "Building 1", "parent_id": id(&community)}),
            )
            .await,
        StatusCode::CREATED,
    );
    let floor = expect(
        relay
            .post(
                &format!("{base}/areas"),
                &admin_token,
                json!({"name": "Floor 1", "parent_id": id(&building)}),
            )
            .await,
        StatusCode::CREATED,
    );
    let viewer_email = format!("viewer-{label}@dipper.test");
    let viewer = expect(
        relay
            .post(
                &format!("{base}/users"),
                &admin_token,
                json!({"email": viewer_email, "password": PASSWORD}),
            )
            .await,
        StatusCode::CREATED,
    );
    let grant = expect(
        relay
            .post(
                &format!("{base}/users/{}/grants", id(&viewer)),
                &admin_token,
                json!({"role": "viewer", "area_id": id(&building)}),
            )
            .await,
        StatusCode::CREATED,
    );
    let device = expect(
        relay
            .post(
                &format!("{base}/devices"),
                &admin_token,
                json!({"name": "Box 1", "area_id": id(&floor)}),
            )
            .await,
        StatusCode::CREATED,
    );
    Tenant {
        id: t,
        admin_email,
        admin_id: id(&admin),
        admin_token,
        viewer_email,
        viewer_id: id(&viewer),
        viewer_grant: id(&grant),
        community: id(&community),
        building: id(&building),
        floor: id(&floor),
        device: id(&device["device"]),
        provisioning_key: device["provisioning_key"].as_str().expect("key").to_owned(),
    }
}
