//! Every seed of every target, and every crash AFL++ ever saved (`fuzz/crashes/<target>/`,
//! kept once fixed), run through its target: none may be a finding again. The seeds are the
//! files `scripts/fuzz` starts AFL++ from, so this also proves they are read as intended.

use std::path::{Path, PathBuf};

use fuzz::Target;

/// The folders holding `target`'s seeds and saved crashes.
fn inputs(target: Target) -> Vec<PathBuf> {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let folders = target.seed_folders();
    folders.iter().map(|f| repository.join(f)).collect()
}

fn files_in(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_saved_crash_runs_clean() {
    for target in Target::ALL {
        let files: Vec<PathBuf> = inputs(target).iter().flat_map(|f| files_in(f)).collect();
        assert!(
            files.len() >= 2,
            "{}: only {} seeds; scripts/fuzz needs some to start from",
            target.name(),
            files.len()
        );
        for file in files {
            let bytes = std::fs::read(&file).expect("a readable seed");
            let outcome = std::panic::catch_unwind(|| target.run(&bytes));
            assert!(
                outcome.is_ok(),
                "{} found something in {} (reproduce: dipper-fuzz {} {})",
                target.name(),
                file.display(),
                target.name(),
                file.display()
            );
        }
    }
}

#[test]
fn targets_are_found_by_their_names() {
    for target in Target::ALL {
        assert_eq!(Target::from_name(target.name()), Some(target));
    }
    assert_eq!(Target::from_name("nothing"), None);
}
