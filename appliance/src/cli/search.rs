//! `dipper search`: creates a task from a photo, follows its progress, then prints the
//! matches (time, camera, distance, the face snapshot's URL).

use std::{io::IsTerminal, path::PathBuf, time::Duration};

use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};

use super::client::{ApiClient, parse_time, show_time};
use crate::{BoxError, print_report};

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// A photo of the person (JPEG or PNG) with one face.
    #[arg(long)]
    photo: PathBuf,
    /// Start of the footage to search: RFC 3339, or local time `2026-11-25 08:00`.
    #[arg(long)]
    from: String,
    /// End of the footage to search.
    #[arg(long)]
    to: String,
    /// Camera ids to search (repeat); default: every enabled camera.
    #[arg(long = "camera")]
    cameras: Vec<i64>,
    /// 0 (someone is waiting) to 5 (backfill).
    #[arg(long, default_value_t = 1)]
    priority: u8,
    /// Match threshold (distance between normalised embeddings); default: the box's.
    #[arg(long)]
    distance: Option<f32>,
    /// Print the task's id and return without waiting.
    #[arg(long)]
    no_wait: bool,
    /// One JSON document: the task's final status and its matches.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(client: &ApiClient, args: SearchArgs) -> Result<(), BoxError> {
    let photo = std::fs::read(&args.photo)
        .map_err(|e| format!("reading the photo {}: {e}", args.photo.display()))?;
    let from = parse_time("--from", &args.from)?;
    let to = parse_time("--to", &args.to)?;
    let mut body = json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "cameras": args.cameras,
        "priority": args.priority,
        "photo": base64::engine::general_purpose::STANDARD.encode(&photo),
    });
    if let Some(distance) = args.distance {
        body["match_distance"] = json!(distance);
    }
    let created: Value = client.post("/tasks", &body).await?;
    let id = created["id"]
        .as_str()
        .ok_or("the daemon did not return a task id")?
        .to_owned();
    if args.no_wait {
        return print_report(&id);
    }
    eprintln!("task {id}");
    let status = follow(client, &id).await?;
    let matches = all_matches(client, &id).await?;
    if args.json {
        print_report(&serde_json::to_string_pretty(
            &json!({ "task": status, "matches": matches }),
        )?)?;
    } else {
        print_report(&matches_table(&matches))?;
    }
    match status["state"].as_str() {
        Some("done") => Ok(()),
        Some("cancelled") => Err(format!("task {id} was cancelled").into()),
        _ => Err(format!(
            "task {id} failed: {}",
            status["error"].as_str().unwrap_or("no reason given")
        )
        .into()),
    }
}

/// Polls the task until it ends, showing progress on stderr; returns its last status.
pub(super) async fn follow(client: &ApiClient, id: &str) -> Result<Value, BoxError> {
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} recordings  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut last_line = String::new();
    loop {
        let status: Value = client.get(&format!("/tasks/{id}")).await?;
        let count = |key: &str| status[key].as_u64().unwrap_or(0);
        let processed = count("recordings_done") + count("recordings_failed");
        let eta = status["eta_seconds"]
            .as_f64()
            .map(|s| format!(" eta {}s", s.round()))
            .unwrap_or_default();
        let message = format!(
            "{} keyframes, {} faces, {} matches, {} failed{eta}",
            count("keyframes"),
            count("faces"),
            count("matches"),
            count("recordings_failed")
        );
        let state = status["state"].as_str().unwrap_or("unknown").to_owned();
        match &bar {
            Some(bar) => {
                bar.set_length(count("recordings_total"));
                bar.set_position(processed);
                bar.set_message(format!("{state}: {message}"));
            }
            None => {
                let line = format!(
                    "{state}: {processed}/{} recordings, {message}",
                    count("recordings_total")
                );
                if line != last_line {
                    eprintln!("{line}");
                    last_line = line;
                }
            }
        }
        if matches!(state.as_str(), "done" | "failed" | "cancelled") {
            if let Some(bar) = bar {
                bar.finish();
            }
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(if terminal { 250 } else { 1000 })).await;
    }
}

/// Every match of a task, page by page, its snapshots as full URLs.
pub(super) async fn all_matches(client: &ApiClient, id: &str) -> Result<Vec<Value>, BoxError> {
    let mut matches = Vec::new();
    let mut after = 0i64;
    loop {
        let page: Value = client
            .get(&format!("/tasks/{id}/results?after={after}&limit=1000"))
            .await?;
        let items = page["matches"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            return Ok(matches);
        }
        after = page["next_after"].as_i64().unwrap_or(i64::MAX);
        matches.extend(items.into_iter().map(|mut m| {
            for key in ["face_snapshot", "frame_snapshot"] {
                if let Some(path) = m[key].as_str() {
                    m[key] = Value::String(client.absolute(path));
                }
            }
            m
        }));
    }
}

pub(super) fn matches_table(matches: &[Value]) -> String {
    if matches.is_empty() {
        return "no match".to_owned();
    }
    let mut sorted: Vec<&Value> = matches.iter().collect();
    sorted.sort_by_key(|m| (m["time_ms"].as_i64(), m["camera_id"].as_i64()));
    let mut out = format!(
        "{:<27} {:<20} {:>8}  {}",
        "time", "camera", "distance", "snapshot"
    );
    for m in sorted {
        let camera = m["camera_name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("camera {}", m["camera_id"]));
        out.push_str(&format!(
            "\n{:<27} {:<20} {:>8.3}  {}",
            show_time(m["time_ms"].as_i64().unwrap_or(0)),
            camera,
            m["distance"].as_f64().unwrap_or(f64::NAN),
            m["face_snapshot"].as_str().unwrap_or("")
        ));
    }
    out
}
