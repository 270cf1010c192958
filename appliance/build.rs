//! Embeds the local page (`web/`) in the binary: writes `$OUT_DIR/web_assets.rs`, a fixed
//! table of (name, content type, bytes) for every file in `web/`, so the server looks names
//! up in the table and never touches the file system.

use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("web");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("appliance/web/ exists")
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.file_name().into_string().expect("a UTF-8 file name"))
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    let mut table =
        String::from("/// Every file of `appliance/web/`: (name, content type, bytes).\n");
    table.push_str("pub(super) const ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for name in &names {
        let kind = match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("json") => "application/json",
            _ => panic!("appliance/web/{name}: no content type known for this file"),
        };
        let path = dir.join(name);
        println!("cargo::rerun-if-changed={}", path.display());
        table.push_str(&format!(
            "    ({name:?}, {kind:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").expect("out dir")).join("web_assets.rs");
    fs::write(out, table).expect("write the asset table");
}
