//! A tenant's notification channels (its admins add and remove them) and the notices sent or
//! waiting, with their delivery state (docs/design/0080-billing.md, "Notifications"). A
//! Feishu channel's secret is written, never read back. Another tenant's channel answers
//! 404, as a missing one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::types::{Page, rfc3339};
use super::{begin_as_tenant_admin, begin_existing, begin_list};
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{Mode, now_ms};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::{self, targets};
use crate::state::AppState;
use crate::store::notifications::{self as store, StoredChannel, StoredNotice};

/// Channels per tenant.
const MAX_CHANNELS: usize = 20;

/// How a channel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// E-mail through the relay's SMTP server; `target` is the address.
    Email,
    /// A Feishu (Lark) custom bot; `target` is its webhook URL, `secret` its signing secret.
    Feishu,
    /// An SMS through the relay's SMS hook; `target` is the phone number.
    Sms,
}

impl ChannelKind {
    fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Sms => "sms",
        }
    }
}

/// `zh` or `en`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLanguage {
    Zh,
    En,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub kind: ChannelKind,
    /// The e-mail address, the webhook's URL (http or https, on the public internet), or
    /// the phone number.
    pub target: String,
    /// A Feishu bot's signing secret (1 to 200 characters); only for `feishu`.
    pub secret: Option<String>,
    /// Default `zh`.
    pub language: Option<NoticeLanguage>,
    /// The events it takes: `invoice.issued`, `payment.received`, `tenant.overdue`,
    /// `tenant.suspended`, `tenant.restored`, `device.offline`. Default: all.
    pub events: Option<Vec<String>>,
}

/// A channel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub id: Uuid,
    pub kind: ChannelKind,
    pub target: String,
    /// Whether its messages are signed (a secret is set; never shown).
    pub signed: bool,
    pub language: NoticeLanguage,
    pub events: Vec<String>,
    pub created_by: String,
    pub created_at: String,
}

fn channel_of(stored: StoredChannel) -> Channel {
    let kind = match stored.kind.as_str() {
        "email" => ChannelKind::Email,
        "sms" => ChannelKind::Sms,
        _ => ChannelKind::Feishu,
    };
    Channel {
        id: stored.id,
        kind,
        signed: stored.secret.is_some(),
        language: if stored.language == "en" {
            NoticeLanguage::En
        } else {
            NoticeLanguage::Zh
        },
        events: stored
            .events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        target: stored.target,
        created_by: stored.created_by,
        created_at: rfc3339(stored.created_at),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelList {
    pub items: Vec<Channel>,
}

/// The tenant's notification channels (its admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/notification-channels", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "The channels", body = ChannelList)))]
pub async fn list_channels(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<ChannelList>, ApiError> {
    let (mut tx, tenant) = begin_as_tenant_admin(&state, &principal, tenant_id, Mode::Read).await?;
    let stored = store::channels(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(Json(ChannelList {
        items: stored.into_iter().map(channel_of).collect(),
    }))
}

/// The request's target, secret and events, checked.
fn checked(
    state: &AppState,
    request: &NewChannel,
) -> Result<(String, Option<String>, String), ApiError> {
    let config = &state.config.notifications;
    let target = match request.kind {
        ChannelKind::Email => {
            if config.smtp.is_none() {
                let message = "this relay sends no e-mail ([notifications.smtp] is not set)";
                return Err(ApiError::invalid_field("kind", message));
            }
            targets::email(&request.target)
        }
        ChannelKind::Feishu => {
            targets::webhook_url(request.target.trim(), config.allow_private_targets)
                .map(|url| url.to_string())
        }
        ChannelKind::Sms => {
            if config.sms.is_none() {
                let message = "this relay sends no SMS ([notifications.sms] is not set)";
                return Err(ApiError::invalid_field("kind", message));
            }
            targets::phone(&request.target)
        }
    }
    .map_err(|message| ApiError::invalid_field("target", message))?;
    let secret = match (&request.secret, request.kind) {
        (None, _) => None,
        (Some(secret), ChannelKind::Feishu) => {
            let length = secret.chars().count();
            if !(1..=200).contains(&length) || secret.chars().any(char::is_control) {
                let message = "1 to 200 characters, no control characters";
                return Err(ApiError::invalid_field("secret", message));
            }
            Some(secret.clone())
        }
        (Some(_), _) => {
            let message = "only a feishu channel has a signing secret";
            return Err(ApiError::invalid_field("secret", message));
        }
    };
    let events = match &request.events {
        None => notify::EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        Some(events) => {
            if events.is_empty() {
                return Err(ApiError::invalid_field("events", "at least one event"));
            }
            if let Some(unknown) = events
                .iter()
                .find(|e| !notify::EVENTS.contains(&e.as_str()))
            {
                let message = format!(
                    "{unknown:?} is not an event; one of {}",
                    notify::EVENTS.join(", ")
                );
                return Err(ApiError::invalid_field("events", message));
            }
            let mut events = events.clone();
            events.sort();
            events.dedup();
            events
        }
    };
    Ok((target, secret, format!(",{},", events.join(","))))
}

/// Adds a notification channel (tenant admins).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/notification-channels", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = NewChannel,
    responses((status = 201, description = "Added", body = Channel)))]
pub async fn add_channel(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<NewChannel>,
) -> Result<(StatusCode, Json<Channel>), ApiError> {
    let target_name = format!("tenant:{tenant_id}");
    audited(
        &state.db,
        &principal,
        "notifications.channel.add",
        &target_name,
        async {
            principal.tenant_for(tenant_id)?;
            principal.require_tenant_role(Role::TenantAdmin)?;
            let (target, secret, events) = checked(&state, &request)?;
            let (mut tx, tenant) =
                begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
            if store::channels(&mut tx, tenant).await?.len() >= MAX_CHANNELS {
                let message = format!("a tenant has at most {MAX_CHANNELS} channels");
                return Err(ApiError::invalid_field("kind", message));
            }
            let language = match request.language.unwrap_or(NoticeLanguage::Zh) {
                NoticeLanguage::Zh => "zh",
                NoticeLanguage::En => "en",
            };
            let stored = StoredChannel {
                id: Uuid::new_v4(),
                tenant_id: tenant,
                kind: request.kind.as_str().to_owned(),
                target,
                secret,
                language: language.to_owned(),
                events,
                created_by: principal.actor.clone(),
                created_at: now_ms(),
            };
            store::insert_channel(&mut tx, &stored).await?;
            let audit_target = format!("notification_channel:{}", stored.id);
            audit::commit(
                tx,
                &principal,
                Some(tenant),
                "notifications.channel.add",
                &audit_target,
            )
            .await?;
            Ok((StatusCode::CREATED, Json(channel_of(stored))))
        },
    )
    .await
}

/// Removes a notification channel and its notices (tenant admins).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/notification-channels/{channel_id}", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("channel_id" = Uuid, Path)),
    responses((status = 204, description = "Removed")))]
