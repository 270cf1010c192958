//! The one error type of the HTTP API and its one `IntoResponse`: a status code and a JSON
//! body `{"error": code, "message": text, "field": name}` that names the offending field
//! where there is one. Codes are the closed set [`ErrorCode`], published in the OpenAPI
//! document; messages are the relay's own sentences, never a library's error text or the
//! client's input echoed back. Internal failures are logged with their whole chain here and
//! answered with a generic message; nothing about the database reaches a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::ErrorBody;
use serde::Serialize;
use utoipa::ToSchema;

/// Declares [`ErrorCode`]: every code the relay answers, with its text.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A stable, machine-readable error code. Clients may branch on it; the set only
        /// grows, and a code never changes meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    /// 400: the body is not JSON, or not complete.
    MalformedJson = "malformed_json",
    /// 400: a required field is absent (`field` names it).
    MissingField = "missing_field",
    /// 400: a field the request does not have (`field` names it).
    UnknownField = "unknown_field",
    /// 400: a field given twice (`field` names it).
    DuplicateField = "duplicate_field",
    /// 400: a field of the wrong type or with a refused value; 422: a well-formed value the
    /// relay refuses (`field` names it).
    InvalidField = "invalid_field",
    /// 400: a malformed path parameter (`field` names it).
    InvalidPath = "invalid_path",
    /// 400: a malformed query parameter (`field` names it where there is one).
    InvalidQuery = "invalid_query",
    /// 400: a missing or malformed header (`field` names it).
    InvalidHeader = "invalid_header",
    /// 400: the body could not be read.
    BadBody = "bad_body",
    /// 401: no bearer token.
    TokenMissing = "token_missing",
    /// 401: the bearer token is not one the relay accepts.
    TokenInvalid = "token_invalid",
    /// 401: the access token has expired; refresh it.
    TokenExpired = "token_expired",
    /// 401: the token's session was ended (logout, refresh-token reuse, password change,
    /// user disabled or removed); sign in again.
    SessionRevoked = "session_revoked",
    /// 401: the user is disabled.
    UserDisabled = "user_disabled",
    /// 401: wrong e-mail, tenant or password.
    InvalidCredentials = "invalid_credentials",
    /// 401: the refresh token is unknown, revoked or expired; sign in again.
    RefreshTokenInvalid = "refresh_token_invalid",
    /// 401: the refresh token was used before; its whole session is revoked.
    RefreshTokenReused = "refresh_token_reused",
    /// 401: the provisioning key is unknown, used, expired or not this device's.
    ProvisioningKeyInvalid = "provisioning_key_invalid",
    /// 403: authenticated but not allowed.
    Forbidden = "forbidden",
    /// 403: the caller's tenant is disabled.
    TenantDisabled = "tenant_disabled",
    /// 402: the tenant is suspended for an unpaid invoice: no search starts and no device
    /// changes until it is paid (reading, signing in and paying still work).
    TenantSuspended = "tenant_suspended",
    /// 403: a signed object URL refused: altered, signed for another key, method or content
    /// type, or expired.
    UrlRefused = "url_refused",
    /// 404: no such object (or another tenant's), or no such route.
    NotFound = "not_found",
    /// 405: the method is not allowed on this path.
    MethodNotAllowed = "method_not_allowed",
    /// 409: the change conflicts with existing data.
    Conflict = "conflict",
    /// 409: the tenant already has a user with this e-mail.
    EmailTaken = "email_taken",
    /// 409: an `Idempotency-Key` reused for another request.
    IdempotencyKeyReused = "idempotency_key_reused",
    /// 409: a creation with this `Idempotency-Key` is running; see Retry-After.
    CreationInProgress = "creation_in_progress",
    /// 409: the area still has child areas or devices.
    AreaNotEmpty = "area_not_empty",
    /// 409: the device is not awaiting activation.
    DeviceNotRegistered = "device_not_registered",
    /// 409: the box is not connected; send a persistent RPC to have it delivered later.
    DeviceOffline = "device_offline",
    /// 409: the device is not active (awaiting activation, or decommissioned).
    DeviceNotActive = "device_not_active",
    /// 422: a search's scope (its areas and devices) holds no active box.
    EmptyScope = "empty_scope",
    /// 422: the person has no photo in the face library: there is nothing to search for.
    PersonWithoutPhotos = "person_without_photos",
    /// 413: the body is larger than the relay accepts.
    BodyTooLarge = "body_too_large",
    /// 415: the body is not JSON.
    UnsupportedMediaType = "unsupported_media_type",
    /// 429: too many requests; see Retry-After.
    RateLimited = "rate_limited",
    /// 429: too many failed sign-ins for this account; see Retry-After.
    LoginLocked = "login_locked",
    /// 500: an internal error, logged.
    Internal = "internal",
    /// 503: the database is busy; see Retry-After.
    Unavailable = "unavailable",
    /// 503: the database is unreachable (readiness).
    NotReady = "not_ready",
    /// 503: a tenant's creation failed and was undone; see Retry-After.
    TenantCreationFailed = "tenant_creation_failed",
    /// 503: this relay has no broker configured, or cannot reach it; see Retry-After.
    BrokerUnavailable = "broker_unavailable",
    /// 503: the object store (S3) cannot be reached or did not answer in time; see
    /// Retry-After.
    ObjectStoreUnavailable = "object_store_unavailable",
    /// 504: the box did not answer the RPC within its timeout.
    RpcTimeout = "rpc_timeout",
    /// 422: the photo is not a JPEG or PNG image that can be read.
    NotAnImage = "not_an_image",
    /// 422: no face was found in the photo.
    NoFace = "no_face",
    /// 422: the photo shows several faces; a library photo shows one person.
    SeveralFaces = "several_faces",
    /// 422: the photo's face fails the quality gate (too small, blurred, turned away...).
    FaceUnusable = "face_unusable",
    /// 503: the relay's face models did not load; see its log.
    EmbedderUnavailable = "embedder_unavailable",
}

