//! A populated relay: a platform admin and two tenants, A and B, each with a tenant admin, a
//! viewer granted on one building, an area tree (community > building > floor) and a device.

use reqwest::StatusCode;
use serde_json::{Value, json};

use relay::config::Config;
use relay::db::{Mode, Scope};
use relay::store::events;
use uuid::Uuid;

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
    /// A person of the face library (without photos).
    pub(crate) person: String,
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
        Self::configured(backend, |_| {}).await
    }

    /// A world whose relay runs with the test configuration changed by `tweak`.
    pub(crate) async fn configured(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new(backend).await;
        let relay = TestRelay::start_with(&db, tweak, None).await;
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

impl World {
    /// The world's database, for a second relay on it (tests/uplink/ uses it).
    #[allow(dead_code)]
    pub(crate) fn db(&self) -> &TestDb {
        &self._db
    }

    /// The bodies of `tenant`'s recorded events of `kind` (`relay_events`), read from the store.
    pub(crate) async fn events(&self, tenant: &Tenant, kind: &str) -> Vec<String> {
        let id: Uuid = tenant.id.parse().expect("id");
        let db = &self.relay.state.db;
        let mut tx = db.begin(Scope::Tenant(id), Mode::Read).await.expect("tx");
        let found = events::bodies(&mut tx, id, kind).await.expect("events");
        tx.commit().await.expect("commit");
        found
    }

    /// The audit records of `tenant` (up to 500), read by its admin.
    pub(crate) async fn audit(&self, tenant: &Tenant) -> Vec<Value> {
        let path = format!("/api/v1/tenants/{}/audit?limit=500", tenant.id);
        let token = &tenant.admin_token;
        let audit = self.relay.expect_get(&path, token, StatusCode::OK).await;
        audit["items"].as_array().expect("items").clone()
    }
}

/// The quantity of `meter` and `class` summed over the days of a usage report (`.../usage`).
pub(crate) fn counted(report: &Value, meter: &str, class: &str) -> i64 {
    report["days"]
        .as_array()
        .expect("days")
        .iter()
        .flat_map(|day| day["counts"].as_array().expect("counts").iter())
        .filter(|c| c["meter"] == meter && c["class"] == class)
        .map(|c| c["quantity"].as_i64().expect("quantity"))
        .sum()
}

pub(crate) async fn create_tenant(
    relay: &TestRelay,
    token: &str,
    name: &str,
    key: &str,
) -> (StatusCode, Value) {
    let body = json!({ "name": name }).to_string();
    relay
        .post_keyed(("/api/v1/tenants", token), key, body)
        .await
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
    let (users, areas) = (format!("{base}/users"), format!("{base}/areas"));
    let admin_email = format!("admin-{label}@dipper.test");
    let admin = json!({"email": admin_email, "password": PASSWORD});
    let admin = relay.created(&users, root, admin).await;
    let grants = format!("{users}/{}/grants", id(&admin));
    relay
        .created(&grants, root, json!({"role": "tenant_admin"}))
        .await;
    let admin_token = relay.token(Some(&t), &admin_email).await;
    let token = admin_token.as_str();
    let community = relay
        .created(&areas, token, json!({"name": "Community"}))
        .await;
    let building = json!({"name": "Building 1", "parent_id": id(&community)});
    let building = relay.created(&areas, token, building).await;
    let floor = json!({"name": "Floor 1", "parent_id": id(&building)});
    let floor = relay.created(&areas, token, floor).await;
    let viewer_email = format!("viewer-{label}@dipper.test");
    let viewer = json!({"email": viewer_email, "password": PASSWORD});
    let viewer = relay.created(&users, token, viewer).await;
    let grants = format!("{users}/{}/grants", id(&viewer));
    let grant = json!({"role": "viewer", "area_id": id(&building)});
    let grant = relay.created(&grants, token, grant).await;
    let device = json!({"name": "Box 1", "area_id": id(&floor)});
    let device = relay
        .created(&format!("{base}/devices"), token, device)
        .await;
    let person = json!({"name": format!("Person of {label}")});
    let person = relay
        .created(&format!("{base}/people"), token, person)
        .await;
    Tenant {
        person: id(&person),
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
