//! The box's authorization matrix: every operation of its OpenAPI document
//! (`GET /api/v1/openapi.json`) called by every kind of caller, each answer's status checked
//! against the table checked in beside this file, `authorization.tsv` (one line per
//! operation, `METHOD /path`, one column per caller, each cell the expected HTTP status).
//!
//! The test fails, naming the operation, when the document has an operation the table lacks
//! or the table one the document lacks, when an operation with a request body has no sample
//! body here ([`sample_body`]), or when a path parameter has no value ([`fill_path`]); and,
//! naming operation and caller, when an answer is not the table's.
//!
//! The callers, in the order they run ([`CALLERS`]): nobody before the first password is set
//! (`anonymous_first_boot`), nobody after (`anonymous`), a wrong `Authorization: Bearer`
//! (`wrong_token`), the cookie of a session that signed out, with its CSRF token
//! (`ended_session`), a live session's cookie without its `X-CSRF-Token`
//! (`session_no_csrf`), a live session with it (`session`), and the CLI's local token
//! (`local_token`).
//!
//! One box serves them all, in that order, so that the first boot comes first. Before the
//! callers, the local token (the CLI works before the first boot) adds a simulated camera,
//! runs a search over a recording in which a face is shown until it has a match (so the
//! camera has a keyframe and the match its snapshots), and creates and cancels a second task.
//! Paths name those objects, so an allowed caller reaches the handler and gets its real
//! answer, not a 404. What an operation destroys is kept from the others: each caller deletes
//! a camera of its own, added for it; cancelling the cancelled task again changes nothing;
//! the operations that end sessions or set or change the password run last for each caller
//! ([`LAST`]), and a session caller's session is renewed (signed in again) whenever one of
//! them ended it.
//!
//! To write the table from what the box answers instead of comparing (after adding a route,
//! say), run the test with `DIPPER_BLESS=1`:
//!
//! ```sh
//! DIPPER_BLESS=1 cargo nextest run --workspace --all-features \
//!     -E 'package(appliance) and binary(authorization)'
//! ```
//!
//! then read every changed cell before committing it: the table is the review of who may do
//! what, not a record of whatever the code does.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use common::{Daemon, PASSWORD, USER, face_camera, photo, start_sim};
use reqwest::Method;
use serde_json::{Value, json};

/// The administrator password the first boot sets.
const FIRST_PASSWORD: &str = "harbour-lantern-river-42";

/// Every kind of caller, in the order they run, as the table's columns.
const CALLERS: [Caller; 7] = [
    Caller::AnonymousFirstBoot,
    Caller::Anonymous,
    Caller::WrongToken,
    Caller::EndedSession,
    Caller::SessionNoCsrf,
    Caller::Session,
    Caller::LocalToken,
];

/// Operations that end sessions, or set or change the password: each caller's last.
const LAST: [&str; 3] = [
    "PUT /api/v1/session/password",
    "DELETE /api/v1/session",
    "POST /api/v1/session/setup",
];

/// The lines the blessed table starts with.
const TABLE_HEADER: &str = "\
# The box's authorization matrix, checked by appliance/tests/authorization.rs (see its
# module doc for the callers and how the objects named are made). One line per operation
# of GET /api/v1/openapi.json, one column per caller, each cell the HTTP status expected.
# Written with DIPPER_BLESS=1, then reviewed cell by cell. Notes on the cells:
# - Open without sign-in: health, the OpenAPI document, the session's state, signing in and
#   the first boot's step; /metrics is outside the gate and open to every caller.
# - A wrong Authorization header is refused (401 bad_token) on every /api/v1 route, open
#   ones too: it is never ignored.
# - Sign-in before the first boot is the handler's 401 setup_required; the first boot's
#   step after it is 409 already_set. The samples carry the right password, so anyone
#   signing in gets 200.
# - A session without its X-CSRF-Token may read (200) but every changing request that is
#   not open answers 403 csrf_failed, signing out included.
# - Activating the uplink names the box itself as the relay, which answers 404: the
#   handler's 502 (the relay refused), reached only by allowed callers.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    AnonymousFirstBoot,
    Anonymous,
    WrongToken,
    EndedSession,
    SessionNoCsrf,
    Session,
    LocalToken,
}