/// An error answered to a client, with the body both programs answer errors with
/// ([`protocol::ErrorBody`]); its `error` is always one of the [`ErrorCode`]s.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    body: ErrorBody,
    retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            body: ErrorBody::new(code.as_str(), message),
            retry_after_seconds: None,
        }
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body = self.body.with_field(field);
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds.max(1));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.body.message
    }

    /// 404: the object does not exist, or belongs to another tenant; the two are never told
    /// apart.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such object")
    }

    /// 401 with `code`, which says what the client should do next.
    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn tenant_disabled() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorCode::TenantDisabled,
            "this tenant is disabled; ask the platform operator to enable it",
        )
    }

    /// 402: the tenant is suspended for an unpaid invoice.
    pub fn tenant_suspended() -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            ErrorCode::TenantSuspended,
            "this tenant is suspended for an unpaid invoice: searches and device changes are \
             refused until it is paid; invoices are under /billing",
        )
    }

    /// 400 for a query parameter (`field`) the relay refuses.
    pub fn invalid_query(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message).with_field(field)
    }

    /// 422 for a well-formed request whose field has a value the relay refuses.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
            message,
        )
        .with_field(field)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn too_many_requests(
        code: ErrorCode,
        message: impl Into<String>,
        retry_after: u64,
    ) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, message).with_retry_after(retry_after)
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the database is busy; retry shortly",
        )
        .with_retry_after(1)
    }

    /// 503: the relay has no `[broker]`, so nothing reaches the boxes.
    pub fn no_broker() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::BrokerUnavailable,
            "this relay has no broker configured ([broker] in its configuration); boxes \
             cannot be reached",
        )
    }

    /// 503: the broker did not do what was asked; logged, and worth retrying.
    pub fn broker(error: &crate::broker::BrokerError) -> Self {
        tracing::warn!(%error, "the broker refused or did not answer");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::BrokerUnavailable,
            "the broker could not be reached or refused the change; nothing was changed, \
             retry shortly",
        )
        .with_retry_after(5)
    }

    /// 500. Logs `error` with its whole chain; the client learns nothing of it.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "internal error answering a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; it has been logged",
        )
    }
}

impl From<crate::objects::ObjectError> for ApiError {
    /// `Unavailable` is 503 `object_store_unavailable` (worth retrying), `Invalid` 422; the
    /// rest are internal errors, logged.
    fn from(error: crate::objects::ObjectError) -> Self {
        use crate::objects::ObjectError;
        match error {
            ObjectError::Unavailable(_) => {
                tracing::warn!(%error, "the object store is unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::ObjectStoreUnavailable,
                    "the object store cannot be reached; nothing was stored, retry shortly",
                )
                .with_retry_after(5)
            }
            ObjectError::Invalid(message) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidField,
                message,
            ),
            other => ApiError::internal(&other),
        }
    }
}

impl ApiError {
    /// 500 for a failure described by `detail`, which is logged; the client learns nothing
    /// of it.
    pub fn internal_message(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error answering a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after_seconds
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_text() {
        // The OpenAPI document lists the serde names; `as_str` must say the same.
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).expect("serialize"),
                serde_json::Value::from(code.as_str())
            );
        }
    }

    #[test]
    fn object_errors_answer_by_kind() {
        use crate::objects::ObjectError;
        let check = |error: ObjectError, status: StatusCode, code: ErrorCode| {
            let answer = ApiError::from(error);
            assert_eq!((answer.status(), answer.code()), (status, code));
            answer
        };
        let answer = check(
            ObjectError::Unavailable("connection refused".to_owned()),
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ObjectStoreUnavailable,
        );
        assert_eq!(answer.retry_after_seconds, Some(5));
        assert!(
            !answer.message().contains("refused"),
            "no internals: {}",
            answer.message()
        );
        check(
            ObjectError::Invalid("object key must end in .jpg or .png".to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
        );
        let answer = check(
            ObjectError::Refused {
                operation: "PutObject",
                bucket: "b".to_owned(),
                message: "AccessDenied".to_owned(),
            },
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
        );
        assert!(
            !answer.message().contains("AccessDenied"),
            "{}",
            answer.message()
        );
    }
}
