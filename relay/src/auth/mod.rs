//! Who is calling: the [`Principal`] every authenticated handler takes, and the roles that
//! decide what it may do.
//!
//! A principal comes from a bearer token: one of the relay's own access tokens (HS256), or,
//! when `[oidc]` is configured, a token of the external provider; or it is a box presenting
//! its device credential (`Authorization: Device <id>:<credential>`, see [`device`]), which
//! holds no role: user routes refuse it (403), the routes for boxes take it ([`CallingBox`]). For the relay's own users,
//! the user's status, tenant status, grants and the token's session are read from the
//! database on every request, so a revoked session is refused at its next request.
//! A disabled tenant's users are refused with `tenant_disabled`; every request then passes
//! the per-user and per-tenant rate limits.
//!
//! Roles, from least to most: viewer (reads), operator (manages devices), tenant admin
//! (manages the tenant's areas, users, grants and devices, reads its audit log). A role is
//! granted on the whole tenant or on an area, and holds on every area below it. Platform
//! admins hold every role in every tenant, and alone manage tenants.

pub mod cookie;
pub mod device;
pub mod oidc;
pub mod password;
pub mod tokens;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::{DbError, Mode, Scope, Tx};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::{areas, grants, sessions, tenants};

/// A role within a tenant. Ordered: a higher role can do all a lower one can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    TenantAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::TenantAdmin => "tenant_admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "tenant_admin" => Some(Role::TenantAdmin),
            _ => None,
        }
    }
}

/// A role held on the whole tenant (`area_id` none) or on an area's subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub area_id: Option<Uuid>,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// How the audit log names the caller: `user:<id>`, `oidc:<subject>` or `device:<id>`.
    pub actor: String,
    /// The relay's user, if the caller is one (not for external tokens).
    pub user_id: Option<Uuid>,
    /// The box, if the caller is an activated device authenticated by its credential.
    pub device_id: Option<Uuid>,
    /// The caller's tenant; none for platform admins.
    pub tenant_id: Option<Uuid>,
    pub platform_admin: bool,
    pub grants: Vec<Grant>,
    /// The client's address, for the audit log.
    pub remote_addr: String,
}

impl Principal {
    /// The tenant a request naming `tenant` in its path acts on: that tenant for a platform
    /// admin or a member of it, otherwise 404, exactly as if the tenant did not exist.
    pub fn tenant_for(&self, tenant: Uuid) -> Result<Uuid, ApiError> {
        if self.platform_admin || self.tenant_id == Some(tenant) {
            Ok(tenant)
        } else {
            Err(ApiError::not_found())
        }
    }

