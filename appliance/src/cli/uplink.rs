//! `dipper uplink activate|status`: the box's link to the relay, through the daemon.

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{ApiClient, show_time};
use crate::{BoxError, print_report};

#[derive(Debug, Subcommand)]
pub(crate) enum UplinkCommand {
    /// Activates the box on a relay with its one-time provisioning key, then connects.
    Activate {
        /// The relay, e.g. https://relay.example.
        #[arg(long)]
        relay: String,
        /// The box's device id, as the relay registered it.
        #[arg(long)]
        device_id: String,
        /// The one-time provisioning key the relay showed (it may begin with `-`).
        #[arg(
            long,
            env = "DIPPER_PROVISIONING_KEY",
            hide_env_values = true,
            allow_hyphen_values = true
        )]
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Connected or not, since when, the last error, the outbox's depth and oldest age.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(client: &ApiClient, command: UplinkCommand) -> Result<(), BoxError> {
    let (status, json): (Value, bool) = match command {
        UplinkCommand::Activate {
            relay,
            device_id,
            key,
            json,
        } => {
            let body = json!({ "relay": relay, "device_id": device_id, "key": key });
            (client.post("/uplink/activate", &body).await?, json)
        }
        UplinkCommand::Status { json } => (client.get("/uplink/status").await?, json),
    };
    if json {
        return print_report(&serde_json::to_string_pretty(&status)?);
    }
    print_report(&describe(&status))
}

fn describe(status: &Value) -> String {
    let text = |key: &str| status[key].as_str().unwrap_or("-").to_owned();
    let since = status["since_ms"]
        .as_i64()
        .map_or_else(|| "-".to_owned(), show_time);
    let outbox = &status["outbox"];
    let oldest = status["outbox_oldest_seconds"]
        .as_u64()
        .map_or_else(|| "-".to_owned(), |s| format!("{s} s"));
    let mut out = format!(
        "uplink:    {} since {since}\nbroker:    {}\nprefix:    {}\nidentity:  {}\noutbox:    {} messages, {} bytes (quota {}), oldest {oldest}\npublished: {}, acknowledged: {}",
        text("state"),
        text("broker_url"),
        text("topic_prefix"),
        text("identity"),
        outbox["messages"].as_u64().unwrap_or(0),
        outbox["bytes"].as_u64().unwrap_or(0),
        outbox["quota_bytes"].as_u64().unwrap_or(0),
        status["published"].as_u64().unwrap_or(0),
        status["acknowledged"].as_u64().unwrap_or(0),
    );
    let uploads = &status["uploads"];
    let count = |key: &str| uploads[key].as_u64().unwrap_or(0);
    out.push_str(&format!(
        "\nuploads:   {} grants pending; {} matches uploaded ({} bytes), {} tries failed, {} asked again, {} with files gone, {} grants refused",
        count("pending_grants"),
        count("uploaded"),
        count("bytes"),
        count("retried"),
        count("asked_again"),
        count("files_gone"),
        count("refused_grants"),
    ));
    out.push_str(&format!("\ntenant:    {}", tenant(&status["tenant"])));
    if let Some(error) = status["last_error"].as_str() {
        out.push_str(&format!("\nlast error: {error}"));
    }
    out
}

/// The tenant's standing: `suspended since ...: cloud searches refused (local work goes on)`.
fn tenant(tenant: &Value) -> String {
    let standing = tenant["standing"].as_str().unwrap_or("-");
    let since = tenant["decided_at_ms"]
        .as_i64()
        .map_or_else(String::new, |ms| format!(" since {}", show_time(ms)));
    match standing {
        "suspended" => format!(
            "suspended{since} for an unpaid invoice: cloud searches refused (local work goes on)"
        ),
        "good" => format!("good{since}: cloud searches served"),
        other => other.to_owned(),
    }
}
