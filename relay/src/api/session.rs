//! Signing in: login with email and password, refresh-token rotation, logout, and `me`.
//!
//! Login is throttled per email in the database (so every instance sees the same count):
//! after `auth.login_max_failures` failures in a row the email is refused with 429 for
//! `auth.login_lockout_seconds`, whether or not a user has it. Attempts from one client
//! address are limited too (`limits.login_per_address_*`), whatever the email.
//!
//! A refresh token is good once: refreshing marks it used and returns the next token of its
//! family; presenting a used token again (a stolen copy, or the thief's) revokes the whole
//! family.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Email, Secret};
use crate::audit;
use crate::auth::tokens::{new_secret, secret_digest};
use crate::auth::{Principal, Role};
use crate::db::{DbError, Mode, Scope, Tx, now_ms, parse_id};
use crate::error::ApiError;
use crate::extract::{ApiJson, RemoteAddr};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(value_type = String, min_length = 3, max_length = 254, pattern = r"^[^@\s\u0000-\u001F\u007F]+@[^@\s\u0000-\u001F\u007F]+$")]
    pub email: Email,
    #[schema(value_type = String, min_length = 1, max_length = 1024)]
    pub password: Secret,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(value_type = String, min_length = 1, max_length = 1024)]
    pub refresh_token: Secret,
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the access token is valid for.
    pub expires_in: i64,
    pub refresh_token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    pub role: Role,
    /// The area the role holds on (and below); none for the whole tenant.
    pub area_id: Option<Uuid>,
}

/// The caller, as the relay sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub actor: String,
    pub user_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub platform_admin: bool,
    pub grants: Vec<GrantView>,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("wrong email or password")
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "session",
    request_body = LoginRequest,
    responses((status = 200, description = "Signed in", body = TokenPair)))]
pub async fn login(
    State(state): State<AppState>,
    RemoteAddr(remote_addr): RemoteAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    state.limits.check_login(&remote_addr)?;
    let email = request.email.as_str().to_owned();
    let now = now_ms();
    let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
    let locked_until: Option<i64> =
        sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE email = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await
            .map_err(DbError::from_sqlx)?;
    if let Some(until) = locked_until
        && until > now
    {
        return Err(ApiError::too_many_requests(
            "login_locked",
            "too many failed logins for this email; wait and retry",
            u64::try_from((until - now) / 1000).unwrap_or(1),
        ));
    }
    let user = sqlx::query(
        "SELECT u.id, u.tenant_id, u.password_hash, u.status, t.status AS tenant_status \
         FROM users u LEFT JOIN tenants t ON t.id = u.tenant_id WHERE u.email = $1",
    )
    .bind(&email)
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from_sqlx)?;
    tx.commit().await.map_err(DbError::from_sqlx)?;
    let hash: Option<String> = user
        .as_ref()
        .map(|row| row.try_get("password_hash"))
        .transpose()
        .map_err(DbError::from_sqlx)?;
    let matches = state
        .passwords
        .verify(request.password.into_inner(), hash)
        .await
        .map_err(|e| ApiError::internal(&e))?;

    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    let row = match (user, matches) {
        (Some(row), true) => row,
        (user, _) => {
            record_failure(&state, &mut tx, &email, now).await?;
            if let Some(row) = &user {
                // A wrong password for a known user is shown to its tenant's admins.
                let id = parse_id(&row.try_get::<String, _>("id").map_err(DbError::from_sqlx)?)?;
                let tenant = row
                    .try_get::<Option<String>, _>("tenant_id")
                    .map_err(DbError::from_sqlx)?
                    .as_deref()
                    .map(parse_id)
                    .transpose()?;
                audit_session(
                    &mut tx,
                    id,
                    tenant,
                    &remote_addr,
                    "auth.login",
                    "refused: wrong_password",
                )
                .await?;
            }
            tx.commit().await.map_err(DbError::from_sqlx)?;
            return Err(invalid_credentials());
        }
    };
    let user_id = parse_id(&row.try_get::<String, _>("id").map_err(DbError::from_sqlx)?)?;
    let tenant_id = row
        .try_get::<Option<String>, _>("tenant_id")
        .map_err(DbError::from_sqlx)?
        .as_deref()
        .map(parse_id)
        .transpose()?;
    let status: String = row.try_get("status").map_err(DbError::from_sqlx)?;
    let tenant_status: Option<String> = row.try_get("tenant_status").map_err(DbError::from_sqlx)?;
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(&email)
        .execute(&mut *tx)
        .await
        .map_err(DbError::from_sqlx)?;
    if status != "active" {
        tx.commit().await.map_err(DbError::from_sqlx)?;
        return Err(ApiError::unauthorized("this user is disabled"));
    }
    if tenant_id.is_some() && tenant_status.as_deref() != Some("enabled") {
        tx.commit().await.map_err(DbError::from_sqlx)?;
        return Err(ApiError::tenant_disabled());
    }
    let refresh_token = insert_refresh(&state, &mut tx, user_id, tenant_id, Uuid::new_v4()).await?;
    audit_session(
        &mut tx,
        user_id,
        tenant_id,
        &remote_addr,
        "auth.login",
        "success",
    )
    .await?;
    tx.commit().await.map_err(DbError::from_sqlx)?;
    pair(&state, user_id, tenant_id, refresh_token)
}

