//! Small Debian packages made by Debian's `dpkg-deb` for tests of box software updates: a
//! control file and one file, nothing to install.

use std::path::Path;
use std::process::{Command, Stdio};

/// The bytes of package `name` at `version` (architecture amd64), built in `dir`.
pub fn build(dir: &Path, name: &str, version: &str) -> Vec<u8> {
    let root = dir.join(format!("{name}-{version}"));
    let doc = root.join("usr/share/doc").join(name);
    std::fs::create_dir_all(root.join("DEBIAN")).expect("package folder");
    std::fs::create_dir_all(&doc).expect("doc folder");
    let control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: amd64\n\
         Maintainer: Dipper tests <tests@dipper.invalid>\nDescription: a test package\n"
    );
    std::fs::write(root.join("DEBIAN/control"), control).expect("control file");
    std::fs::write(doc.join("BUILD"), version).expect("a file");
    let out = dir.join(format!("{name}_{version}_amd64.deb"));
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&root)
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .expect("dpkg-deb runs");
    assert!(status.success(), "dpkg-deb built {name} {version}");
    std::fs::read(out).expect("the package's bytes")
}
