//! `dipper-fuzz <target>`: built by `cargo afl build` (`cfg(fuzzing)`), AFL++'s persistent
//! loop over one target of the `fuzz` crate (`scripts/fuzz` runs it). Built by plain cargo,
//! `dipper-fuzz <target> <file>...` runs each file through the target once, to reproduce a
//! crash AFL++ saved under a debugger or with a backtrace. Either build answers
//! `dipper-fuzz --seed-folders <target>` with the folders `scripts/fuzz` seeds AFL++ from.

use std::process::ExitCode;

use fuzz::Target;

fn target_named(name: Option<String>) -> Result<Target, String> {
    let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
    let name = name.ok_or_else(|| format!("name a target: {}", names.join(", ")))?;
    Target::from_name(&name)
        .ok_or_else(|| format!("no target {name:?}; the targets: {}", names.join(", ")))
}

/// `--seed-folders <target>`: the target's seed folders, one a line, on standard output.
fn print_seed_folders(name: Option<String>) -> ExitCode {
    use std::io::Write;
    match target_named(name) {
        Ok(target) => {
            let text: String = target
                .seed_folders()
                .iter()
                .map(|f| f.clone() + "\n")
                .collect();
            match std::io::stdout().write_all(text.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(message) => {
            eprintln!("dipper-fuzz: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(fuzzing)]
fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--seed-folders") {
        return print_seed_folders(args.next());
    }
    match target_named(first) {
        Ok(target) => {
            afl::fuzz!(|data: &[u8]| target.run(data));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("dipper-fuzz: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(not(fuzzing))]
fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--seed-folders") {
        return print_seed_folders(args.next());
    }
    let target = match target_named(first) {
        Ok(target) => target,
        Err(message) => {
            eprintln!("dipper-fuzz: {message}");
            return ExitCode::from(2);
        }
    };
    let mut status = ExitCode::SUCCESS;
    for file in args {
        match std::fs::read(&file) {
            Ok(bytes) => {
                target.run(&bytes);
                eprintln!("{file}: no finding");
            }
            Err(e) => {
                eprintln!("dipper-fuzz: {file}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
