//! Signing in: login with e-mail, tenant and password, refresh-token rotation, logout, and
//! `me`.
//!
//! An account is an e-mail within a tenant (or among the platform admins, who have none):
//! the login request names its tenant, so an e-mail used in several tenants is several
//! accounts, and nothing at login or user creation tells whether an e-mail exists elsewhere
//! (docs/design/0001-user-identity.md).
//!
//! Failed logins are counted in the database (so every instance sees the same count) per
//! account and client address: after `auth.login_max_failures` failures from one address,
//! that address is refused for that account with 429 for `auth.login_lockout_seconds`,
//! whether or not the account exists, while the owner signing in from elsewhere still can.
//! A slower brake counts the account's failures from every address: after
//! `auth.login_account_max_failures` the account is refused everywhere for
//! `auth.login_account_lockout_seconds`, which bounds guessing spread over many addresses.
//! Attempts from one client address are limited too (`limits.login_per_address_*`),
//! whatever the account.
//!
//! Each login starts a session (`auth::sessions`). A refresh token is good once: refreshing
//! marks it used and returns the next token of its session; presenting a used token again (a
//! stolen copy, or the thief's) revokes the whole session, and its access tokens with it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Email, Secret};
use crate::audit;
use crate::auth::cookie;
use crate::auth::tokens::{new_secret, secret_digest};
use crate::auth::{Principal, Role};
use crate::db::{DbError, Mode, Scope, Tx, now_ms, parse_id};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, RemoteAddr};
use crate::state::AppState;
use crate::store::{logins, refresh_tokens, sessions};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(value_type = String, min_length = 3, max_length = 254, pattern = r"^[^@\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0]+@[^@\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0]+$")]
    pub email: Email,
    #[schema(value_type = String, min_length = 1, max_length = 1024)]
    pub password: Secret,
    /// The tenant whose account signs in; absent for a platform admin.
    #[serde(default)]
    pub tenant_id: Option<Uuid>,
    /// Return the refresh token as the `dipper_refresh` cookie (HttpOnly, SameSite=Strict,
    /// path `/api/v1/auth`) instead of in the body: the operators' console keeps it out of
    /// its scripts' reach. Default false.
    #[serde(default)]
    pub cookie: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token; absent when `cookie` is true and the `dipper_refresh` cookie
    /// carries it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1024)]
    pub refresh_token: Option<Secret>,
    /// Read the refresh token from the `dipper_refresh` cookie when the body has none, and
    /// answer the next one as that cookie. Default false.
    #[serde(default)]
    pub cookie: bool,
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the access token is valid for.
    pub expires_in: i64,
    /// Absent when the request asked for the `dipper_refresh` cookie instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
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
    ApiError::unauthorized(
        ErrorCode::InvalidCredentials,
        "wrong email, tenant or password",
    )
}

fn user_disabled() -> ApiError {
    ApiError::unauthorized(ErrorCode::UserDisabled, "this user is disabled")
}

/// The `address` of the row counting an account's failures from every address.
const EVERY_ADDRESS: &str = "*";

/// How `login_failures` names an account: its tenant (or `platform`) and e-mail, whether or
/// not such a user exists.
fn account_key(tenant: Option<Uuid>, email: &Email) -> String {
    match tenant {
        Some(tenant) => format!("{tenant}/{}", email.as_str()),
        None => format!("platform/{}", email.as_str()),
    }
}

/// Signs in with e-mail, tenant and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "session",
    request_body = LoginRequest,
    responses((status = 200, description = "Signed in", body = TokenPair)))]
