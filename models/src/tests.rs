//! Unit tests: the registry's entries, the search order and the checks' errors.

use std::fs;
use std::path::PathBuf;

use crate::locate::sha256_hex;
use crate::{ALL, DLIB_RESNET_V1, Error, INSTALLED_MODELS_DIR, ModelFile, SearchPath};

/// A made-up model whose file is the five bytes `hello`.
const HELLO: ModelFile = ModelFile {
    id: "hello-test",
    file_name: "hello.onnx",
    size: 5,
    sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    licence: "none",
    source: "unit test",
};

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

#[test]
fn registry_entries_are_well_formed_and_unique() {
    for model in ALL {
        assert_eq!(model.sha256.len(), 64, "{model}");
        assert!(
            model
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{model}"
        );
        assert!(model.file_name.ends_with(".onnx"), "{model}");
        assert!(model.size > 0, "{model}");
        assert_eq!(ModelFile::by_id(model.id), Some(model));
        assert_eq!(
            ALL.iter().filter(|other| other.id == model.id).count(),
            1,
            "{model}"
        );
    }
    assert_eq!(ModelFile::by_id("no-such-model"), None);
}

#[test]
fn sha256_is_lowercase_hex() {
    assert_eq!(sha256_hex(b"hello"), HELLO.sha256);
}

#[test]
fn reads_a_file_with_the_registered_bytes() {
    let dir = temp_dir();
    fs::write(dir.path().join(HELLO.file_name), b"hello").expect("write");
    let search = SearchPath::new([dir.path().to_owned()]);
    assert_eq!(search.read(&HELLO).expect("read"), b"hello");
    assert_eq!(
        search.verify(&HELLO).expect("verify"),
        dir.path().join(HELLO.file_name)
    );
}

#[test]
fn wrong_hash_names_the_path_both_hashes_and_the_fetch_command() {
    let dir = temp_dir();
    let path = dir.path().join(HELLO.file_name);
    fs::write(&path, b"jello").expect("write");
    let error = SearchPath::new([dir.path().to_owned()])
        .read(&HELLO)
        .expect_err("wrong bytes");
    let Error::Mismatch {
        actual_sha256,
        actual_size,
        ..
    } = &error
    else {
        panic!("expected a mismatch, got {error:?}");
    };
    assert_eq!(actual_sha256, &sha256_hex(b"jello"));
    assert_eq!(*actual_size, 5);
    let message = error.to_string();
    for part in [
        HELLO.id,
        &path.display().to_string(),
        HELLO.sha256,
        &sha256_hex(b"jello"),
        "scripts/fetch-models",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

#[test]
fn wrong_size_is_a_mismatch() {
    let dir = temp_dir();
    fs::write(dir.path().join(HELLO.file_name), b"hello!").expect("write");
    let error = SearchPath::new([dir.path().to_owned()])
        .verify(&HELLO)
        .expect_err("wrong size");
    assert!(
        matches!(
            error,
            Error::Mismatch {
                actual_size: 6,
                expected_size: 5,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn missing_file_names_every_directory_and_the_fetch_command() {
    let (a, b) = (temp_dir(), temp_dir());
    let search = SearchPath::new([a.path().to_owned(), b.path().to_owned()]);
    let error = search.read(&DLIB_RESNET_V1).expect_err("missing");
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let message = error.to_string();
    for part in [
        DLIB_RESNET_V1.file_name,
        &a.path().display().to_string(),
        &b.path().display().to_string(),
        "scripts/fetch-models",
        "DIPPER_MODELS_DIR",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

#[test]
fn the_first_directory_holding_the_file_wins_and_a_wrong_file_is_not_skipped() {
    let (good, bad, empty) = (temp_dir(), temp_dir(), temp_dir());
    fs::write(good.path().join(HELLO.file_name), b"hello").expect("write");
    fs::write(bad.path().join(HELLO.file_name), b"jello").expect("write");
    let dirs =
        |order: &[&tempfile::TempDir]| SearchPath::new(order.iter().map(|d| d.path().to_owned()));

    assert_eq!(
        dirs(&[&empty, &good, &bad]).locate(&HELLO).expect("found"),
        good.path().join(HELLO.file_name)
    );
    assert!(dirs(&[&empty, &good, &bad]).read(&HELLO).is_ok());
    let error = dirs(&[&bad, &good])
        .read(&HELLO)
        .expect_err("the first file found is wrong");
    assert!(matches!(error, Error::Mismatch { .. }), "{error:?}");
}

#[test]
fn env_override_comes_first_then_the_workspace_cache_then_the_installed_dir() {
    let default = SearchPath::with_override(None);
    let workspace_cache = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .join(".cache/models");
    assert_eq!(
        default.dirs(),
        [workspace_cache.clone(), PathBuf::from(INSTALLED_MODELS_DIR)]
    );

    let overridden = SearchPath::with_override(Some(PathBuf::from("/opt/models")));
    assert_eq!(
        overridden.dirs(),
        [
            PathBuf::from("/opt/models"),
            workspace_cache,
            PathBuf::from(INSTALLED_MODELS_DIR)
        ]
    );
    assert_eq!(
        SearchPath::with_override(Some(PathBuf::new())),
        default,
        "an empty value adds nothing"
    );
}

#[test]
fn env_override_is_searched_before_the_others() {
    let dir = temp_dir();
    fs::write(dir.path().join(HELLO.file_name), b"hello").expect("write");
    let search = SearchPath::with_override(Some(dir.path().to_owned()));
    assert_eq!(
        search.verify(&HELLO).expect("found in the override"),
        dir.path().join(HELLO.file_name)
    );
}