impl Caller {
    fn name(self) -> &'static str {
        match self {
            Caller::AnonymousFirstBoot => "anonymous_first_boot",
            Caller::Anonymous => "anonymous",
            Caller::WrongToken => "wrong_token",
            Caller::EndedSession => "ended_session",
            Caller::SessionNoCsrf => "session_no_csrf",
            Caller::Session => "session",
            Caller::LocalToken => "local_token",
        }
    }

    /// Whether the caller holds a live session that is renewed when an operation ends it.
    fn keeps_a_session(self) -> bool {
        matches!(self, Caller::SessionNoCsrf | Caller::Session)
    }
}

/// One operation of the document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Operation {
    /// The path template, `/api/v1/cameras/{id}` (first, so operations sort by path).
    path: String,
    method: String,
    has_body: bool,
}

impl Operation {
    fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What the local token made for the callers to name.
struct Objects {
    /// The box's own address, which plays the relay when the uplink is activated.
    box_base: String,
    device_url: String,
    camera: i64,
    task: String,
    cancelled_task: String,
    matched: i64,
    task_photo: String,
    /// A window with no recordings, so a task the callers create ends at once.
    empty_window: (String, String),
}

/// The state the callers share: the box, the objects, the password now, each caller's own.
struct Run {
    daemon: Daemon,
    http: reqwest::Client,
    objects: Objects,
    password: String,
    password_changes: u32,
    caller: Caller,
    /// The caller's session: cookie and CSRF token.
    session: Option<(String, String)>,
    /// The camera the caller deletes.
    spare_camera: i64,
}

/// The answer to one call: its status and, for a JSON error, its code.
struct Answer {
    status: u16,
    code: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_every_caller_as_the_table_says() {
    let end = jiff::Timestamp::now();
    let sim = start_sim(vec![face_camera(
        "AUTHZ-CAM",
        end,
        &[(1439, "cam1_h264.ps")],
    )])
    .await;
    let (_dir, daemon) = common::start_box("");
    let operations = document_operations(&daemon).await;
    let table_path = table_path();
    let bless = std::env::var_os("DIPPER_BLESS").is_some_and(|v| v == "1");
    let expected = if bless {
        BTreeMap::new()
    } else {
        read_table(&table_path)
    };
    check_coverage(&operations, &expected, bless);

    let objects = make_objects(&daemon, &sim, end).await;
    let mut run = Run {
        daemon,
        // A new connection for every call: a refusal sent before a large body was read
        // closes its connection, which a pooled client might otherwise reuse.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("a client"),
        objects,
        password: FIRST_PASSWORD.to_owned(),
        password_changes: 0,
        caller: CALLERS[0],
        session: None,
        spare_camera: 0,
    };
    let mut observed: BTreeMap<String, Vec<Answer>> = BTreeMap::new();
    for caller in CALLERS {
        run.begin(caller).await;
        for operation in in_running_order(&operations) {
            let answer = run.call(operation).await;
            observed.entry(operation.key()).or_default().push(answer);
        }
    }
    if bless {
        write_table(&table_path, &operations, &observed);
        return;
    }
    compare(&expected, &observed);
}

/// The operations of the box's document, checked to be well formed.
async fn document_operations(daemon: &Daemon) -> Vec<Operation> {
    let (status, doc) = daemon.anonymous_api().get("/openapi.json").await;
    assert_eq!(status, 200, "the document is open: {doc}");
    let paths = doc["paths"].as_object().expect("the document's paths");
    let mut operations = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item");
        for (method, operation) in item {
            let method = method.to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
                continue;
            }
            operations.push(Operation {
                method,
                path: path.clone(),
                has_body: operation.get("requestBody").is_some(),
            });
        }
    }
    operations.sort();
    assert!(operations.len() >= 30, "{operations:?}");
    operations
}

