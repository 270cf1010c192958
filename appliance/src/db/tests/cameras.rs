//! Camera queries.

use super::super::DbErrorKind;
use super::{new_camera, open};

#[tokio::test]
async fn add_list_look_up_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    assert_eq!(db.cameras().await.unwrap(), []);

    let gate = db.add_camera(new_camera("gate", "p1")).await.unwrap();
    let lobby = db.add_camera(new_camera("lobby", "p2")).await.unwrap();
    assert_eq!(gate.name, "gate");
    assert_eq!(gate.tracks, [101, 201]);
    assert!(gate.enabled);
    assert!(gate.created_at_ms > 1_600_000_000_000);
    assert_ne!(gate.id, lobby.id);

    assert_eq!(db.cameras().await.unwrap(), [gate.clone(), lobby.clone()]);
    assert_eq!(db.camera(gate.id).await.unwrap(), Some(gate.clone()));
    assert_eq!(db.camera(lobby.id + 100).await.unwrap(), None);
    assert_eq!(
        db.camera_credentials(lobby.id).await.unwrap(),
        Some(("admin".to_owned(), "p2".to_owned()))
    );
    assert_eq!(db.camera_credentials(lobby.id + 100).await.unwrap(), None);

    assert!(db.delete_camera(gate.id).await.unwrap());
    assert!(!db.delete_camera(gate.id).await.unwrap());
    assert_eq!(db.cameras().await.unwrap(), std::slice::from_ref(&lobby));

    drop(db);
    let db = open(dir.path());
    assert_eq!(db.cameras().await.unwrap(), [lobby]);
}

#[tokio::test]
async fn duplicate_name_is_a_conflict_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.add_camera(new_camera("gate", "p1")).await.unwrap();
    let error = db
        .add_camera(new_camera("gate", "p2"))
        .await
        .expect_err("duplicate name");
    assert_eq!(*error.kind(), DbErrorKind::Conflict);
    assert!(error.to_string().contains("\"gate\""), "{error}");
    assert_eq!(db.cameras().await.unwrap().len(), 1);
    let (_, password) = db.camera_credentials(1).await.unwrap().unwrap();
    assert_eq!(password, "p1");
}

#[tokio::test]
async fn set_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let gate = db.add_camera(new_camera("gate", "old")).await.unwrap();
    db.set_camera_password(gate.id, "new").await.unwrap();
    assert_eq!(
        db.camera_credentials(gate.id).await.unwrap(),
        Some(("admin".to_owned(), "new".to_owned()))
    );
    let error = db
        .set_camera_password(gate.id + 1, "x")
        .await
        .expect_err("no such camera");
    assert_eq!(*error.kind(), DbErrorKind::NotFound);
}

#[tokio::test]
async fn serialised_camera_has_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let gate = db.add_camera(new_camera("gate", "hunter2")).await.unwrap();
    let json = serde_json::to_value(&gate).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "base_url",
            "created_at_ms",
            "enabled",
            "id",
            "name",
            "tracks",
            "username"
        ]
    );
    assert!(!json.to_string().contains("hunter2"));
    assert!(!format!("{:?}", new_camera("gate", "hunter2")).contains("hunter2"));
}

#[tokio::test]
async fn damaged_tracks_are_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let gate = db.add_camera(new_camera("gate", "p")).await.unwrap();
    db.write(move |tx| {
        tx.execute(
            "UPDATE cameras SET tracks = 'not json' WHERE id = ?1",
            [gate.id],
        )?;
        Ok(())
    })
    .await
    .unwrap();
    let error = db.cameras().await.expect_err("damaged row");
    assert_eq!(*error.kind(), DbErrorKind::Corrupt);
    assert!(error.to_string().contains("not json"), "{error}");
}
