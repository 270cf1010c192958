//! `dipper`: the box's command line, over the `appliance` library. Errors go to stderr with
//! their whole chain, and the exit status is 1 (2 for bad arguments, as clap does).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match appliance::run(appliance::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                message.push_str(&format!("\n  caused by: {s}"));
                source = s.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