    /// The caller's device id and tenant, if the caller is a box; 403 for anyone else.
    pub fn require_device(&self) -> Result<(Uuid, Uuid), ApiError> {
        match (self.device_id, self.tenant_id) {
            (Some(device), Some(tenant)) => Ok((device, tenant)),
            _ => Err(ApiError::forbidden("only a box may do this")),
        }
    }

    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.platform_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("only a platform admin may do this"))
        }
    }

    /// The role held on the whole tenant, if any.
    pub fn tenant_role(&self) -> Option<Role> {
        if self.platform_admin {
            return Some(Role::TenantAdmin);
        }
        self.grants
            .iter()
            .filter(|g| g.area_id.is_none())
            .map(|g| g.role)
            .max()
    }

    /// Requires `role` on the whole tenant.
    pub fn require_tenant_role(&self, role: Role) -> Result<(), ApiError> {
        if self.tenant_role().is_some_and(|held| held >= role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role on the whole tenant",
                role.as_str()
            )))
        }
    }

    /// The highest role held on `area` (through the tenant, the area or an ancestor).
    /// `area` must be in the transaction's tenant.
    pub async fn role_at_area(
        &self,
        tx: &mut Tx,
        tenant: Uuid,
        area: Uuid,
    ) -> Result<Option<Role>, DbError> {
        let tenant_role = self.tenant_role();
        if tenant_role == Some(Role::TenantAdmin) {
            return Ok(tenant_role);
        }
        let area_grants: Vec<Grant> = self
            .grants
            .iter()
            .filter(|g| g.area_id.is_some())
            .copied()
            .collect();
        if area_grants.is_empty() {
            return Ok(tenant_role);
        }
        let ancestors = areas::path_to_root(tx, tenant, area).await?;
        let via_area = area_grants
            .iter()
            .filter(|g| g.area_id.is_some_and(|a| ancestors.contains(&a)))
            .map(|g| g.role)
            .max();
        Ok(tenant_role.max(via_area))
    }

    /// Requires at least `role` on `area`: 404 if the caller can see nothing there (so areas
    /// outside one's grants stay hidden), 403 if it sees but may not act.
    pub async fn require_area_role(
        &self,
        tx: &mut Tx,
        tenant: Uuid,
        area: Uuid,
        role: Role,
    ) -> Result<(), ApiError> {
        match self.role_at_area(tx, tenant, area).await? {
            None => Err(ApiError::not_found()),
            Some(held) if held < role => Err(ApiError::forbidden(format!(
                "this needs the {} role on this area",
                role.as_str()
            ))),
            Some(_) => Ok(()),
        }
    }

    /// 404 unless `tenant` exists. Needed only for platform admins, who may name any id;
    /// anyone else's tenant was checked when they were authenticated.
    pub async fn require_tenant_exists(&self, tx: &mut Tx, tenant: Uuid) -> Result<(), ApiError> {
        if !self.platform_admin {
            return Ok(());
        }
        let status = tenants::status(tx, tenant).await?;
        let found = status.filter(|s| s != "creating");
        found.map(|_| ()).ok_or_else(ApiError::not_found)
    }

    /// The areas whose subtrees the caller sees, or `None` for the whole tenant.
    pub fn visible_area_roots(&self) -> Option<Vec<Uuid>> {
        if self.tenant_role().is_some() {
            return None;
        }
        Some(self.grants.iter().filter_map(|g| g.area_id).collect())
    }
}

/// The caller of a user route: a user (the relay's own or an external provider's). A box's
/// credential is refused here (403) once checked: a box holds no role, and reads or changes
/// nothing through the users' routes, not even lists that would come out empty.
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).await?;
        if principal.device_id.is_some() {
            return Err(ApiError::forbidden(
                "a box's credential opens only the routes for boxes (/api/v1/devices/...); \
                 this route needs a user's token",
            ));
        }
        Ok(principal)
    }
}

/// The caller of a route for boxes (`/api/v1/devices/me`): a box presenting its device
/// credential; a user is refused (403).
#[derive(Debug, Clone)]
pub struct CallingBox {
    pub device_id: Uuid,
    pub tenant_id: Uuid,
    pub principal: Principal,
}

impl FromRequestParts<AppState> for CallingBox {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).await?;
        let (device_id, tenant_id) = principal.require_device()?;
        Ok(CallingBox {
            device_id,
            tenant_id,
            principal,
        })
    }
}

/// Who the request's `Authorization` says is calling, checked, rate-limited and noted for
/// the API-call meter.
async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Principal, ApiError> {
    let remote_addr = crate::extract::RemoteAddr::of(parts).0;
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(value) = authorization.and_then(|v| v.strip_prefix(device::SCHEME)) {
        let (id, credential) = device::parse(value)?;
        let principal = device::load(state, id, credential, remote_addr).await?;
        state.limits.check(&principal)?;
        bill_to(parts, &principal);
        return Ok(principal);
    }
    let token = authorization
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized(ErrorCode::TokenMissing, "a bearer token is required")
        })?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_token())?;
    let principal = if header.alg == jsonwebtoken::Algorithm::HS256 {
        let claims = state.tokens.verify(token).map_err(|e| token_refused(&e))?;
        load_user(state, &claims, remote_addr).await?
    } else if let Some(oidc) = &state.oidc {
        let identity = oidc.verify(token).await.map_err(|e| match e {
            oidc::OidcError::Invalid(e) => token_refused(&e),
            e if e.is_provider_failure() => {
                tracing::warn!(error = %e, "OIDC key set unavailable");
                ApiError::unauthorized(
                    ErrorCode::TokenInvalid,
                    "the access token could not be checked with the identity provider; \
                     retry shortly",
                )
            }
            e => {
                tracing::debug!(error = %e, "external token refused");
                invalid_token()
            }
        })?;
        external_principal(state, identity, remote_addr).await?
    } else {
        return Err(invalid_token());
    };
    state.limits.check(&principal)?;
    bill_to(parts, &principal);
    Ok(principal)
}