pub async fn login(
    State(state): State<AppState>,
    RemoteAddr(remote_addr): RemoteAddr,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    state.limits.check_login(&remote_addr)?;
    let cookie = cookie::Jar::if_asked(request.cookie, &state, &headers)?;
    let account = account_key(request.tenant_id, &request.email);
    let now = now_ms();
    let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
    let locked_until = logins::locked_until(&mut tx, &account, &remote_addr, EVERY_ADDRESS).await?;
    if let Some(until) = locked_until
        && until > now
    {
        return Err(ApiError::too_many_requests(
            ErrorCode::LoginLocked,
            "too many failed sign-ins for this account; wait and retry",
            u64::try_from((until - now + 999) / 1000).unwrap_or(1),
        ));
    }
    let user = logins::user_by_email(&mut tx, request.tenant_id, request.email.as_str()).await?;
    tx.commit().await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matches = state
        .passwords
        .verify(request.password.into_inner(), hash)
        .await
        .map_err(|e| ApiError::internal(&e))?;

    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    let user = match (user, matches) {
        (Some(user), true) => user,
        (user, _) => {
            refuse_login(&state, tx, user, &account, &remote_addr, now).await?;
            return Err(invalid_credentials());
        }
    };
    let (user_id, tenant_id) = (user.id, user.tenant);
    // Only this address's count is forgiven: the count over every address is what bounds
    // guessing spread over many, and it runs out by itself.
    logins::forgive(&mut tx, &account, &remote_addr).await?;
    if user.status != "active" {
        tx.commit().await?;
        return Err(user_disabled());
    }
    if tenant_id.is_some() && user.tenant_status.as_deref() != Some("enabled") {
        tx.commit().await?;
        return Err(ApiError::tenant_disabled());
    }
    let session = sessions::start(&mut tx, user_id, tenant_id).await?;
    let refresh_token = insert_refresh(&state, &mut tx, user_id, tenant_id, session).await?;
    audit_session(
        &mut tx,
        user_id,
        tenant_id,
        &remote_addr,
        "auth.login",
        "success",
    )
    .await?;
    tx.commit().await?;
    pair(
        &state,
        user_id,
        tenant_id,
        session,
        refresh_token,
        cookie.as_ref(),
    )
}

