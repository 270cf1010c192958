//! `dipper`: the box's command line.
//!
//! `dipper face detect|embed|compare` run the face stages on photos without a daemon: how a
//! person checks a photo before searching with it. Each prints a short report, or one JSON
//! document with `--json`. Errors go to stderr with their whole chain, and the exit status
//! is 1 (2 for bad arguments, as clap does).

mod face;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A boxed error with its context already in the message; printed once, in `main`.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Dipper's box: finds a person in recorded camera footage.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Faces in photos: detect them, embed one, compare two.
    #[command(subcommand)]
    Face(face::FaceCommand),
}

/// Writes a report to stdout. A reader that went away (`dipper ... | head`) is not an error.
fn print_report(text: &str) -> Result<(), BoxError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match cli.command {
        Command::Face(command) => face::run(command),
    };
    match result {
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
