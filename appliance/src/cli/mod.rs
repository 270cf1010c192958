//! The daemon's command-line clients: `dipper search`, `dipper cameras`, `dipper tasks`,
//! `dipper uplink`.
//! Each talks to a running `dipper run` through its local API (`--api`, or `$DIPPER_API`).
//! Reports are plain text, or one JSON document with `--json`; progress is a bar on a
//! terminal and plain lines when piped.

mod cameras;
mod client;
mod search;
mod tasks;
mod uplink;

use clap::{Args, Subcommand};

pub(crate) use cameras::CamerasCommand;
pub(crate) use search::SearchArgs;
pub(crate) use tasks::TasksCommand;
pub(crate) use uplink::UplinkCommand;

use crate::BoxError;
use client::ApiClient;

/// Where the daemon is.
#[derive(Debug, Clone, Args)]
pub(crate) struct ApiArgs {
    /// The daemon's local API.
    #[arg(
        long,
        env = "DIPPER_API",
        default_value = "http://127.0.0.1:7380",
        global = true
    )]
    api: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    Search(SearchArgs),
    #[command(subcommand)]
    Cameras(CamerasCommand),
    #[command(subcommand)]
    Tasks(TasksCommand),
    #[command(subcommand)]
    Uplink(UplinkCommand),
}

pub(crate) fn run(api: &ApiArgs, command: ClientCommand) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = ApiClient::new(&api.api)?;
        match command {
            ClientCommand::Search(args) => search::run(&client, args).await,
            ClientCommand::Cameras(command) => cameras::run(&client, command).await,
            ClientCommand::Tasks(command) => tasks::run(&client, command).await,
            ClientCommand::Uplink(command) => uplink::run(&client, command).await,
        }
    })
}
