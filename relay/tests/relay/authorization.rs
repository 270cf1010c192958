//! The authorization matrix: every operation of the OpenAPI document, called by every kind of
//! caller, answers the status `authorization.tsv` (beside this file) says.
//!
//! The callers: nobody (no `Authorization`), a box (its device credential), tenant B's admin
//! (acting on tenant A), and tenant A's viewer (on a building), operator (on the whole
//! tenant) and admin, and the platform admin. Each caller gets a world of its own, so what one
//! caller deletes does not change another's answers; within a world the operations that
//! change or end something (deletions, decommissioning, disabling, signing out) come last,
//! deepest path first, so they do not spoil the others. Path parameters name tenant A's own
//! objects where the world has them (an area, a user and its grant, a device, a person, a
//! search, an RPC, a notification channel, a stored object, a person's photo, an invoice);
//! a software rollout is an id that does not exist, so a caller allowed through answers 404 there.
//!
//! An operation of the document missing from the table fails the test, and so does a line of
//! the table no operation has: a new route needs its line, looked at by whoever adds it.
//! `DIPPER_BLESS=1` writes the table from what the relay answered instead of comparing (then
//! read the diff: every cell is a decision).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use relay::db::{Mode, Scope};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, PASSWORD, TestRelay, expect, id};
use crate::isolation::{operations, sample_body, store_object_of};
use crate::world::{Tenant, World};

/// Who calls, in the table's column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Box,
    OtherTenant,
    Viewer,
    Operator,
    TenantAdmin,
    PlatformAdmin,
}

const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::Box,
    Caller::OtherTenant,
    Caller::Viewer,
    Caller::Operator,
    Caller::TenantAdmin,
    Caller::PlatformAdmin,
];

impl Caller {
    fn column(self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Box => "box",
            Caller::OtherTenant => "other_tenant",
            Caller::Viewer => "viewer",
            Caller::Operator => "operator",
            Caller::TenantAdmin => "tenant_admin",
            Caller::PlatformAdmin => "platform_admin",
        }
    }
}

/// One caller's world: tenant A's objects the paths name, and the `Authorization` value.
struct Stage {
    world: World,
    authorization: Option<String>,
    search: String,
    rpc: String,
    channel: String,
    /// A second box of A's, not yet activated: the activation's sample body.
    spare_device: (String, String),
    object: String,
    /// The search's person, who has a photo.
    person: String,
    photo: String,
    invoice: String,
}

/// An operator of tenant A on the whole tenant; its token.
async fn operator_token(relay: &TestRelay, a: &Tenant) -> String {
    let users = format!("/api/v1/tenants/{}/users", a.id);
    let body = json!({"email": "operator-a@dipper.test", "password": PASSWORD});
    let operator = relay.created(&users, &a.admin_token, body).await;
    let grants = format!("{users}/{}/grants", id(&operator));
    let grant = json!({"role": "operator"});
    relay.created(&grants, &a.admin_token, grant).await;
    relay.token(Some(&a.id), "operator-a@dipper.test").await
}

/// Tenant A's box activated; its `Authorization` value.
async fn device_authorization(relay: &TestRelay, a: &Tenant) -> String {
    let body = json!({"device_id": a.device, "provisioning_key": a.provisioning_key});
    let activation = (Method::POST, "/api/v1/devices/activate");
    let answer = relay
        .call(activation.0, activation.1, None, Some(body))
        .await;
    let credentials = expect(answer, StatusCode::OK);
    let credential = credentials["credential"].as_str().expect("credential");
    format!("Device {}:{credential}", a.device)
}

/// A person of `tenant` with a photo (the stored search's), and the photo.
async fn person_with_photo(world: &World, tenant: &Tenant) -> (String, String) {
    let id: Uuid = tenant.id.parse().expect("id");
    let db = &world.relay.state.db;
    let mut tx = db.begin(Scope::Tenant(id), Mode::Read).await.expect("tx");
    let (photo, person): (String, String) =
        sqlx::query_as("SELECT id, person_id FROM face_photos WHERE tenant_id = $1")
            .bind(tenant.id.as_str())
            .fetch_one(&mut *tx)
            .await
            .expect("the stored search's person's photo");
    tx.commit().await.expect("commit");
    (person, photo)
}

/// Tenant A's invoice of October 2026, made by the monthly run.
async fn october_invoice(world: &World) -> String {
    let rule = crate::invoices::rule("2026-01-01", 300, 0);
    crate::invoices::set_rule_back_then(world, &world.a.id, &rule).await;
    crate::invoices::meter_october(world).await;
    let run = json!({"month": "2026-10", "tenant_id": world.a.id});
    crate::invoices::run_month(world, run).await;
    let invoice = crate::invoices::invoice_of(world, &world.a.id, "2026-10").await;
    invoice.expect("October's invoice").id.to_string()
}

