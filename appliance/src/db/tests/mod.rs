//! Tests of the state layer: migrations, the key file and sealed passwords, camera queries,
//! the writer's group commit, a full disk and a `kill -9`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cameras;
mod crash;
pub(crate) mod disk_full;
mod migrations;
mod secrets;
mod writer;

use std::path::Path;

use super::{Database, NewCamera};

/// Opens the database in `dir`, or fails the test with the error.
fn open(dir: &Path) -> Database {
    Database::open(dir).unwrap_or_else(|e| panic!("open {}: {e:#?}", dir.display()))
}

/// A camera named `name`, with password `password`.
fn new_camera(name: &str, password: &str) -> NewCamera {
    NewCamera {
        name: name.to_owned(),
        base_url: format!("http://192.0.2.10/{name}"),
        username: "admin".to_owned(),
        password: password.to_owned(),
        tracks: vec![101, 201],
    }
}

/// A raw connection to the database in `dir`, bypassing `Database`.
fn raw(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(super::DATABASE_FILE)).expect("open the database raw")
}
