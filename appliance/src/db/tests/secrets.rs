//! The key file and sealed camera passwords.

use std::os::unix::fs::PermissionsExt;

use super::super::secrets::{KEY_LEN, create_key, load_key};
use super::super::{Database, DbErrorKind, KEY_FILE, KeyProblem, Secrets};
use super::{new_camera, open, raw};

fn secrets() -> Secrets {
    Secrets::from_key(&[7u8; KEY_LEN])
}

#[test]
fn round_trip() {
    let secrets = secrets();
    for plaintext in ["", "hunter2", "pässwörd with spaces", &"x".repeat(1000)] {
        let sealed = secrets.encrypt(plaintext);
        assert_eq!(secrets.decrypt(&sealed).unwrap(), plaintext);
    }
}

#[test]
fn a_credential_and_a_camera_password_do_not_open_as_each_other() {
    let secrets = secrets();
    let credential = secrets.seal_credential("device-credential");
    assert_eq!(
        secrets.open_credential(&credential).unwrap(),
        "device-credential"
    );
    assert!(
        secrets.decrypt(&credential).is_err(),
        "a credential opened as a password"
    );
    let password = secrets.encrypt("camera-password");
    assert!(
        secrets.open_credential(&password).is_err(),
        "a password opened as a credential"
    );
}

#[test]
fn equal_passwords_seal_differently() {
    let secrets = secrets();
    assert_ne!(secrets.encrypt("same"), secrets.encrypt("same"));
}

#[test]
fn tampering_and_wrong_key_are_errors() {
    let secrets = secrets();
    let sealed = secrets.encrypt("hunter2");
    let undecryptable = DbErrorKind::Key(KeyProblem::Undecryptable);
    for i in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        let error = secrets.decrypt(&tampered).expect_err("tampered byte {i}");
        assert_eq!(*error.kind(), undecryptable, "byte {i}");
    }
    for length in [0, 10, sealed.len() - 1] {
        let error = secrets.decrypt(&sealed[..length]).expect_err("truncated");
        assert_eq!(*error.kind(), undecryptable, "truncated to {length}");
    }
    let other = Secrets::from_key(&[8u8; KEY_LEN]);
    let error = other.decrypt(&sealed).expect_err("wrong key");
    assert_eq!(*error.kind(), undecryptable);
    assert!(error.to_string().contains("does not decrypt"), "{error}");
}

#[tokio::test]
async fn stored_password_is_not_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let password = "correct horse battery staple";
    let camera = db.add_camera(new_camera("gate", password)).await.unwrap();
    drop(db);

    let stored: Vec<u8> = raw(dir.path())
        .query_row(
            "SELECT password FROM cameras WHERE id = ?1",
            [camera.id],
            |row| row.get(0),
        )
        .unwrap();
    assert!(
        !stored
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "the plaintext is in the stored bytes"
    );
    for file in ["box.db", "box.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            assert!(
                !bytes
                    .windows(password.len())
                    .any(|w| w == password.as_bytes()),
                "the plaintext is in {file}"
            );
        }
    }
    let db = open(dir.path());
    let (user, read_back) = db.camera_credentials(camera.id).await.unwrap().unwrap();
    assert_eq!((user.as_str(), read_back.as_str()), ("admin", password));
}

#[test]
fn key_file_is_created_owner_only_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let path = dir.path().join(KEY_FILE);
    let metadata = std::fs::metadata(&path).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    assert_eq!(metadata.len(), KEY_LEN as u64);
    let key = std::fs::read(&path).unwrap();
    drop(open(dir.path()));
    assert_eq!(std::fs::read(&path).unwrap(), key, "the key was replaced");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn readable_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let path = dir.path().join(KEY_FILE);
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let error = Database::open(dir.path()).expect_err("a readable key file is refused");
        assert_eq!(
            *error.kind(),
            DbErrorKind::Key(KeyProblem::Permissions { mode })
        );
        let message = error.to_string();
        assert!(
            message.contains("chmod 600") && message.contains(KEY_FILE),
            "{message}"
        );
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    drop(open(dir.path()));
}

#[test]
fn key_file_of_wrong_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEY_FILE);
    for length in [0usize, 31, 33] {
        std::fs::write(&path, vec![1u8; length]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let error = load_key(&path).expect_err("wrong length");
        assert_eq!(
            *error.kind(),
            DbErrorKind::Key(KeyProblem::Length { len: length as u64 })
        );
        let error = Database::open(dir.path()).expect_err("wrong length");
        assert!(error.to_string().contains("not 32"), "{error}");
    }
}

#[test]
fn create_key_then_load_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEY_FILE);
    assert_eq!(load_key(&path).unwrap(), None);
    let key = create_key(&path).unwrap();
    assert_eq!(load_key(&path).unwrap(), Some(key));
}

#[tokio::test]
async fn missing_key_with_stored_passwords_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.add_camera(new_camera("gate", "hunter2")).await.unwrap();
    drop(db);
    let path = dir.path().join(KEY_FILE);
    std::fs::remove_file(&path).unwrap();

    let error = Database::open(dir.path()).expect_err("the passwords cannot be read");
    assert_eq!(*error.kind(), DbErrorKind::Key(KeyProblem::Missing));
    assert!(
        error.to_string().contains("restore the key file"),
        "{error}"
    );
    assert!(!path.exists(), "a new key was created");
}

#[tokio::test]
async fn missing_key_without_cameras_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let camera = db.add_camera(new_camera("gate", "hunter2")).await.unwrap();
    assert!(db.delete_camera(camera.id).await.unwrap());
    drop(db);
    std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
    drop(open(dir.path()));
    assert!(dir.path().join(KEY_FILE).exists());
}

#[tokio::test]
async fn replaced_key_makes_credentials_an_error_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let camera = db.add_camera(new_camera("gate", "hunter2")).await.unwrap();
    drop(db);
    let path = dir.path().join(KEY_FILE);
    std::fs::remove_file(&path).unwrap();
    create_key(&path).unwrap();

    let db = open(dir.path());
    let error = db
        .camera_credentials(camera.id)
        .await
        .expect_err("wrong key");
    assert_eq!(*error.kind(), DbErrorKind::Key(KeyProblem::Undecryptable));
    assert!(
        error.to_string().contains(&format!("camera {}", camera.id)),
        "{error}"
    );
}