pub async fn delete_channel(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, channel_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let target = format!("notification_channel:{channel_id}");
    audited(
        &state.db,
        &principal,
        "notifications.channel.delete",
        &target,
        async {
            let (mut tx, tenant) =
                begin_as_tenant_admin(&state, &principal, tenant_id, Mode::Write).await?;
            if !store::delete_channel(&mut tx, tenant, channel_id).await? {
                return Err(ApiError::not_found());
            }
            audit::commit(
                tx,
                &principal,
                Some(tenant),
                "notifications.channel.delete",
                &target,
            )
            .await?;
            Ok(StatusCode::NO_CONTENT)
        },
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoticeQuery {
    /// Only `pending`, `sent` or `failed` notices.
    #[param(pattern = "^(pending|sent|failed)$")]
    pub status: Option<String>,
    /// At most this many items (1 to 500). Default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Skip this many items first. Default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<u32>,
}

/// A notice and how its delivery went.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub event: String,
    /// `pending` (waiting or retrying), `sent`, or `failed` (given up after the last attempt).
    pub status: String,
    pub attempts: i32,
    /// The last attempt's error, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the next attempt is due, while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
}

fn notice_of(stored: StoredNotice) -> Notice {
    Notice {
        id: stored.id,
        channel_id: stored.channel_id,
        event: stored.event,
        next_attempt_at: (stored.status == "pending").then(|| rfc3339(stored.next_attempt_at)),
        status: stored.status,
        attempts: stored.attempts,
        last_error: stored.last_error,
        created_at: rfc3339(stored.created_at),
        sent_at: stored.sent_at.map(rfc3339),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NoticeList {
    /// Newest first.
    pub items: Vec<Notice>,
}

/// The tenant's notices, newest first, with their delivery state (its admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/notifications", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), NoticeQuery),
    responses((status = 200, description = "The notices", body = NoticeList)))]
pub async fn list_notices(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<NoticeQuery>,
) -> Result<Json<NoticeList>, ApiError> {
    if let Some(status) = &query.status
        && !matches!(status.as_str(), "pending" | "sent" | "failed")
    {
        let message = "status must be pending, sent or failed";
        return Err(ApiError::invalid_query("status", message));
    }
    let page = Page {
        limit: query.limit,
        offset: query.offset,
    };
    let caller = (&state, &principal);
    let (mut tx, tenant, bounds) =
        begin_list(caller, tenant_id, &page, Some(Role::TenantAdmin)).await?;
    let stored = store::list(&mut tx, tenant, query.status.as_deref(), bounds).await?;
    tx.commit().await?;
    Ok(Json(NoticeList {
        items: stored.into_iter().map(notice_of).collect(),
    }))
}
