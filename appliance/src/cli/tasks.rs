//! `dipper tasks list|show|cancel`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{
    client::{ApiClient, show_time},
    search::{all_matches, matches_table},
};
use crate::{BoxError, print_report};

#[derive(Debug, Subcommand)]
pub(crate) enum TasksCommand {
    /// Lists tasks, newest first.
    List {
        /// Only tasks in this state (queued, running, done, failed, cancelled).
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// A task's progress and matches.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Stops a task; what it found so far stays.
    Cancel { id: String },
}

pub(super) async fn run(client: &ApiClient, command: TasksCommand) -> Result<(), BoxError> {
    match command {
        TasksCommand::List { state, limit, json } => {
            let mut path = format!("/tasks?limit={limit}");
            if let Some(state) = state {
                path.push_str(&format!("&state={state}"));
            }
            let tasks: Vec<Value> = client.get(&path).await?;
            if json {
                return print_report(&serde_json::to_string_pretty(&tasks)?);
            }
            let mut out = format!(
                "{:<36}  {:<9} {:<27} {:>11} {:>7}",
                "id", "state", "created", "recordings", "matches"
            );
            for t in &tasks {
                out.push_str(&format!(
                    "\n{:<36}  {:<9} {:<27} {:>5}/{:<5} {:>7}",
                    t["id"].as_str().unwrap_or(""),
                    t["state"].as_str().unwrap_or(""),
                    show_time(t["created_at_ms"].as_i64().unwrap_or(0)),
                    t["recordings_done"].as_u64().unwrap_or(0)
                        + t["recordings_failed"].as_u64().unwrap_or(0),
                    t["recordings_total"].as_u64().unwrap_or(0),
                    t["matches"].as_u64().unwrap_or(0)
                ));
            }
            print_report(&out)
        }
        TasksCommand::Show { id, json } => {
            let status: Value = client.get(&format!("/tasks/{id}")).await?;
            let matches = all_matches(client, &id).await?;
            if json {
                return print_report(&serde_json::to_string_pretty(
                    &json!({ "task": status, "matches": matches }),
                )?);
            }
            let count = |key: &str| status[key].as_u64().unwrap_or(0);
            let mut out = format!(
                "task {id}: {}\nrecordings: {} found, {} done, {} failed\nkeyframes {}, faces {}, matches {}",
                status["state"].as_str().unwrap_or("?"),
                count("recordings_total"),
                count("recordings_done"),
                count("recordings_failed"),
                count("keyframes"),
                count("faces"),
                count("matches"),
            );
            if let Some(error) = status["error"].as_str() {
                out.push_str(&format!("\nerror: {error}"));
            }
            for (key, label) in [("failures", "failed"), ("warnings", "damaged")] {
                for item in status[key].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "\n{label}: {} recording(s): {}",
                        item["recordings"],
                        item["reason"].as_str().unwrap_or("")
                    ));
                }
            }
            out.push('\n');
            out.push_str(&matches_table(&matches));
            print_report(&out)
        }
        TasksCommand::Cancel { id } => {
            let status: Value = client
                .post(&format!("/tasks/{id}/cancel"), &json!({}))
                .await?;
            print_report(&format!(
                "task {id}: {}",
                status["state"].as_str().unwrap_or("?")
            ))
        }
    }
}