/// The document and the table name the same operations, and every operation can be called:
/// its body has a sample and its path parameters have values.
fn check_coverage(operations: &[Operation], expected: &BTreeMap<String, Vec<u16>>, bless: bool) {
    let mut problems = Vec::new();
    let documented: BTreeSet<String> = operations.iter().map(Operation::key).collect();
    if !bless {
        for key in documented.difference(&expected.keys().cloned().collect()) {
            problems.push(format!(
                "{key} is in the document but not in authorization.tsv: add its line (or run \
                 with DIPPER_BLESS=1 and review it)"
            ));
        }
        for key in expected.keys().filter(|k| !documented.contains(*k)) {
            problems.push(format!(
                "{key} is in authorization.tsv but not in the document"
            ));
        }
    }
    let objects = Objects::placeholder();
    for operation in operations {
        let sample = sample_body(operation, &objects, FIRST_PASSWORD, "x");
        match (operation.has_body, sample.is_some()) {
            (true, false) => problems.push(format!(
                "{} takes a body but has no sample in sample_body",
                operation.key()
            )),
            (false, true) => problems.push(format!(
                "{} has a sample body but the document gives it none",
                operation.key()
            )),
            _ => {}
        }
        if let Err(problem) = fill_path(operation, &objects, 0) {
            problems.push(problem);
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The operations in the order a caller calls them: the document's, [`LAST`] at the end.
fn in_running_order(operations: &[Operation]) -> Vec<&Operation> {
    let rank = |o: &Operation| LAST.iter().position(|l| *l == o.key());
    let mut ordered: Vec<&Operation> = operations.iter().filter(|o| rank(o).is_none()).collect();
    let mut last: Vec<&Operation> = operations.iter().filter(|o| rank(o).is_some()).collect();
    last.sort_by_key(|o| rank(o));
    ordered.extend(last);
    ordered
}

impl Objects {
    /// Values of the right shapes, for checking that every operation can be filled in.
    fn placeholder() -> Objects {
        Objects {
            box_base: "http://127.0.0.1:1".to_owned(),
            device_url: "http://127.0.0.1:1".to_owned(),
            camera: 1,
            task: "t".to_owned(),
            cancelled_task: "c".to_owned(),
            matched: 1,
            task_photo: String::new(),
            empty_window: (String::new(), String::new()),
        }
    }
}

/// The local token adds the camera, runs a search to its match and cancels a second task.
async fn make_objects(
    daemon: &Daemon,
    sim: &isapi::sim::Simulator,
    end: jiff::Timestamp,
) -> Objects {
    let api = daemon.api();
    let device_url = sim.device(0).base_url();
    let camera = api.add_camera("gate", &device_url).await;
    let (from, to) = sim
        .recording_span(0, 101, 1439)
        .expect("the face's recording");
    let from = from + jiff::SignedDuration::from_secs(1);
    let task = api
        .create_task(&photo("obama.jpg"), from, to, &[camera])
        .await;
    let done = api.wait_finished(&task, Duration::from_secs(300)).await;
    assert_eq!(done["state"], "done", "{done}");
    let matches = api.matches(&task).await;
    let matched = matches
        .first()
        .and_then(|m| m["id"].as_i64())
        .unwrap_or_else(|| panic!("the search found the face: {done}"));

    let twenty_minutes_before = to - jiff::SignedDuration::from_mins(20);
    let cancelled_task = api
        .create_task(&photo("obama.jpg"), twenty_minutes_before, to, &[camera])
        .await;
    let (status, body) = api
        .post(&format!("/tasks/{cancelled_task}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200, "cancelling the second task at once: {body}");

    let long_before = end - jiff::SignedDuration::from_hours(24 * 5);
    let bytes = std::fs::read(photo("obama.jpg")).expect("the photo");
    Objects {
        box_base: daemon.base.clone(),
        device_url,
        camera,
        task,
        cancelled_task,
        matched,
        task_photo: base64::engine::general_purpose::STANDARD.encode(bytes),
        empty_window: (
            long_before.to_string(),
            (long_before + jiff::SignedDuration::from_mins(1)).to_string(),
        ),
    }
}

/// A valid body for each operation that takes one, so that an allowed caller's answer is the
/// handler's, not a refusal of the body. `tag` tells callers' new objects apart.
fn sample_body(
    operation: &Operation,
    objects: &Objects,
    password: &str,
    tag: &str,
) -> Option<Value> {
    let body = match (operation.method.as_str(), operation.path.as_str()) {
        ("POST", "/api/v1/session" | "/api/v1/session/setup") => json!({ "password": password }),
        ("PUT", "/api/v1/session/password") => {
            json!({ "current": password, "new": format!("{FIRST_PASSWORD}-{tag}") })
        }
        ("POST", "/api/v1/cameras") => json!({
            "name": format!("added-{tag}"),
            "url": objects.device_url,
            "username": USER,
            "password": PASSWORD,
        }),
        ("POST", "/api/v1/cameras/probe") => json!({
            "url": objects.device_url,
            "username": USER,
            "password": PASSWORD,
        }),
        ("PATCH", "/api/v1/cameras/{id}") => json!({ "enabled": true }),
        ("PUT", "/api/v1/cameras/{id}/password") => json!({ "password": PASSWORD }),
        ("POST", "/api/v1/tasks") => json!({
            "from": objects.empty_window.0,
            "to": objects.empty_window.1,
            "cameras": [objects.camera],
            "priority": 5,
            "photo": objects.task_photo,
        }),
        ("POST", "/api/v1/uplink/activate") => json!({
            // The box itself as the relay: it answers 404, the relay's refusal.
            "relay": objects.box_base,
            "device_id": "6f1c1b7e-3f4a-4c56-9a57-2f1d3c4b5a69",
            "key": "not-a-provisioning-key",
        }),
        ("POST", "/api/v1/faces") => json!({ "photo": grey_png() }),
        ("PUT", "/api/v1/settings") => json!({ "retention": { "keep_days": 30, "quota_mib": 0 } }),
        _ => return None,
    };
    Some(body)
}

/// A small grey PNG: a photo with no face, which the face stages judge at once.
fn grey_png() -> String {
    let grey = image::RgbImage::from_pixel(64, 48, image::Rgb([128, 128, 128]));
    let mut png = std::io::Cursor::new(Vec::new());
    grey.write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    base64::engine::general_purpose::STANDARD.encode(png.get_ref())
}

/// The operation's path with its parameters filled in: the caller's own spare camera for a
/// delete, the cancelled task for a cancel, the shared objects otherwise.
fn fill_path(
    operation: &Operation,
    objects: &Objects,
    spare_camera: i64,
) -> Result<String, String> {
    let path = operation.path.as_str();
    let filled = match (operation.method.as_str(), path) {
        ("DELETE", "/api/v1/cameras/{id}") => path.replace("{id}", &spare_camera.to_string()),
        (_, p) if p.starts_with("/api/v1/cameras/{id}") => {
            path.replace("{id}", &objects.camera.to_string())
        }
        (_, "/api/v1/tasks/{id}/cancel") => path.replace("{id}", &objects.cancelled_task),
        (_, p) if p.starts_with("/api/v1/tasks/{id}") => path.replace("{id}", &objects.task),
        (_, "/api/v1/matches/{id}/{file}") => path
            .replace("{id}", &objects.matched.to_string())
            .replace("{file}", "face.jpg"),
        _ => path.to_owned(),
    };
    if filled.contains('{') {
        return Err(format!(
            "{}: no value for its path parameters in fill_path",
            operation.key()
        ));
    }
    Ok(filled)
}

impl Run {
    /// Gets the box and the credentials ready for `caller`.
    async fn begin(&mut self, caller: Caller) {
        self.caller = caller;
        self.session = None;
        if caller != Caller::AnonymousFirstBoot {
            self.ensure_password_set().await;
        }
        let (status, body) = self
            .daemon
            .api()
            .post(
                "/cameras",
                &json!({
                    "name": format!("spare-{}", caller.name()),
                    "url": self.objects.device_url,
                    "username": USER,
                    "password": PASSWORD,
                }),
            )
            .await;
        assert_eq!(status, 201, "the spare camera: {body}");
        self.spare_camera = body["id"].as_i64().expect("camera id");
        match caller {
            Caller::EndedSession => {
                let session = self.sign_in().await;
                let ended = self
                    .http
                    .delete(format!("{}/api/v1/session", self.daemon.base))
                    .header("cookie", format!("dipper_session={}", session.0))
                    .header("x-csrf-token", &session.1)
                    .send()
                    .await
                    .expect("sign out");
                assert_eq!(ended.status().as_u16(), 204);
                self.session = Some(session);
            }
            c if c.keeps_a_session() => self.session = Some(self.sign_in().await),
            _ => {}
        }
    }

    /// After the first boot's caller: the password is set (that caller's last call sets it;
    /// should it not have, it is set here so the others still run).
    async fn ensure_password_set(&mut self) {
        let (_, state) = self.daemon.anonymous_api().get("/session").await;
        if state["password_set"] == false {
            let (status, body) = self
                .daemon
                .anonymous_api()
                .post("/session/setup", &json!({ "password": self.password }))
                .await;
            assert_eq!(status, 201, "{body}");
        }
    }

    /// A new session with the password now: its cookie and CSRF token.
    async fn sign_in(&self) -> (String, String) {
        let response = self
            .http
            .post(format!("{}/api/v1/session", self.daemon.base))
            .json(&json!({ "password": self.password }))
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status().as_u16(), 200, "signing in");
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value.to_owned())
            .expect("the session cookie");
        let body: Value = response.json().await.expect("json");
        let csrf = body["csrf"].as_str().expect("csrf").to_owned();
        (cookie, csrf)
    }

    /// Signs in again if an operation ended the caller's session.
    async fn renew_session(&mut self) {
        let Some((cookie, _)) = &self.session else {
            return;
        };
        let state: Value = self
            .http
            .get(format!("{}/api/v1/session", self.daemon.base))
            .header("cookie", format!("dipper_session={cookie}"))
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        if state["signed_in"] != true {
            self.session = Some(self.sign_in().await);
        }
    }

    /// Calls `operation` as the caller; notes a password it changed.
    async fn call(&mut self, operation: &Operation) -> Answer {
        if self.caller.keeps_a_session() {
            self.renew_session().await;
        }
        let tag = format!("{}-{}", self.caller.name(), self.password_changes + 1);
        let body = sample_body(operation, &self.objects, &self.password, &tag);
        let path = fill_path(operation, &self.objects, self.spare_camera).expect("checked");
        let method = Method::from_bytes(operation.method.as_bytes()).expect("a method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.daemon.base));
        request = self.credentials(request);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the call");
        let answer = answer(response).await;
        if operation.key() == "PUT /api/v1/session/password" && answer.status == 204 {
            self.password = body.expect("a body")["new"]
                .as_str()
                .expect("new")
                .to_owned();
            self.password_changes += 1;
        }
        answer
    }

    fn credentials(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.caller {
            Caller::AnonymousFirstBoot | Caller::Anonymous => request,
            Caller::WrongToken => request.header("authorization", "Bearer not-the-local-token"),
            Caller::LocalToken => {
                let token = std::fs::read_to_string(self.daemon.token_file()).expect("token");
                request.header("authorization", format!("Bearer {}", token.trim()))
            }
            Caller::SessionNoCsrf => {
                let (cookie, _) = self.session.as_ref().expect("a session");
                request.header("cookie", format!("dipper_session={cookie}"))
            }
            Caller::Session | Caller::EndedSession => {
                let (cookie, csrf) = self.session.as_ref().expect("a session");
                request
                    .header("cookie", format!("dipper_session={cookie}"))
                    .header("x-csrf-token", csrf)
            }
        }
    }
}

/// The status and, for a JSON answer, its error code; a stream's body is not read.
async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let code = if json && status >= 400 {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        body["error"].as_str().map(str::to_owned)
    } else {
        None
    };
    Answer { status, code }
}

fn table_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/authorization.tsv")
}

/// The table: each operation's expected statuses, in [`CALLERS`] order.
fn read_table(path: &Path) -> BTreeMap<String, Vec<u16>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (write it with DIPPER_BLESS=1)", path.display()));
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
    let (_, header) = lines.next().expect("the table's header line");
    let columns: Vec<&str> = header.split('\t').skip(1).collect();
    let names: Vec<&str> = CALLERS.iter().map(|c| c.name()).collect();
    assert_eq!(
        columns, names,
        "the table's columns are the callers, in order"
    );
    let mut table = BTreeMap::new();
    for (number, line) in lines {
        let mut cells = line.split('\t');
        let key = cells.next().expect("an operation").to_owned();
        let statuses: Vec<u16> = cells
            .map(|c| {
                c.trim().parse().unwrap_or_else(|_| {
                    panic!(
                        "authorization.tsv line {}: {c:?} is not a status",
                        number + 1
                    )
                })
            })
            .collect();
        assert_eq!(
            statuses.len(),
            CALLERS.len(),
            "authorization.tsv line {}: one status per caller",
            number + 1
        );
        assert!(
            table.insert(key.clone(), statuses).is_none(),
            "authorization.tsv: {key} twice"
        );
    }
    table
}

fn write_table(path: &Path, operations: &[Operation], observed: &BTreeMap<String, Vec<Answer>>) {
    let mut text = TABLE_HEADER.to_owned();
    text.push_str("operation");
    for caller in CALLERS {
        text.push('\t');
        text.push_str(caller.name());
    }
    text.push('\n');
    for operation in operations {
        let key = operation.key();
        text.push_str(&key);
        for answer in &observed[&key] {
            write!(text, "\t{}", answer.status).expect("a string");
        }
        text.push('\n');
    }
    std::fs::write(path, text).expect("write the table");
}

/// Every cell as the table says, or every difference named.
fn compare(expected: &BTreeMap<String, Vec<u16>>, observed: &BTreeMap<String, Vec<Answer>>) {
    let mut differences = Vec::new();
    for (key, answers) in observed {
        for ((caller, answer), want) in CALLERS.iter().zip(answers).zip(&expected[key]) {
            if answer.status != *want {
                differences.push(format!(
                    "{key} as {}: expected {want}, got {} ({})",
                    caller.name(),
                    answer.status,
                    answer.code.as_deref().unwrap_or("no error code")
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "answers not as authorization.tsv says:\n{}",
        differences.join("\n")
    );
}
