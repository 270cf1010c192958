//! Debian's own tools, run as commands: `dpkg-deb` reads a package, `dpkg` compares
//! versions and installs, `dpkg-query` says what is installed, `dpkg-repack` rebuilds the
//! installed package for a rollback. Each failure carries the tool's own words.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tool that failed: what was run and what it said.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub(crate) struct ToolError {
    what: String,
    message: String,
}

fn run(what: &str, command: &mut Command) -> Result<String, ToolError> {
    let output = command
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| ToolError {
            what: what.to_owned(),
            message: format!("cannot run it: {e}"),
        })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.trim();
        return Err(ToolError {
            what: what.to_owned(),
            message: if said.is_empty() {
                output.status.to_string()
            } else {
                said.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
            },
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The package's name and version, as `dpkg-deb --field` reads them.
pub(super) fn fields(deb: &Path) -> Result<(String, String), ToolError> {
    let text = run(
        "dpkg-deb --field",
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(deb)
            .args(["Package", "Version"]),
    )?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(|value| value.trim().to_owned())
            .unwrap_or_default()
    };
    Ok((field("Package"), field("Version")))
}

/// Whether version `a` sorts after `b` in Debian's order.
pub(super) fn newer(a: &str, b: &str) -> Result<bool, ToolError> {
    let status = Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .map_err(|e| ToolError {
            what: "dpkg --compare-versions".to_owned(),
            message: format!("cannot run it: {e}"),
        })?;
    Ok(status.success())
}

/// The installed version of `package` under `root`, if it is installed.
pub(super) fn installed(root: &Path, package: &str) -> Option<String> {
    let admindir = root.join("var/lib/dpkg");
    let version = run(
        "dpkg-query",
        Command::new("dpkg-query")
            .arg(format!("--admindir={}", admindir.display()))
            .args(["--showformat=${Version}", "--show", package]),
    )
    .ok()?;
    Some(version.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `dpkg -i` of `deb` under `root`, keeping changed configuration files.
pub(super) fn install(root: &Path, deb: &Path) -> Result<(), ToolError> {
    run(
        "dpkg -i",
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--force-confdef", "--force-confold", "--install"])
            .arg(deb),
    )
    .map(drop)
}

/// Rebuilds the installed `package` under `root` into `dir` (emptied first); the file.
pub(super) fn repack(root: &Path, package: &str, dir: &Path) -> Result<PathBuf, ToolError> {
    let io = |e: std::io::Error| ToolError {
        what: format!("preparing {}", dir.display()),
        message: e.to_string(),
    };
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(io)?;
    run(
        "dpkg-repack",
        Command::new("dpkg-repack")
            .current_dir(dir)
            .arg(format!("--root={}", root.display()))
            .arg(package),
    )?;
    let built = std::fs::read_dir(dir)
        .map_err(io)?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "deb"));
    built.ok_or_else(|| ToolError {
        what: "dpkg-repack".to_owned(),
        message: format!("no package in {}", dir.display()),
    })
}