/// Tells the API-call meter whom this call is billed to (`crate::metering::calls`).
fn bill_to(parts: &Parts, principal: &Principal) {
    if let Some(slot) = parts.extensions.get::<crate::metering::calls::CallSlot>() {
        slot.fill(principal.tenant_id, principal.device_id.is_some());
    }
}

fn session_revoked() -> ApiError {
    ApiError::unauthorized(
        ErrorCode::SessionRevoked,
        "this session has ended (signed out, password changed, user removed or a refresh \
         token reused); sign in again",
    )
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized(ErrorCode::TokenInvalid, "the access token is not valid")
}

/// Our answer to a token the JWT library refused: expired, or not valid for another reason
/// (which one stays in the debug log).
fn token_refused(error: &jsonwebtoken::errors::Error) -> ApiError {
    if matches!(
        error.kind(),
        jsonwebtoken::errors::ErrorKind::ExpiredSignature
    ) {
        ApiError::unauthorized(
            ErrorCode::TokenExpired,
            "the access token has expired; refresh it or sign in again",
        )
    } else {
        tracing::debug!(error = %error, "access token refused");
        invalid_token()
    }
}

/// The principal of one of our access tokens: its user, tenant and grants as they are now,
/// refused if the session the token names was revoked. One query beside the grants: the
/// session is joined to the user's row, so revocation costs no extra round trip.
async fn load_user(
    state: &AppState,
    claims: &tokens::AccessClaims,
    remote_addr: String,
) -> Result<Principal, ApiError> {
    let (user, tenant) = (claims.sub, claims.tid);
    let scope = tenant.map_or(Scope::Platform, Scope::Tenant);
    let mut tx = state.db.begin(scope, Mode::Read).await?;
    let row = sessions::user_of(&mut tx, user, claims.sid)
        .await?
        .ok_or_else(session_revoked)?;
    if row.tenant.as_deref() != tenant.map(|t| t.to_string()).as_deref() {
        return Err(invalid_token());
    }
    if row.status != "active" {
        return Err(ApiError::unauthorized(
            ErrorCode::UserDisabled,
            "this user is disabled",
        ));
    }
    if row.session_status.as_deref() != Some("active") {
        return Err(session_revoked());
    }
    if tenant.is_some() && row.tenant_status.as_deref() != Some("enabled") {
        return Err(ApiError::tenant_disabled());
    }
    let grants = grants::held_by(&mut tx, user).await?;
    tx.commit().await?;
    Ok(Principal {
        actor: format!("user:{user}"),
        user_id: Some(user),
        device_id: None,
        tenant_id: tenant,
        platform_admin: row.platform_admin == 1,
        grants,
        remote_addr,
    })
}

async fn external_principal(
    state: &AppState,
    identity: oidc::ExternalIdentity,
    remote_addr: String,
) -> Result<Principal, ApiError> {
    if let Some(tenant) = identity.tenant {
        let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
        let status = tenants::status(&mut tx, tenant).await?;
        tx.commit().await?;
        match status.as_deref() {
            Some("enabled") => {}
            Some(_) => return Err(ApiError::tenant_disabled()),
            None => return Err(invalid_token()),
        }
    }
    Ok(Principal {
        actor: format!("oidc:{}", identity.subject),
        user_id: None,
        device_id: None,
        tenant_id: identity.tenant,
        platform_admin: identity.platform_admin,
        grants: identity
            .roles
            .iter()
            .map(|&role| Grant {
                role,
                area_id: None,
            })
            .collect(),
        remote_addr,
    })
}
