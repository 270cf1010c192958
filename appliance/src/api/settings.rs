//! `GET/PUT /api/v1/settings`: the settings an installer changes on the local page
//! (retention, the disk's reserve, the keyframes' size), stored as configuration overrides
//! under the same rules as the relay's `setConfig` (checked whole, the key named when
//! refused) and applied at the next start; the time zone and NTP status, read-only; and
//! `GET /api/v1/diagnostics`, the support bundle.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{ApiError, AppState, parse_body};

#[derive(Serialize)]
struct Settings {
    retention: RetentionSettings,
    disk: DiskSettings,
    frame: FrameSettings,
    time: TimeSettings,
    /// A change was stored that takes effect at the next start.
    restart_needed: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RetentionSettings {
    keep_days: u32,
    quota_mib: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DiskSettings {
    min_free_mib: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FrameSettings {
    width: u32,
    height: u32,
}

#[derive(Serialize)]
struct TimeSettings {
    zone: String,
    /// Whether the kernel's clock is synchronised (NTP); null when the box cannot tell.
    ntp_synchronized: Option<bool>,
}

/// `PUT`: any of the sections, each whole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsChange {
    #[serde(default)]
    retention: Option<RetentionSettings>,
    #[serde(default)]
    disk: Option<DiskSettings>,
    #[serde(default)]
    frame: Option<FrameSettings>,
}

fn current(state: &AppState) -> Settings {
    let config = state.uplink.box_config();
    Settings {
        retention: RetentionSettings {
            keep_days: config.index.keep_days,
            quota_mib: config.index.quota_mib,
        },
        disk: DiskSettings {
            min_free_mib: config.disk.min_free_mib,
        },
        frame: FrameSettings {
            width: config.search.frame_width,
            height: config.search.frame_height,
        },
        time: TimeSettings {
            zone: crate::status::time_zone_name(),
            ntp_synchronized: crate::status::clock_synchronized(),
        },
        restart_needed: state.restart_needed.load(Ordering::Relaxed),
    }
}

/// The installer's settings, the time zone and NTP, and whether a restart is waited for.
#[utoipa::path(get, path = "/settings", tag = "settings",
    responses((status = 200, description = "The settings", body = Object)))]
pub(super) async fn show(State(state): State<AppState>) -> Response {
    Json(current(&state)).into_response()
}

/// Stores a change of any of the sections, each whole; applied at the next start.
#[utoipa::path(put, path = "/settings", tag = "settings",
    request_body(content = SettingsChange, content_type = "application/json"),
    responses((status = 200, description = "The settings after the change", body = Object),
        (status = 400, description = "A malformed body, or no section given",
            body = protocol::ErrorBody),
        (status = 422, description = "A value the box refuses (`invalid_setting`)",
            body = protocol::ErrorBody)))]
pub(super) async fn change(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let change: SettingsChange = parse_body(&body)?;
    let mut values = BTreeMap::new();
    if let Some(r) = change.retention {
        values.insert("index.keep_days".to_owned(), json!(r.keep_days));
        values.insert("index.quota_mib".to_owned(), json!(r.quota_mib));
    }
    if let Some(d) = change.disk {
        values.insert("disk.min_free_mib".to_owned(), json!(d.min_free_mib));
    }
    if let Some(f) = change.frame {
        values.insert("search.frame_width".to_owned(), json!(f.width));
        values.insert("search.frame_height".to_owned(), json!(f.height));
    }
    if values.is_empty() {
        return Err(ApiError::invalid("body: give retention, disk or frame"));
    }
    let restart = state.uplink.set_local_config(values).await.map_err(|why| {
        ApiError::with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_setting",
            why,
            None,
        )
    })?;
    if !restart.is_empty() {
        state.restart_needed.store(true, Ordering::Relaxed);
    }
    Ok(Json(current(&state)).into_response())
}

/// Keys whose values are never shown: passwords, credentials, keys.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                let secret = ["password", "credential", "secret", "token", "key"]
                    .iter()
                    .any(|word| key.to_ascii_lowercase().contains(word));
                if secret && !inner.is_null() {
                    *inner = json!("(redacted)");
                } else {
                    redact(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// One JSON file for support: versions, the configuration without secrets, the status,
/// the cameras (no passwords), the uplink and the last log lines.
#[utoipa::path(get, path = "/diagnostics", tag = "settings",
    responses((status = 200, description = "The support bundle, as an attachment",
        body = Object)))]
pub(super) async fn diagnostics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut config = serde_json::to_value(state.uplink.box_config()).unwrap_or_default();
    redact(&mut config);
    let status = super::status::view(&state).await?;
    let cameras = super::cameras::stored(&state).await?;
    let bundle = json!({
        "made_at": jiff::Timestamp::now().to_string(),
        "versions": {
            "dipper": env!("CARGO_PKG_VERSION"),
            "face_model": state.engine.model().to_string(),
            "os": std::fs::read_to_string("/etc/os-release").ok()
                .and_then(|t| t.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| l[12..].trim_matches('"').to_owned())),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        },
        "config": config,
        "status": status,
        "cameras": cameras,
        "log": crate::status::log_lines(),
    });
    let name = format!(
        "dipper-diagnostics-{}.json",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
    );
    let body = serde_json::to_vec_pretty(&bundle).unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut value = json!({
            "uplink": {"manual": {"username": "box", "password": "hunter2"}, "ca_file": null},
            "cameras": [{"name": "gate", "api_key": "k"}],
            "search": {"workers": 2}
        });
        redact(&mut value);
        assert_eq!(value["uplink"]["manual"]["password"], "(redacted)");
        assert_eq!(value["uplink"]["manual"]["username"], "box");
        assert_eq!(value["cameras"][0]["api_key"], "(redacted)");
        assert_eq!(value["search"]["workers"], 2);
        assert!(!value.to_string().contains("hunter2"));
    }
}
