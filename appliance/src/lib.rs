//! The box: the `dipper` binary's library. `dipper run --config box.toml` is the daemon
//! (`daemon/`): the search engine (`engine/`), its SQLite state (`db/`) and the local API
//! (`api/`). `dipper search`, `dipper cameras` and `dipper tasks` are clients of that API
//! (`cli/`); `dipper uplink activate|status` too, for the link to the relay (`uplink/`).
//! `dipper face detect|embed|compare` run the face stages on photos without a
//! daemon: how a person checks a photo before searching with it. Reports go to stdout (one
//! JSON document with `--json`).

mod access;
mod api;
mod cli;
mod config;
mod daemon;
mod db;
mod engine;
mod face;
mod status;
mod update;
mod uplink;

pub use engine::synthetic;

use clap::{Parser, Subcommand};

pub use daemon::Exit;

/// The exit status with which `dipper run` asks its supervisor to start it again.
pub const RESTART_EXIT_CODE: u8 = uplink::RESTART_EXIT_CODE;

/// A boxed error with its context already in the message; printed once, in `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Dipper's box: finds a person in recorded camera footage.
#[derive(Debug, Parser)]
#[command(name = "dipper", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the daemon: the search engine and its local API.
    Run {
        /// The box's settings (TOML); every key has a default.
        #[arg(long, env = "DIPPER_CONFIG")]
        config: Option<std::path::PathBuf>,
        /// Log as text or as one JSON object a line (default: the config's `log_format`).
        #[arg(long, value_enum)]
        log_format: Option<config::LogFormat>,
    },
    /// Searches recorded footage for the person in a photo (through the running daemon).
    Search {
        #[command(flatten)]
        api: cli::ApiArgs,
        #[command(flatten)]
        args: cli::SearchArgs,
    },
    /// The cameras the box searches.
    Cameras {
        #[command(flatten)]
        api: cli::ApiArgs,
        #[command(subcommand)]
        command: cli::CamerasCommand,
    },
    /// Search tasks: list, show, cancel.
    Tasks {
        #[command(flatten)]
        api: cli::ApiArgs,
        #[command(subcommand)]
        command: cli::TasksCommand,
    },
    /// The link to the relay: activate the box, see whether it is connected.
    Uplink {
        #[command(flatten)]
        api: cli::ApiArgs,
        #[command(subcommand)]
        command: cli::UplinkCommand,
    },
    /// Faces in photos: detect them, embed one, compare two.
    #[command(subcommand)]
    Face(face::FaceCommand),
    /// The local page's administrator (run as root on the box).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Software updates the relay sent (run as root on the box).
    #[command(subcommand)]
    Update(UpdateCommand),
}

#[derive(Debug, Subcommand)]
enum UpdateCommand {
    /// Installs the update the daemon staged, if any: checks it again, keeps the running
    /// package, installs the new one, waits for the box to report it healthy, and puts the
    /// previous one back when it does not. `dipper-update.service` runs it when
    /// `dipper-update.path` sees a staged update.
    Install {
        /// The box's settings (TOML): its data directory and `[update]`.
        #[arg(long, env = "DIPPER_CONFIG")]
        config: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Forgets the administrator password, every session and the failed sign-ins: the next
    /// visit to the local page sets a new password, as at the first boot. Works while the
    /// daemon runs.
    ResetPassword {
        /// The box's settings (TOML), for its data directory.
        #[arg(long, env = "DIPPER_CONFIG")]
        config: Option<std::path::PathBuf>,
    },
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

fn init_logs(format: config::LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // A log line that cannot be written is dropped: tracing-subscriber would otherwise
    // report it with `eprintln!`, which panics when stderr fails too (a log file on a full
    // disk), killing whatever task logged.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_env_filter(filter);
    // The local page's last problems and the diagnostics bundle's log lines.
    let recent = status::RecentProblems;
    match format {
        config::LogFormat::Json => builder.json().finish().with(recent).init(),
        config::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .finish()
            .with(recent)
            .init(),
    }
}

/// `dipper admin reset-password`.
fn reset_password(config: Option<&std::path::Path>) -> Result<(), BoxError> {
    let config = config::BoxConfig::load(config)?;
    let db = db::Database::open(&config.data_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let had = runtime.block_on(access::reset(&db))?;
    print_report(if had {
        "The administrator password is forgotten and every session ended: open the local page to set a new one."
    } else {
        "No administrator password was set: the local page asks for one at the next visit."
    })
}

/// `dipper update install`: the box's settings from the file alone (never the overrides
/// the relay set, which choose nothing root runs).
fn install_update(config: Option<&std::path::Path>) -> Result<(), BoxError> {
    let config = config::BoxConfig::load(config)?;
    match update::install(&config.data_dir, &config.update)? {
        update::Outcome::Nothing => print_report("No software update is staged."),
        update::Outcome::Healthy { version } => {
            print_report(&format!("Installed {version}; the box reports healthy."))
        }
        update::Outcome::RolledBack { to, reason } => {
            Err(format!("rolled back to {to}: {reason}").into())
        }
    }
}

/// A command for the running daemon, over its API; warnings and errors logged as text.
fn client(api: &cli::ApiArgs, command: cli::ClientCommand) -> Result<Exit, BoxError> {
    init_logs(config::LogFormat::Text, "warn");
    cli::run(api, command).map(|()| Exit::Stopped)
}

/// Runs a command line; the error, with its chain, is the caller's to print.
pub fn run(cli: Cli) -> Result<Exit, BoxError> {
    let stopped = |result: Result<(), BoxError>| result.map(|()| Exit::Stopped);
    match cli.command {
        Command::Run { config, log_format } => config::BoxConfig::load(config.as_deref())
            .map_err(BoxError::from)
            .and_then(|config| {
                init_logs(log_format.unwrap_or(config.log_format), "info");
                daemon::run(config)
            }),
        Command::Search { api, args } => client(&api, cli::ClientCommand::Search(args)),
        Command::Cameras { api, command } => client(&api, cli::ClientCommand::Cameras(command)),
        Command::Tasks { api, command } => client(&api, cli::ClientCommand::Tasks(command)),
        Command::Uplink { api, command } => client(&api, cli::ClientCommand::Uplink(command)),
        Command::Face(command) => {
            init_logs(config::LogFormat::Text, "warn");
            stopped(face::run(command))
        }
        Command::Admin(AdminCommand::ResetPassword { config }) => {
            init_logs(config::LogFormat::Text, "warn");
            stopped(reset_password(config.as_deref()))
        }
        Command::Update(UpdateCommand::Install { config }) => {
            init_logs(config::LogFormat::Text, "info");
            stopped(install_update(config.as_deref()))
        }
    }
}