/// The id of `tenant`'s one stored RPC.
async fn stored_rpc(world: &World, tenant: &Tenant) -> String {
    let id: Uuid = tenant.id.parse().expect("id");
    let db = &world.relay.state.db;
    let mut tx = db.begin(Scope::Tenant(id), Mode::Read).await.expect("tx");
    let rpc: String = sqlx::query_scalar("SELECT id FROM device_rpcs WHERE tenant_id = $1")
        .bind(tenant.id.as_str())
        .fetch_one(&mut *tx)
        .await
        .expect("the stored search's RPC");
    tx.commit().await.expect("commit");
    rpc
}

async fn stage(caller: Caller) -> Stage {
    let world = World::new(Backend::Sqlite).await;
    let (relay, a) = (&world.relay, &world.a);
    let admin = a.admin_token.as_str();
    let base = format!("/api/v1/tenants/{}", a.id);
    let search = crate::searches::stored_search(&world, a).await.to_string();
    // Only an active box takes RPCs.
    let device = device_authorization(relay, a).await;
    // The search's call to the box (no broker here: it stays queued).
    let rpc = stored_rpc(&world, a).await;
    let channel =
        json!({"kind": "feishu", "target": "https://open.feishu.cn/open-apis/bot/v2/hook/x"});
    let channel = relay
        .created(&format!("{base}/notification-channels"), admin, channel)
        .await;
    let spare = json!({"name": "Box 2", "area_id": a.floor});
    let spare = relay
        .created(&format!("{base}/devices"), admin, spare)
        .await;
    let spare_device = (
        id(&spare["device"]),
        spare["provisioning_key"].as_str().expect("key").to_owned(),
    );
    let (object, _) = store_object_of(&world, a).await;
    let (person, photo) = person_with_photo(&world, a).await;
    let invoice = october_invoice(&world).await;
    let bearer = |token: &str| Some(format!("Bearer {token}"));
    let authorization = match caller {
        Caller::Anonymous => None,
        Caller::Box => Some(device),
        Caller::OtherTenant => bearer(&world.b.admin_token),
        Caller::Viewer => bearer(&relay.token(Some(&a.id), &a.viewer_email).await),
        Caller::Operator => bearer(&operator_token(relay, a).await),
        Caller::TenantAdmin => bearer(admin),
        Caller::PlatformAdmin => bearer(&world.root_token),
    };
    Stage {
        search,
        rpc,
        channel: id(&channel),
        spare_device,
        object: object.to_string(),
        person,
        photo,
        invoice,
        authorization,
        world,
    }
}

impl Stage {
    fn path(&self, method: &Method, template: &str) -> String {
        let a = &self.world.a;
        if template.starts_with("/objects/") {
            return format!(
                "/objects/{}?method={method}&expires=4102444800&signature=forged",
                self.object
            );
        }
        template
            .replace("{tenant_id}", &a.id)
            .replace("{area_id}", &a.building)
            .replace("{user_id}", &a.viewer_id)
            .replace("{device_id}", &a.device)
            .replace("{grant_id}", &a.viewer_grant)
            .replace("{person_id}", &self.person)
            .replace("{search_id}", &self.search)
            .replace("{rpc_id}", &self.rpc)
            .replace("{channel_id}", &self.channel)
            .replace("{photo_id}", &self.photo)
            .replace("{invoice_id}", &self.invoice)
            .replace("{rollout_id}", &Uuid::from_u128(31).to_string())
            + required_query(template)
    }

    /// A valid body for the operations without a path parameter (the others' come from
    /// the isolation test's samples).
    fn body(&self, method: &Method, template: &str) -> Option<Value> {
        let a = &self.world.a;
        let body = match (method.as_str(), template) {
            ("POST", "/api/v1/tenants") => json!({"name": "Tenant C"}),
            ("POST", "/api/v1/auth/login") => {
                json!({"email": a.admin_email, "password": PASSWORD, "tenant_id": a.id})
            }
            ("POST", "/api/v1/auth/refresh" | "/api/v1/auth/logout") => {
                json!({"refresh_token": "not-a-refresh-token"})
            }
            ("POST", "/api/v1/devices/activate") => json!({
                "device_id": self.spare_device.0,
                "provisioning_key": self.spare_device.1,
            }),
            ("POST", "/api/v1/billing/runs") => json!({"month": "2026-10", "dry_run": true}),
            ("POST", "/api/v1/billing/dunning-runs") => json!({"tenant_id": a.id}),
            ("POST", "/api/v1/software/packages") => json!("not a package"),
            _ => sample_body(method, template, a)?,
        };
        Some(body)
    }

    /// The status `method` on `template` answers this stage's caller.
    async fn answer(&self, method: &Method, template: &str) -> StatusCode {
        let relay = &self.world.relay;
        let path = self.path(method, template);
        let mut request = relay.raw(method.clone(), &path);
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        if let Some(body) = self.body(method, template) {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let streamed = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        // An event stream does not end: its status is the answer.
        if !streamed {
            response.bytes().await.expect("body");
        }
        status
    }
}

/// The query a route cannot do without, so that what answers is the authorization, not
/// the query's validation.
fn required_query(template: &str) -> &'static str {
    match template {
        "/api/v1/reports/usage" => "?month=2026-10",
        _ => "",
    }
}

