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

/// Where the daemon is, and the local token that lets the CLI in.
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
    /// The daemon's local token file (`<data_dir>/local-token`; readable by root and the
    /// daemon's user only). `$DIPPER_TOKEN`, when set, is used instead.
    #[arg(
        long,
        env = "DIPPER_TOKEN_FILE",
        default_value = "/var/lib/dipper/local-token",
        global = true
    )]
    token_file: std::path::PathBuf,
}

impl ApiArgs {
    /// The token to send: `$DIPPER_TOKEN`, or the token file's. None when neither is there
    /// (the daemon then answers 401 and the error says why).
    fn token(&self) -> Result<Option<String>, BoxError> {
        if let Ok(token) = std::env::var("DIPPER_TOKEN")
            && !token.trim().is_empty()
        {
            return Ok(Some(token.trim().to_owned()));
        }
        crate::access::read_token(&self.token_file).map_err(|e| {
            format!("{e} (run the CLI as root on the box, or set --token-file)").into()
        })
    }
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
        let client = ApiClient::new(&api.api, api.token()?)?;
        match command {
            ClientCommand::Search(args) => search::run(&client, args).await,
            ClientCommand::Cameras(command) => cameras::run(&client, command).await,
            ClientCommand::Tasks(command) => tasks::run(&client, command).await,
            ClientCommand::Uplink(command) => uplink::run(&client, command).await,
        }
    })
}
