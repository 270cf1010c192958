//! Embeds the local page (`web/`) and the scripts and styles it shares with the relay's
//! console (`web-common/assets/`, as `common/`) in the binary: writes `$OUT_DIR/web_assets.rs`,
//! a fixed table of (name, content type, bytes), so the server looks names up in the table
//! and never touches the file system.

use std::{env, path::Path};

fn main() {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("web");
    let out = Path::new(&env::var("OUT_DIR").expect("out dir")).join("web_assets.rs");
    web_common::embed(&out, &[("", &dir), ("common/", web_common::common_dir())]);
}
