//! `dipper cameras add|list|test|remove`.

use std::io::BufRead;

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::ApiClient;
use crate::{BoxError, print_report};

#[derive(Debug, Subcommand)]
pub(crate) enum CamerasCommand {
    /// Adds a camera or NVR; the daemon checks it answers with these credentials first.
    Add {
        #[arg(long)]
        name: String,
        /// `http://host:port` of the device.
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "admin")]
        user: String,
        /// Reads the password from the first line of stdin (keeps it out of `ps` and the
        /// shell history).
        #[arg(long)]
        password_stdin: bool,
        /// The password (prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Recording tracks to search (101 = channel 1); default: all the device lists.
        #[arg(long = "track")]
        tracks: Vec<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Lists the cameras.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Checks a camera answers: model, serial, firmware, tracks.
    Test {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Changes a camera's password (after the device accepts it).
    Password {
        id: i64,
        /// Reads the new password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Removes a camera (its matches stay).
    Remove { id: i64 },
}

pub(super) async fn run(client: &ApiClient, command: CamerasCommand) -> Result<(), BoxError> {
    match command {
        CamerasCommand::Add {
            name,
            url,
            user,
            password_stdin,
            password,
            tracks,
            json,
        } => {
            let password = match (password, password_stdin) {
                (Some(p), _) => p,
                (None, true) => read_password()?,
                (None, false) => {
                    return Err("give the password with --password-stdin (or --password)".into());
                }
            };
            let mut body =
                json!({ "name": name, "url": url, "username": user, "password": password });
            if !tracks.is_empty() {
                body["tracks"] = json!(tracks);
            }
            let camera: Value = client.post("/cameras", &body).await?;
            if json {
                print_report(&serde_json::to_string_pretty(&camera)?)
            } else {
                print_report(&format!(
                    "added camera {} {:?} (tracks {})",
                    camera["id"],
                    camera["name"].as_str().unwrap_or(""),
                    camera["tracks"]
                ))
            }
        }
        CamerasCommand::List { json } => list(client, json).await,
        CamerasCommand::Test { id, json } => test(client, id, json).await,
        CamerasCommand::Password { id, password_stdin } => {
            if !password_stdin {
                return Err("give the new password on stdin with --password-stdin".into());
            }
            let password = read_password()?;
            let _: Value = client
                .put(
                    &format!("/cameras/{id}/password"),
                    &json!({ "password": password }),
                )
                .await?;
            print_report(&format!("camera {id}: password changed"))
        }
        CamerasCommand::Remove { id } => {
            client.delete(&format!("/cameras/{id}")).await?;
            print_report(&format!("removed camera {id}"))
        }
    }
}

async fn list(client: &ApiClient, json: bool) -> Result<(), BoxError> {
    let cameras: Vec<Value> = client.get("/cameras").await?;
    if json {
        return print_report(&serde_json::to_string_pretty(&cameras)?);
    }
    let mut out = format!(
        "{:>4}  {:<24} {:<32} {:<10} {:<20} {:>10} {:>8}  {}",
        "id", "name", "url", "tracks", "indexed from", "lag", "waiting", "gate"
    );
    for c in &cameras {
        let indexing = c["indexing"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        out.push_str(&format!(
            "\n{:>4}  {:<24} {:<32} {:<10} {:<20} {:>10} {:>8}  {}",
            c["id"],
            c["name"].as_str().unwrap_or(""),
            c["base_url"].as_str().unwrap_or(""),
            c["tracks"].to_string(),
            indexed_from(indexing),
            lag(indexing),
            waiting(indexing),
            gate(&c["motion_gate"]),
        ));
        for problem in indexing.iter().filter_map(|t| t["problem"].as_str()) {
            out.push_str(&format!("\n      indexing waits: {problem}"));
        }
    }
    print_report(&out)
}

/// The oldest footage indexed on any of the camera's tracks, as a UTC time.
fn indexed_from(indexing: &[Value]) -> String {
    let covered = indexing
        .iter()
        .filter(|t| t["covered_from_ms"] != t["covered_to_ms"])
        .filter_map(|t| t["covered_from_ms"].as_i64())
        .min();
    covered
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(
            || "-".to_owned(),
            |t| t.strftime("%Y-%m-%d %H:%M").to_string(),
        )
}

/// The worst lag of the camera's tracks, in whole units.
fn lag(indexing: &[Value]) -> String {
    let seconds = indexing
        .iter()
        .filter_map(|t| t["lag_seconds"].as_f64())
        .reduce(f64::max);
    match seconds {
        None => "-".to_owned(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 7200.0 => format!("{:.0} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

/// The motion gate's state and the share of keyframes it sent to the detector.
fn gate(gate: &Value) -> String {
    let Some(state) = gate["state"].as_str() else {
        return "off".to_owned();
    };
    let state = gate["fallback"].as_str().unwrap_or(state);
    let total = gate["keyframes_total"].as_u64().unwrap_or(0);
    let detected = gate["keyframes_detected"].as_u64().unwrap_or(0);
    if total == 0 {
        return state.to_owned();
    }
    format!(
        "{state}, {:.0} % detected",
        100.0 * detected as f64 / total as f64
    )
}

fn waiting(indexing: &[Value]) -> String {
    let waiting: u64 = indexing
        .iter()
        .filter_map(|t| t["recordings_waiting"].as_u64())
        .sum();
    waiting.to_string()
}

async fn test(client: &ApiClient, id: i64, json: bool) -> Result<(), BoxError> {
    let check: Value = client
        .post(&format!("/cameras/{id}/test"), &json!({}))
        .await?;
    if json {
        print_report(&serde_json::to_string_pretty(&check)?)?;
    } else if check["reachable"] == json!(true) {
        print_report(&format!(
            "camera {id} answers: {} serial {} firmware {} tracks {}",
            check["model"].as_str().unwrap_or("?"),
            check["serial"].as_str().unwrap_or("?"),
            check["firmware"].as_str().unwrap_or("?"),
            check["tracks"]
        ))?;
    }
    if check["reachable"] != json!(true) {
        return Err(format!(
            "camera {id} does not answer: {}",
            check["error"].as_str().unwrap_or("unknown error")
        )
        .into());
    }
    Ok(())
}

/// The first line of stdin, without its line ending.
fn read_password() -> Result<String, BoxError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
