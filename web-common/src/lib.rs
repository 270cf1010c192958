//! What the box's local page (`appliance/web/`) and the relay's console (`relay/console/`)
//! share. Their common scripts and stylesheet live in `web-common/assets/`; each binary's
//! `build.rs` calls [`embed`] to compile its own page's files and these, under `common/`,
//! into a fixed table, and with the `serve` feature [`serve`] answers a name from that table
//! (so no request path ever reaches the file system). With the `metrics` feature,
//! [`metrics`] holds what both daemons' `/metrics` share: the table type each keeps of
//! the metrics it exports, and the exporter set up from it.

use std::{fs, path::Path};

/// One embedded file: its name (`app.js`, `common/dom.js`), content type and bytes.
pub type Asset = (&'static str, &'static str, &'static [u8]);

/// The folder of the shared files, for a `build.rs`.
pub fn common_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets"))
}

fn content_type(name: &str) -> Option<&'static str> {
    Some(match name.rsplit_once('.').map(|(_, ext)| ext)? {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        _ => return None,
    })
}

/// For a `build.rs`: writes `out` (Rust source for `include!`) holding
/// `pub(crate) const ASSETS: &[web_common::Asset]`, every regular file of each `(prefix, dir)`
/// named `prefix` + its file name, sorted; tells cargo to rerun when any of them changes.
///
/// # Panics
/// On a folder that cannot be read, a file name that is not UTF-8, a file of a kind without
/// a known content type, or an unwritable `out` (a build step has nobody to answer to).
// Cargo reads a build script's instructions (`cargo::rerun-if-changed`) from its stdout.
#[allow(clippy::print_stdout)]
pub fn embed(out: &Path, sources: &[(&str, &Path)]) {
    let mut files = Vec::new();
    for (prefix, dir) in sources {
        println!("cargo::rerun-if-changed={}", dir.display());
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("a directory entry");
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let name = entry.file_name().into_string().expect("a UTF-8 file name");
            if name.starts_with('.') {
                continue;
            }
            let kind = content_type(&name).unwrap_or_else(|| {
                panic!(
                    "{}/{name}: no content type known for this file",
                    dir.display()
                )
            });
            println!("cargo::rerun-if-changed={}", entry.path().display());
            files.push((format!("{prefix}{name}"), kind, entry.path()));
        }
    }
    files.sort();
    let mut table = String::from("/// The page's files: (name, content type, bytes).\n");
    table.push_str("pub(crate) const ASSETS: &[web_common::Asset] = &[\n");
    for (name, kind, path) in &files {
        table.push_str(&format!(
            "    ({name:?}, {kind:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push_str("];\n");
    fs::write(out, table).expect("write the asset table");
}

#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "serve")]
mod serve;
#[cfg(feature = "serve")]
pub use serve::{cookies, find, serve};
