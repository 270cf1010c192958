//! Embeds the operators' console (`console/`, `console/views/`) and the scripts and styles it
//! shares with the box's page (`web-common/assets/`, as `common/`) in the binary: writes
//! `$OUT_DIR/console_assets.rs`, read by `src/console/`.

use std::{env, path::Path};

fn main() {
    let root = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("console");
    let views = root.join("views");
    let out = Path::new(&env::var("OUT_DIR").expect("out dir")).join("console_assets.rs");
    web_common::embed(
        &out,
        &[
            ("", &root),
            ("views/", &views),
            ("common/", web_common::common_dir()),
        ],
    );
}