async fn record_failure(
    state: &AppState,
    tx: &mut Tx,
    email: &str,
    now: i64,
) -> Result<(), DbError> {
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO login_failures (email, failures, locked_until, updated_at) \
         VALUES ($1, 1, 0, $2) ON CONFLICT (email) DO UPDATE \
         SET failures = login_failures.failures + 1, updated_at = $2 RETURNING failures",
    )
    .bind(email)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(DbError::from_sqlx)?;
    if failures >= i64::from(state.config.auth.login_max_failures) {
        let lockout =
            i64::try_from(state.config.auth.login_lockout_seconds).unwrap_or(i64::MAX / 4000);
        sqlx::query("UPDATE login_failures SET failures = 0, locked_until = $1 WHERE email = $2")
            .bind(now + lockout * 1000)
            .bind(email)
            .execute(&mut **tx)
            .await
            .map_err(DbError::from_sqlx)?;
    }
    Ok(())
}

async fn insert_refresh(
    state: &AppState,
    tx: &mut Tx,
    user: Uuid,
    tenant: Option<Uuid>,
    family: Uuid,
) -> Result<String, DbError> {
    let secret = new_secret();
    let ttl = i64::try_from(state.config.auth.refresh_token_seconds).unwrap_or(i64::MAX / 4000);
    let now = now_ms();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, status, \
         expires_at, created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(tenant.map(|t| t.to_string()))
    .bind(user.to_string())
    .bind(family.to_string())
    .bind(secret_digest(&secret))
    .bind(now + ttl * 1000)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(DbError::from_sqlx)?;
    Ok(secret)
}

fn pair(
    state: &AppState,
    user: Uuid,
    tenant: Option<Uuid>,
    refresh_token: String,
) -> Result<Json<TokenPair>, ApiError> {
    let (access_token, expires_in) = state
        .tokens
        .issue(user, tenant)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(TokenPair {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in,
        refresh_token,
    }))
}

/// Records a session event of `user` in its tenant's audit log, in `tx`.
async fn audit_session(
    tx: &mut Tx,
    user: Uuid,
    tenant: Option<Uuid>,
    remote_addr: &str,
    action: &str,
    outcome: &str,
) -> Result<(), DbError> {
    let actor = format!("user:{user}");
    audit::write(
        tx,
        audit::Entry {
            tenant,
            actor: &actor,
            remote_addr,
            action,
            target: &actor,
            outcome,
        },
    )
    .await
}

async fn revoke_family(tx: &mut Tx, family: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = $1")
        .bind(family)
        .execute(&mut **tx)
        .await
        .map_err(DbError::from_sqlx)?;
    Ok(())
}

/// Trades a refresh token for a new access token and the next refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "session",
    request_body = RefreshRequest,
    responses((status = 200, description = "Renewed", body = TokenPair)))]
