//! The face library: people and their enrolled photos, embedded on the relay by the box's
//! own face stages and models from real photos; refusals with their reasons; who may do
//! what; photos kept in the object store behind expiring URLs; the audit records.

use image::{ImageFormat, RgbImage};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use relay::db::{Mode, Scope};

use crate::harness::{Backend, PASSWORD, expect, id};
use crate::on_both_backends;
use crate::world::{Tenant, World};

fn photo_bytes(name: &str) -> Vec<u8> {
    std::fs::read(testkit::faces::photo(name)).expect("photo")
}

/// A photo small enough to be sent whole before a refusal that needs no body: the relay
/// answers a forbidden or misaddressed upload without reading it, and closes the connection
/// under a client still sending a large one.
fn small_jpeg() -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    RgbImage::from_pixel(8, 8, image::Rgb([90, 90, 90]))
        .write_to(&mut bytes, ImageFormat::Jpeg)
        .expect("jpeg");
    bytes.into_inner()
}

fn png(image: &RgbImage) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png).expect("png");
    bytes.into_inner()
}

/// POSTs `bytes` as a photo of `person` with `content_type`.
async fn upload(
    world: &World,
    (tenant, person): (&Tenant, &str),
    token: &str,
    (bytes, content_type): (Vec<u8>, &str),
) -> (StatusCode, Value) {
    let path = format!("/api/v1/tenants/{}/people/{person}/photos", tenant.id);
    let response = world
        .relay
        .raw(Method::POST, &path)
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The embedding the relay stored for a photo, read from its database.
async fn stored_embedding(
    world: &World,
    tenant: &Tenant,
    (person, photo): (&str, &str),
) -> protocol::search::WireEmbedding {
    let parse = |s: &str| uuid::Uuid::parse_str(s).expect("uuid");
    let tenant = parse(&tenant.id);
    let db = &world.relay.state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Read)
        .await
        .expect("tx");
    let ids = (parse(person), parse(photo));
    let row = relay::store::people::photo(&mut tx, tenant, ids)
        .await
        .expect("read");
    let row = row.expect("the photo's row");
    tx.commit().await.expect("commit");
    protocol::search::WireEmbedding {
        model: row.model,
        vector: row.embedding,
    }
}

async fn fetch(url: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::get(url).await.expect("fetch");
    let status = response.status();
    (status, response.bytes().await.expect("bytes").to_vec())
}

/// A user of `tenant` with `role` on the area `area` (the whole tenant for none); its token.
async fn user_with(world: &World, tenant: &Tenant, role: &str, area: Option<&str>) -> String {
    let relay = &world.relay;
    let users = format!("/api/v1/tenants/{}/users", tenant.id);
    let email = format!("{role}-{}@dipper.test", uuid::Uuid::new_v4().simple());
    let user = json!({"email": email, "password": PASSWORD});
    let user = relay.created(&users, &tenant.admin_token, user).await;
    let grants = format!("{users}/{}/grants", id(&user));
    let grant = match area {
        Some(area) => json!({"role": role, "area_id": area}),
        None => json!({"role": role}),
    };
    relay.created(&grants, &tenant.admin_token, grant).await;
    relay.token(Some(&tenant.id), &email).await
}

async fn people_are_enrolled_from_real_photos(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, a) = (&world.relay, &world.a);
    let base = format!("/api/v1/tenants/{}/people", a.id);
    let admin = &a.admin_token;

    let person = relay
        .created(
            &base,
            admin,
            json!({"name": "Barack Obama", "notes": "Seen at gate 2\nfrom 8am", "labels": ["resident", "vip", "resident"]}),
        )
        .await;
    assert_eq!(person["labels"], json!(["resident", "vip"]));
    assert_eq!(person["photo_count"], 0);
    let person_id = id(&person);

    let first = the_first_photo_is_embedded_as_the_box_does(&world, &person_id).await;
    let second = a_png_and_an_id_style_photo_are_enrolled_too(&world, &person_id, &first).await;
    labels_find_people_and_an_edit_keeps_the_rest(&world, &person_id).await;
    photos_and_the_person_go_with_their_objects(&world, &person_id, (&first, &second)).await;
    // Every change to the library is audited.
    let actions: Vec<String> = world
        .audit(a)
        .await
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .filter(|a| a.starts_with("person."))
        .collect();
    for action in [
        "person.create",
        "person.photo.add",
        "person.update",
        "person.photo.delete",
        "person.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not audited: {actions:?}"
        );
    }
}

