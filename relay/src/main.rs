//! `dipper-relay`: the cloud relay's command line.
//!
//! `dipper-relay run` serves the API (with no database configured, on a SQLite file it
//! creates); `dipper-relay admin create --email E --password-stdin` makes a platform admin;
//! `dipper-relay billing run --month 2026-11 [--tenant ID] [--dry-run]` closes a month into
//! invoices (one JSON line per tenant, then the summary); `dipper-relay billing dunning
//! [--as-of TIME] [--tenant ID]` runs the dunning check (one JSON line per tenant moved,
//! then the summary).
//! The configuration is a TOML file (`--config`, or `DIPPER_RELAY_CONFIG`) overridden by
//! `DIPPER_RELAY__SECTION__KEY` variables. Errors go to stderr with their whole chain, exit
//! status 1.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use relay::auth::password::PasswordHasher;
use relay::config::Config;
use relay::db::Db;
use relay::state::AppState;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Dipper's cloud relay.
#[derive(Debug, Parser)]
#[command(name = "dipper-relay", version)]
struct Cli {
    /// The TOML configuration file; every key has a default.
    #[arg(long, global = true, env = "DIPPER_RELAY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API until SIGTERM or SIGINT (a second signal exits at once).
    Run,
    /// Platform administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Billing.
    #[command(subcommand)]
    Billing(BillingCommand),
}

#[derive(Debug, Subcommand)]
enum BillingCommand {
    /// Close a month into invoices: every tenant's (or one's) with a pricing rule in effect,
    /// skipping those already invoiced. Prints one JSON line per tenant, then the summary.
    Run {
        /// The month, `YYYY-MM`, in each tenant's zone. Default: each tenant's previous month.
        #[arg(long)]
        month: Option<billing::BillingMonth>,
        /// One tenant only.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
        /// Price the month and print the invoices without storing them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run the dunning check: invoices unpaid past their due date and the tenant's allowance
    /// are marked overdue and tenants moved to overdue or suspended, with their notices (sent
    /// by a running relay). A check never restores a tenant: payments do. Prints one JSON
    /// line per tenant moved, then the summary. Suspensions reach the boxes online at their
    /// next connection (the scheduler of a running relay sends them at once).
    Dunning {
        /// As of this instant (RFC 3339), to see what a later check would do. Default: now.
        #[arg(long)]
        as_of: Option<jiff::Timestamp>,
        /// One tenant only.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a platform admin, reading the password from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input (required: passwords
        /// are never taken from arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return report(&e.into()),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

fn report(error: &BoxError) -> ExitCode {
    let mut message = format!("dipper-relay: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    tracing::error!(error = %message, "exiting");
    let _ = writeln!(std::io::stderr(), "{message}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    let config = Config::load(cli.config.as_deref())?;
    relay::telemetry::init(config.log_format);
    match cli.command {
        Command::Run => serve(config).await,
        Command::Admin(AdminCommand::Create { email, .. }) => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let db = Db::connect_and_migrate(&config.database).await?;
            let hasher = PasswordHasher::new(&config.auth.argon2)?;
            let id = relay::admin::create_platform_admin(&db, &hasher, &email, password).await?;
            db.close().await;
            writeln!(std::io::stdout(), "created platform admin {email} ({id})")?;
            Ok(())
        }
        Command::Billing(BillingCommand::Run {
            month,
            tenant,
            dry_run,
        }) => {
            let db = Db::connect_and_migrate(&config.database).await?;
            let options = relay::invoicing::RunOptions {
                month,
                tenant,
                dry_run,
            };
            let mut out = std::io::stdout().lock();
            let mut written = Ok(());
            let summary = relay::invoicing::run(&db, options, jiff::Timestamp::now(), |outcome| {
                if written.is_ok() {
                    written = serde_json::to_writer(&mut out, outcome)
                        .map_err(std::io::Error::from)
                        .and_then(|()| writeln!(out));
                }
            })
            .await;
            db.close().await;
            written?;
            let summary = summary?;
            serde_json::to_writer(&mut out, &serde_json::json!({ "summary": summary }))?;
            writeln!(out)?;
            if summary.failed > 0 {
                return Err(format!("{} tenants could not be invoiced", summary.failed).into());
            }
            Ok(())
        }
        Command::Billing(BillingCommand::Dunning { as_of, tenant }) => {
            let db = Db::connect_and_migrate(&config.database).await?;
            let options = relay::dunning::check::CheckOptions {
                as_of: as_of.unwrap_or_else(jiff::Timestamp::now),
                tenant,
            };
            let summary = relay::dunning::check::run(&db, options).await;
            db.close().await;
            let summary = summary?;
            let mut out = std::io::stdout().lock();
            for moved in &summary.moved {
                serde_json::to_writer(&mut out, moved)?;
                writeln!(out)?;
            }
            let totals = serde_json::json!({ "summary": {
                "tenants": summary.tenants,
                "invoices_overdue": summary.invoices_overdue,
                "moved": summary.moved.len(),
            }});
            serde_json::to_writer(&mut out, &totals)?;
            writeln!(out)?;
            Ok(())
        }
    }
}

async fn serve(config: Config) -> Result<(), BoxError> {
    let db = Db::connect_and_migrate(&config.database).await?;
    let listener = tokio::net::TcpListener::bind(config.server.listen).await?;
    let drain = Duration::from_secs(config.server.shutdown_timeout_seconds);
    tracing::info!(
        listen = %listener.local_addr()?,
        backend = ?db.backend(),
        "dipper-relay serving"
    );
    relay::metrics::handle();
    let state = AppState::new(config, db.clone()).await?;
    let uplink = state.uplink.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    notify_systemd("READY=1");
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received: draining; a second signal exits at once");
        notify_systemd("STOPPING=1");
        let _ = stop_tx.send(());
        wait_for_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
    relay::server::serve(
        state,
        listener,
        async move {
            let _ = stop_rx.await;
        },
        drain,
    )
    .await?;
    if let Some(uplink) = uplink {
        // A clean disconnect: the broker keeps the session and queues for the next start.
        uplink.stop().await;
    }
    db.close().await;
    tracing::info!("dipper-relay stopped");
    Ok(())
}

async fn wait_for_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Tells systemd (a `Type=notify` unit) how the service is doing, if it runs under one.
fn notify_systemd(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let sent = match path.to_str().and_then(|p| p.strip_prefix('@')) {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt as _;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), &path),
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, state, "could not notify systemd");
    }
}