/// Whether an operation changes or ends something other operations name, and so runs
/// after them: 0 for the others, then deletions and their kind deepest first, then the
/// tenant's own, then signing out.
fn spoils(method: &Method, template: &str) -> (u8, std::cmp::Reverse<usize>) {
    let depth = std::cmp::Reverse(template.matches('/').count());
    let ends = ["/decommission", "/disable", "/void", "/provisioning-key"];
    if template == "/api/v1/auth/logout" {
        (3, depth)
    } else if template == "/api/v1/tenants/{tenant_id}"
        || template == "/api/v1/tenants/{tenant_id}/disable"
    {
        (2, depth)
    } else if *method == Method::DELETE || ends.iter().any(|end| template.ends_with(end)) {
        (1, depth)
    } else {
        (0, depth)
    }
}

type Table = BTreeMap<(String, String), Vec<String>>;

fn table_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/relay/authorization.tsv")
}

fn header() -> String {
    let columns: Vec<&str> = CALLERS.iter().map(|c| c.column()).collect();
    format!("method\tpath\t{}", columns.join("\t"))
}

fn read_table() -> Table {
    let text = std::fs::read_to_string(table_path()).expect("tests/relay/authorization.tsv");
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    assert_eq!(lines.next(), Some(header().as_str()), "the table's header");
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                cells.len(),
                2 + CALLERS.len(),
                "a line of the table: {line}"
            );
            let key = (cells[0].to_owned(), cells[1].to_owned());
            (key, cells[2..].iter().map(|c| (*c).to_owned()).collect())
        })
        .collect()
}

fn write_table(observed: &Table) {
    let mut text = String::from(
        "# What each caller gets from each operation of the relay's OpenAPI document.\n\
         # Checked by tests/relay/authorization.rs; DIPPER_BLESS=1 rewrites it from the relay.\n",
    );
    writeln!(text, "{}", header()).expect("write");
    for ((method, path), cells) in observed {
        writeln!(text, "{method}\t{path}\t{}", cells.join("\t")).expect("write");
    }
    std::fs::write(table_path(), text).expect("write the table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_table_says() {
    let mut observed: Table = BTreeMap::new();
    for (column, caller) in CALLERS.into_iter().enumerate() {
        let stage = stage(caller).await;
        let mut operations = operations(&stage.world).await;
        operations.sort_by_key(|(method, template)| spoils(method, template));
        for (method, template) in operations {
            let status = stage.answer(&method, &template).await;
            let key = (method.to_string(), template);
            let cells = observed
                .entry(key)
                .or_insert_with(|| vec![String::new(); CALLERS.len()]);
            cells[column] = status.as_u16().to_string();
        }
    }
    assert!(observed.len() >= 70, "only {} operations", observed.len());
    if std::env::var_os("DIPPER_BLESS").is_some() {
        write_table(&observed);
        return;
    }
    let problems = problems(&observed, &read_table());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What differs between the answers `observed` and the table `expected`, one line each:
/// a cell, an operation the table lacks, a line no operation has.
fn problems(observed: &Table, expected: &Table) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, cells) in observed {
        match expected.get(key) {
            None => problems.push(format!(
                "{} {}: not in the table (add its line)",
                key.0, key.1
            )),
            Some(want) if want != cells => {
                for (i, (want, got)) in want.iter().zip(cells).enumerate() {
                    if want != got {
                        let caller = CALLERS[i].column();
                        let (method, path) = key;
                        problems.push(format!(
                            "{method} {path} as {caller}: {got}, the table says {want}"
                        ));
                    }
                }
            }
            Some(_) => {}
        }
    }
    for key in expected.keys().filter(|k| !observed.contains_key(*k)) {
        problems.push(format!(
            "{} {}: in the table, not in the document",
            key.0, key.1
        ));
    }
    problems
}

/// The check itself: a route the table lacks, a line left over and a changed cell are each
/// named.
#[test]
fn the_table_names_missing_routes_leftover_lines_and_changed_cells() {
    let line = |method: &str, path: &str, cells: &[&str]| {
        let key = (method.to_owned(), path.to_owned());
        (
            key,
            cells.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>(),
        )
    };
    let observed: Table = [
        line("GET", "/a", &["401", "200"]),
        line("POST", "/new", &["401", "201"]),
    ]
    .into_iter()
    .collect();
    let expected: Table = [
        line("GET", "/a", &["401", "403"]),
        line("DELETE", "/gone", &["401", "204"]),
    ]
    .into_iter()
    .collect();
    let found = problems(&observed, &expected);
    assert_eq!(
        found,
        vec![
            "GET /a as box: 200, the table says 403".to_owned(),
            "POST /new: not in the table (add its line)".to_owned(),
            "DELETE /gone: in the table, not in the document".to_owned(),
        ]
    );
    assert!(problems(&observed, &observed).is_empty());
}