/// Records a refused sign-in: the failure count of `account`, and for a known user an audit
/// record its tenant's admins see.
async fn refuse_login(
    state: &AppState,
    mut tx: Tx,
    user: Option<logins::LoginUser>,
    account: &str,
    remote_addr: &str,
    now: i64,
) -> Result<(), ApiError> {
    record_failure(state, &mut tx, account, remote_addr, now).await?;
    if let Some(user) = &user {
        // A wrong password for a known user is shown to its tenant's admins.
        audit_session(
            &mut tx,
            user.id,
            user.tenant,
            remote_addr,
            "auth.login",
            "refused: wrong_password",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Counts a failed login of `account` from `address`, and over every address; locks either
/// when its count reaches its limit. A count whose last failure is older than its lockout
/// starts again from one.
async fn record_failure(
    state: &AppState,
    tx: &mut Tx,
    account: &str,
    address: &str,
    now: i64,
) -> Result<(), DbError> {
    let auth = &state.config.auth;
    let seconds = |s: u64| i64::try_from(s).unwrap_or(i64::MAX / 4000) * 1000;
    for (address, max_failures, lockout_ms) in [
        (
            address,
            auth.login_max_failures,
            seconds(auth.login_lockout_seconds),
        ),
        (
            EVERY_ADDRESS,
            auth.login_account_max_failures,
            seconds(auth.login_account_lockout_seconds),
        ),
    ] {
        let key = (account, address);
        let failures = logins::count_failure(tx, key, now, lockout_ms).await?;
        if failures >= i64::from(max_failures) {
            logins::lock(tx, key, now + lockout_ms).await?;
        }
    }
    Ok(())
}

/// Forgets failure counts that no longer lock anything and have run out.
pub async fn prune_login_failures(state: &AppState) -> Result<u64, DbError> {
    let auth = &state.config.auth;
    let longest = auth
        .login_lockout_seconds
        .max(auth.login_account_lockout_seconds);
    let now = now_ms();
    let before = now - i64::try_from(longest).unwrap_or(i64::MAX / 4000) * 1000;
    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    let pruned = logins::prune(&mut tx, now, before).await?;
    tx.commit().await?;
    Ok(pruned)
}

async fn insert_refresh(
    state: &AppState,
    tx: &mut Tx,
    user: Uuid,
    tenant: Option<Uuid>,
    session: Uuid,
) -> Result<String, DbError> {
    let secret = new_secret();
    let ttl = i64::try_from(state.config.auth.refresh_token_seconds).unwrap_or(i64::MAX / 4000);
    let token = refresh_tokens::NewRefreshToken {
        user,
        tenant,
        session,
        digest: &secret_digest(&secret),
        expires_at: now_ms() + ttl * 1000,
    };
    refresh_tokens::insert(tx, token).await?;
    Ok(secret)
}

fn pair(
    state: &AppState,
    user: Uuid,
    tenant: Option<Uuid>,
    session: Uuid,
    refresh_token: String,
    jar: Option<&cookie::Jar>,
) -> Result<Response, ApiError> {
    let (access_token, expires_in) = state
        .tokens
        .issue(user, tenant, session)
        .map_err(|e| ApiError::internal(&e))?;
    let mut pair = TokenPair {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in,
        refresh_token: Some(refresh_token),
    };
    Ok(match jar {
        Some(jar) => {
            let set = jar.set(&pair.refresh_token.take().unwrap_or_default());
            let no_store = axum::http::HeaderValue::from_static("no-store");
            (
                [(header::SET_COOKIE, set), (header::CACHE_CONTROL, no_store)],
                Json(pair),
            )
                .into_response()
        }
        None => Json(pair).into_response(),
    })
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
    audit::own(tx, (&actor, remote_addr), tenant, action, outcome).await
}

fn refresh_token_invalid(message: &str) -> ApiError {
    ApiError::unauthorized(ErrorCode::RefreshTokenInvalid, message)
}

/// Trades a refresh token for a new access token and the next refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "session",
    request_body = RefreshRequest,
    responses((status = 200, description = "Renewed", body = TokenPair)))]
pub async fn refresh(
    State(state): State<AppState>,
    RemoteAddr(remote_addr): RemoteAddr,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let jar = cookie::Jar::if_asked(request.cookie, &state, &headers)?;
    let presented = presented_token(request.refresh_token, jar.as_ref())?;
    match renew(&state, &remote_addr, &presented).await {
        Ok((user, tenant, session, next)) => {
            pair(&state, user, tenant, session, next, jar.as_ref())
        }
        // A cookie that no longer renews anything is cleared with the refusal.
        Err(error) => match &jar {
            Some(jar) => {
                let mut refusal = error.into_response();
                refusal
                    .headers_mut()
                    .insert(header::SET_COOKIE, jar.clear());
                Ok(refusal)
            }
            None => Err(error),
        },
    }
}

/// The refresh token of a request: the body's, else (with `cookie: true`) the cookie's.
fn presented_token(body: Option<Secret>, jar: Option<&cookie::Jar>) -> Result<String, ApiError> {
    if let Some(token) = body {
        return Ok(token.into_inner());
    }
    match jar.and_then(cookie::Jar::token) {
        Some(token) => Ok(token),
        None if jar.is_some() => Err(refresh_token_invalid(
            "no dipper_refresh cookie came with the request; sign in again",
        )),
        None => Err(ApiError::invalid_field(
            "refresh_token",
            "refresh_token is required (or cookie: true with the dipper_refresh cookie)",
        )),
    }
}

/// Trades `presented` for the next refresh token of its session: (user, tenant, session,
/// the new token).
async fn renew(
    state: &AppState,
    remote_addr: &str,
    presented: &str,
) -> Result<(Uuid, Option<Uuid>, Uuid, String), ApiError> {
    let digest = secret_digest(presented);
    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    let token = refresh_tokens::by_digest(&mut tx, &digest)
        .await?
        .ok_or_else(|| refresh_token_invalid("unknown refresh token; sign in again"))?;
    let (user, tenant, family) = (token.user, token.tenant, &token.family);
    if token.status == "revoked" {
        return Err(refresh_token_invalid(
            "this refresh token was revoked; sign in again",
        ));
    }
    // Marking it used only if it is still active makes two concurrent refreshes with one
    // token count as reuse.
    let taken = refresh_tokens::take(&mut tx, &token.id).await?;
    if token.status == "used" || !taken {
        sessions::revoke(&mut tx, family).await?;
        audit_session(
            &mut tx,
            user,
            tenant,
            remote_addr,
            "auth.refresh",
            "refused: refresh_token_reused",
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(%user, "refresh token reused; its family is revoked");
        return Err(ApiError::unauthorized(
            ErrorCode::RefreshTokenReused,
            "this refresh token was already used; its session is revoked, sign in again",
        ));
    }
    if token.expires_at <= now_ms() {
        tx.commit().await?;
        return Err(refresh_token_invalid(
            "this refresh token has expired; sign in again",
        ));
    }
    if token.user_status != "active" {
        sessions::revoke(&mut tx, family).await?;
        tx.commit().await?;
        return Err(user_disabled());
    }
    if tenant.is_some() && token.tenant_status.as_deref() != Some("enabled") {
        tx.rollback().await?;
        return Err(ApiError::tenant_disabled());
    }
    let session = parse_id(family)?;
    let next = insert_refresh(state, &mut tx, user, tenant, session).await?;
    audit_session(
        &mut tx,
        user,
        tenant,
        remote_addr,
        "auth.refresh",
        "success",
    )
    .await?;
    tx.commit().await?;
    Ok((user, tenant, session, next))
}

/// Ends the session: revokes the refresh token's session, its other refresh tokens and its
/// access tokens.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "session",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also for an unknown token)")))]
pub async fn logout(
    State(state): State<AppState>,
    RemoteAddr(remote_addr): RemoteAddr,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let jar = cookie::Jar::if_asked(request.cookie, &state, &headers)?;
    let presented = match presented_token(request.refresh_token, jar.as_ref()) {
        Ok(token) => token,
        // Signing out without a cookie left: nothing to revoke, the cookie stays cleared.
        Err(_) if let Some(jar) = &jar => {
            return Ok(
                (StatusCode::NO_CONTENT, [(header::SET_COOKIE, jar.clear())]).into_response(),
            );
        }
        Err(error) => return Err(error),
    };
    let digest = secret_digest(&presented);
    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    if let Some(token) = refresh_tokens::by_digest(&mut tx, &digest).await? {
        sessions::revoke(&mut tx, &token.family).await?;
        audit_session(
            &mut tx,
            token.user,
            token.tenant,
            &remote_addr,
            "auth.logout",
            "success",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(match &jar {
        Some(jar) => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, jar.clear())]).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// How the console may sign in: the relay's own accounts always, and the OpenID Connect
/// provider when `[oidc] console_client_id` is set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthConfig {
    pub oidc: Option<OidcClient>,
}

/// The provider and the console's public client there (authorization code flow with PKCE).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OidcClient {
    /// The provider's issuer; its discovery document is
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// The scopes to ask for.
    pub scope: String,
}

/// How to sign in (public: the console asks before anyone has).
#[utoipa::path(get, path = "/api/v1/auth/config", tag = "session",
    responses((status = 200, description = "The ways to sign in", body = AuthConfig)))]
pub async fn auth_config(State(state): State<AppState>) -> Json<AuthConfig> {
    let oidc = state.config.oidc.as_ref().and_then(|oidc| {
        Some(OidcClient {
            issuer: oidc.issuer.clone(),
            client_id: oidc.console_client_id.clone()?,
            scope: oidc.console_scope.clone(),
        })
    });
    Json(AuthConfig { oidc })
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
