//! API calls as a tenant is billed for them: the middleware that counts each answered call
//! to the caller's own tenant, by route class.
//!
//! The tenant is the caller's, learnt when [`crate::auth::Principal`] is extracted (it fills
//! the request's [`CallSlot`]), never the tenant a path names: a call naming another
//! tenant's id is counted to the caller, so nobody can run up another tenant's bill.
//! Platform admins, unauthenticated calls and answers of 500 and above are not counted.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

use crate::db::now_ms;
use crate::state::AppState;

/// What kind of call, as priced and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallClass {
    /// A GET.
    Read,
    /// A change (POST, PUT, PATCH, DELETE) other than the two below.
    Write,
    /// Starting a remote search.
    Search,
    /// Uploading a photo to the face library.
    Upload,
    /// A box calling with its device credential.
    Device,
}

impl CallClass {
    pub fn as_str(self) -> &'static str {
        match self {
            CallClass::Read => "read",
            CallClass::Write => "write",
            CallClass::Search => "search",
            CallClass::Upload => "upload",
            CallClass::Device => "device",
        }
    }

    /// The class of a user's call to the route `template` with `method`.
    pub fn of(method: &Method, template: &str) -> CallClass {
        if method == Method::GET || method == Method::HEAD {
            CallClass::Read
        } else if method == Method::POST && template.ends_with("/searches") {
            CallClass::Search
        } else if method == Method::POST && template.ends_with("/photos") {
            CallClass::Upload
        } else {
            CallClass::Write
        }
    }
}

/// Who the call is billed to, filled by the principal's extractor.
#[derive(Debug, Clone, Default)]
pub struct CallSlot(Arc<Mutex<Option<Caller>>>);

/// The billed side of an authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub tenant: Uuid,
    pub device: bool,
}

impl CallSlot {
    /// Records the caller, if it belongs to a tenant (platform admins do not).
    pub fn fill(&self, tenant: Option<Uuid>, device: bool) {
        if let Some(tenant) = tenant {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(Caller { tenant, device });
        }
    }

    fn caller(&self) -> Option<Caller> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts each call answered below 500 to its caller's tenant. Mounted with `route_layer`,
/// so it sees the matched route.
pub async fn count(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let slot = CallSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned);
    let response = next.run(request).await;
    if response.status().is_server_error() {
        return response;
    }
    if let (Some(caller), Some(template)) = (slot.caller(), template) {
        let class = if caller.device {
            CallClass::Device
        } else {
            CallClass::of(&method, &template)
        };
        state.meters.call(caller.tenant, class, key, now_ms());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let searches = "/api/v1/tenants/{tenant_id}/searches";
        assert_eq!(CallClass::of(&Method::GET, searches), CallClass::Read);
        assert_eq!(CallClass::of(&Method::POST, searches), CallClass::Search);
        let photos = "/api/v1/tenants/{tenant_id}/people/{person_id}/photos";
        assert_eq!(CallClass::of(&Method::POST, photos), CallClass::Upload);
        let areas = "/api/v1/tenants/{tenant_id}/areas";
        assert_eq!(CallClass::of(&Method::POST, areas), CallClass::Write);
        assert_eq!(CallClass::of(&Method::DELETE, photos), CallClass::Write);
    }
}