pub async fn refresh(
    State(state): State<AppState>,
    RemoteAddr(remote_addr): RemoteAddr,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let digest = secret_digest(request.refresh_token.as_str());
    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    let row = sqlx::query(
        "SELECT r.id, r.user_id, r.tenant_id, r.family_id, r.status, r.expires_at, \
         u.status AS user_status, t.status AS tenant_status \
         FROM refresh_tokens r JOIN users u ON u.id = r.user_id \
         LEFT JOIN tenants t ON t.id = r.tenant_id WHERE r.token_hash = $1",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from_sqlx)?
    .ok_or_else(|| ApiError::unauthorized("unknown refresh token"))?;
    let get = |name: &str| row.try_get::<String, _>(name).map_err(DbError::from_sqlx);
    let id = get("id")?;
    let family = get("family_id")?;
    let user = parse_id(&get("user_id")?)?;
    let tenant = row
        .try_get::<Option<String>, _>("tenant_id")
        .map_err(DbError::from_sqlx)?
        .as_deref()
        .map(parse_id)
        .transpose()?;
    let status = get("status")?;
    let expires_at: i64 = row.try_get("expires_at").map_err(DbError::from_sqlx)?;
    let user_status = get("user_status")?;
    let tenant_status: Option<String> = row.try_get("tenant_status").map_err(DbError::from_sqlx)?;
    if status == "revoked" {
        return Err(ApiError::unauthorized(
            "this refresh token was revoked; sign in again",
        ));
    }
    // Marking it used only if it is still active makes two concurrent refreshes with one
    // token count as reuse.
    let taken = sqlx::query(
        "UPDATE refresh_tokens SET status = 'used' WHERE id = $1 AND status = 'active'",
    )
    .bind(&id)
    .execute(&mut *tx)
    .await
    .map_err(DbError::from_sqlx)?
    .rows_affected();
    if status == "used" || taken == 0 {
        revoke_family(&mut tx, &family).await?;
        audit_session(
            &mut tx,
            user,
            tenant,
            &remote_addr,
            "auth.refresh",
            "refused: refresh_token_reused",
        )
        .await?;
        tx.commit().await.map_err(DbError::from_sqlx)?;
        tracing::warn!(%user, "refresh token reused; its family is revoked");
        return Err(ApiError::unauthorized(
            "this refresh token was already used; every session of its family is revoked, sign in again",
        ));
    }
    if expires_at <= now_ms() {
        tx.commit().await.map_err(DbError::from_sqlx)?;
        return Err(ApiError::unauthorized(
            "this refresh token has expired; sign in again",
        ));
    }
    if user_status != "active" {
        revoke_family(&mut tx, &family).await?;
        tx.commit().await.map_err(DbError::from_sqlx)?;
        return Err(ApiError::unauthorized("this user is disabled"));
    }
    if tenant.is_some() && tenant_status.as_deref() != Some("enabled") {
        tx.rollback().await.map_err(DbError::from_sqlx)?;
        return Err(ApiError::tenant_disabled());
    }
    let family = parse_id(&family)?;
    let next = insert_refresh(&state, &mut tx, user, tenant, family).await?;
    audit_session(
        &mut tx,
        user,
        tenant,
        &remote_addr,
        "auth.refresh",
        "success",
    )
    .await?;
    tx.commit().await.map_err(DbError::from_sqlx)?;
    pair(&state, user, tenant, next)
}

/// Ends the session: revokes the refresh token's whole family.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "session",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also for an unknown token)")))]
pub async fn logout(
    State(state): State<AppState>,
    RemoteAddr(remote_addr): RemoteAddr,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let digest = secret_digest(request.refresh_token.as_str());
    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    let found: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT family_id, user_id, tenant_id FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from_sqlx)?;
    if let Some((family, user, tenant)) = found {
        revoke_family(&mut tx, &family).await?;
        let tenant = tenant.as_deref().map(parse_id).transpose()?;
        audit_session(
            &mut tx,
            parse_id(&user)?,
            tenant,
            &remote_addr,
            "auth.logout",
            "success",
        )
        .await?;
    }
    tx.commit().await.map_err(DbError::from_sqlx)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the bearer token says the caller is, with its grants.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = Me)))]
pub async fn me(principal: Principal) -> Json<Me> {
    Json(Me {
        actor: principal.actor.clone(),
        user_id: principal.user_id,
        tenant_id: principal.tenant_id,
        platform_admin: principal.platform_admin,
        grants: principal
            .grants
            .iter()
            .map(|g| GrantView {
                role: g.role,
                area_id: g.area_id,
            })
            .collect(),
    })
}