/// The first photo of `person_id` (A's) is embedded as the box embeds it, and kept behind an
/// expiring URL; the photo as the API answers.
async fn the_first_photo_is_embedded_as_the_box_does(world: &World, person_id: &str) -> Value {
    let a = &world.a;
    let admin = &a.admin_token;
    let (status, first) = upload(
        world,
        (a, person_id),
        admin,
        (photo_bytes("obama.jpg"), "image/jpeg"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["model"], "dlib-resnet-v1");
    assert!(first["score"].as_f64().expect("score") > 0.5, "{first}");
    // The same stages and models as the box: the relay's embedding is the box's.
    let boxed = testkit::faces::embedding_of("obama.jpg");
    let relays = stored_embedding(world, a, (person_id, &id(&first))).await;
    assert_eq!(relays.model, boxed.model);
    let (ours, theirs) = (
        relays.vector().expect("vector"),
        boxed.vector().expect("vector"),
    );
    let distance: f32 = ours
        .iter()
        .zip(&theirs)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt();
    assert!(
        distance < 1e-3,
        "relay and box embed obama.jpg {distance} apart"
    );

    // The photo itself is kept, behind an expiring URL.
    let (status, bytes) = fetch(first["photo_url"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, photo_bytes("obama.jpg"));

    first
}

/// A PNG, and an ID-style photo whose face fills the picture (cut from the `first`'s); the
/// second photo.
async fn a_png_and_an_id_style_photo_are_enrolled_too(
    world: &World,
    person_id: &str,
    first: &Value,
) -> Value {
    let (relay, a) = (&world.relay, &world.a);
    let base = format!("/api/v1/tenants/{}/people", a.id);
    let admin = &a.admin_token;
    let (status, second) = upload(
        world,
        (a, person_id),
        admin,
        (photo_bytes("obama2.jpg"), "image/jpeg"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let image = image::load_from_memory(&photo_bytes("obama.jpg"))
        .expect("decode")
        .to_rgb8();
    let face: Vec<f64> = serde_json::from_value(first["face_box"].clone()).expect("box");
    let margin = face[2] * 0.08;
    let (x, y) = (
        (face[0] - margin).max(0.0) as u32,
        (face[1] - margin).max(0.0) as u32,
    );
    let side = (face[2] + 2.0 * margin) as u32;
    let id_photo =
        image::imageops::crop_imm(&image, x, y, side, (face[3] + 2.0 * margin) as u32).to_image();
    let (status, third) = upload(world, (a, person_id), admin, (png(&id_photo), "image/png")).await;
    assert_eq!(status, StatusCode::CREATED, "an ID-style photo: {third}");
    assert_eq!(third["content_type"], "image/png");

    let read = relay
        .expect_get(&format!("{base}/{person_id}"), admin, StatusCode::OK)
        .await;
    assert_eq!(read["photo_count"], 3);
    let photos = read["photos"].as_array().expect("photos");
    assert_eq!(photos.len(), 3);
    assert_eq!(photos[0]["id"], first["id"]);

    second
}

/// Labels find people; an edit keeps what it does not name.
async fn labels_find_people_and_an_edit_keeps_the_rest(world: &World, person_id: &str) {
    let (relay, a) = (&world.relay, &world.a);
    let base = format!("/api/v1/tenants/{}/people", a.id);
    let admin = &a.admin_token;
    let listed = relay
        .expect_get(&format!("{base}?label=vip"), admin, StatusCode::OK)
        .await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let none = relay
        .expect_get(&format!("{base}?label=vi"), admin, StatusCode::OK)
        .await;
    assert_eq!(
        none["items"],
        json!([]),
        "a label matches whole, not in part"
    );
    let wild = relay
        .expect_get(&format!("{base}?label=%25"), admin, StatusCode::OK)
        .await;
    assert_eq!(
        wild["items"],
        json!([]),
        "a % in a label is a character, not a wildcard"
    );
    let path = format!("{base}/{person_id}");
    let (status, updated) = relay
        .call(
            Method::PATCH,
            &path,
            Some(admin),
            Some(json!({"labels": ["missing"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["labels"], json!(["missing"]));
    assert_eq!(updated["name"], "Barack Obama");
    assert_eq!(updated["notes"], "Seen at gate 2\nfrom 8am");
}

/// One photo goes, then the person with the rest; their objects go too.
async fn photos_and_the_person_go_with_their_objects(
    world: &World,
    person_id: &str,
    (first, second): (&Value, &Value),
) {
    let (relay, a) = (&world.relay, &world.a);
    let base = format!("/api/v1/tenants/{}/people", a.id);
    let admin = &a.admin_token;
    let path = format!("{base}/{person_id}");
    let first_url = first["photo_url"].as_str().expect("url").to_owned();
    let photo_path = format!("{path}/photos/{}", id(first));
    let (status, _) = relay
        .call(Method::DELETE, &photo_path, Some(admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fetch(&first_url).await.0, StatusCode::NOT_FOUND);
    let (status, _) = relay
        .call(Method::DELETE, &photo_path, Some(admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let second_url = second["photo_url"].as_str().expect("url").to_owned();
    let (status, _) = relay.call(Method::DELETE, &path, Some(admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fetch(&second_url).await.0, StatusCode::NOT_FOUND);
    relay.expect_get(&path, admin, StatusCode::NOT_FOUND).await;
}

on_both_backends!(people_are_enrolled_from_real_photos);

async fn bad_photos_are_refused_with_the_reason(backend: Backend) {
    let world = World::configured(backend, |c| c.faces.max_photo_bytes = 3 * 1024 * 1024).await;
    let (relay, a) = (&world.relay, &world.a);
    let admin = &a.admin_token;
    let base = format!("/api/v1/tenants/{}/people", a.id);
    let person = id(&relay
        .created(&base, admin, json!({"name": "Nobody yet"}))
        .await);

    let cases: Vec<(Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            photo_bytes("solvay_conference_1927.jpg"),
            "image/jpeg",
            StatusCode::UNPROCESSABLE_ENTITY,
            "several_faces",
        ),
        (
            png(&RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]))),
            "image/png",
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_face",
        ),
        (
            b"GIF89a not a photo at all".to_vec(),
            "image/jpeg",
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_an_image",
        ),
        (
            photo_bytes("obama.jpg")[..2000].to_vec(),
            "image/jpeg",
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_an_image",
        ),
        (
            photo_bytes("obama.jpg")[..1024].to_vec(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Vec::new(),
            "image/jpeg",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            vec![0xff; 3 * 1024 * 1024 + 1],
            "image/jpeg",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (bytes, content_type, status, code) in cases {
        let size = bytes.len();
        let (got, answer) = upload(&world, (a, &person), admin, (bytes, content_type)).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{size} bytes of {content_type}: {answer}"
        );
        assert!(!answer["message"].as_str().unwrap_or("").is_empty());
    }
    let read = relay
        .expect_get(&format!("{base}/{person}"), admin, StatusCode::OK)
        .await;
    assert_eq!(read["photo_count"], 0, "a refused photo is not kept");

    // Bad fields of a person.
    for body in [
        json!({"name": ""}),
        json!({"name": "x", "notes": "a\u{0}b"}),
        json!({"name": "x", "notes": "n".repeat(2001)}),
        json!({"name": "x", "labels": (0..21).map(|i| format!("l{i}")).collect::<Vec<_>>()}),
        json!({"name": "x", "photo": "base64"}),
    ] {
        let (status, answer) = relay.post(&base, admin, body.clone()).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {status} {answer}"
        );
    }
    // A photo for a person that does not exist.
    let ghost = uuid::Uuid::new_v4().to_string();
    let (status, _) = upload(&world, (a, &ghost), admin, (small_jpeg(), "image/jpeg")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
on_both_backends!(bad_photos_are_refused_with_the_reason);

async fn operators_manage_the_library_and_viewers_read_it(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, a, b) = (&world.relay, &world.a, &world.b);
    let base = format!("/api/v1/tenants/{}/people", a.id);
    let operator = user_with(&world, a, "operator", Some(&a.floor)).await;
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;

    let person = relay
        .created(&base, &operator, json!({"name": "Joe Biden"}))
        .await;
    let person_id = id(&person);
    let (status, photo) = upload(
        &world,
        (a, &person_id),
        &operator,
        (photo_bytes("biden.jpg"), "image/jpeg"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");

    // The viewer reads, and changes nothing.
    let read = relay
        .expect_get(&format!("{base}/{person_id}"), &viewer, StatusCode::OK)
        .await;
    assert_eq!(read["photo_count"], 1);
    relay.expect_get(&base, &viewer, StatusCode::OK).await;
    expect(
        relay
            .post(&base, &viewer, json!({"name": "Not allowed"}))
            .await,
        StatusCode::FORBIDDEN,
    );
    let (status, _) = upload(
        &world,
        (a, &person_id),
        &viewer,
        (small_jpeg(), "image/jpeg"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = relay
        .call(
            Method::DELETE,
            &format!("{base}/{person_id}"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Tenant B sees nothing of A's library, under either tenant's path.
    let b_admin = &b.admin_token;
    relay
        .expect_get(
            &format!("{base}/{person_id}"),
            b_admin,
            StatusCode::NOT_FOUND,
        )
        .await;
    let b_path = format!("/api/v1/tenants/{}/people/{person_id}", b.id);
    relay
        .expect_get(&b_path, b_admin, StatusCode::NOT_FOUND)
        .await;
    let (status, _) = upload(
        &world,
        (b, &person_id),
        b_admin,
        (small_jpeg(), "image/jpeg"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listed = relay
        .expect_get(
            &format!("/api/v1/tenants/{}/people", b.id),
            b_admin,
            StatusCode::OK,
        )
        .await;
    assert!(
        listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|p| p["id"] != person["id"])
    );
}
on_both_backends!(operators_manage_the_library_and_viewers_read_it);
