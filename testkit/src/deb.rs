//! Small Debian packages made by Debian's `dpkg-deb` for tests of box software updates, and
//! a folder to install them into with `dpkg --root` (a dpkg database of its own, so a test
//! never touches the machine's).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// The bytes of package `name` at `version` (architecture amd64), built in `dir`: a control
/// file and one file, nothing to install.
pub fn build(dir: &Path, name: &str, version: &str) -> Vec<u8> {
    build_with(dir, name, version, &[])
}

/// [`build`] with `files`: (path under the root, contents, mode).
pub fn build_with(dir: &Path, name: &str, version: &str, files: &[(&str, &str, u32)]) -> Vec<u8> {
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
    for (path, contents, mode) in files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().expect("a folder")).expect("folder");
        std::fs::write(&file, contents).expect("file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode)).expect("mode");
    }
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

/// Makes `root` a place `dpkg --root` installs into: an empty dpkg database.
pub fn dpkg_root(root: &Path) {
    let admin = root.join("var/lib/dpkg");
    for folder in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(folder)).expect("dpkg folder");
    }
    for file in ["status", "available"] {
        std::fs::write(admin.join(file), "").expect("dpkg file");
    }
}

/// `dpkg --root <root> -i <deb>`.
pub fn install(root: &Path, deb: &Path) {
    let output = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("--install")
        .arg(deb)
        .output()
        .expect("dpkg runs");
    assert!(
        output.status.success(),
        "dpkg -i {}: {}",
        deb.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The version of `package` installed under `root`, if any.
pub fn installed(root: &Path, package: &str) -> Option<String> {
    let output = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["--showformat=${Version}", "--show", package])
        .output()
        .expect("dpkg-query runs");
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !version.is_empty()).then_some(version)
}
