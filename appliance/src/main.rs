//! `dipper`: the box's command line, over the `appliance` library. Errors go to stderr with
//! their whole chain, and the exit status is 1 (2 for bad arguments, as clap does; 75 when
//! the daemon stops for its supervisor to start it again).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match appliance::run(appliance::Cli::parse()) {
        Ok(appliance::Exit::Stopped) => ExitCode::SUCCESS,
        Ok(appliance::Exit::Restart) => ExitCode::from(appliance::RESTART_EXIT_CODE),
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
