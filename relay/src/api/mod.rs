//! The HTTP API: every route, the OpenAPI document generated from them, and the layers
//! around them (body limit, metrics).
//!
//! Routes live under `/api/v1`; tenant data under `/api/v1/tenants/{tenant_id}/...`, where
//! the tenant in the path is only accepted if it is the caller's own (or the caller is a
//! platform admin): another tenant's id, and every object in it, answers 404. Every route is
//! registered through `utoipa_axum`, so a route cannot exist without its entry in
//! `/api/v1/openapi.json`.

pub mod areas;
pub mod audit_log;
pub mod billing;
pub mod devices;
pub mod dunning;
pub mod health;
pub mod invoice_print;
pub mod invoices;
pub mod notifications;
pub mod objects;
pub mod payments;
pub mod people;
pub mod reports;
pub mod rpc;
pub mod searches;
pub mod session;
pub mod software;
pub mod tenants;
pub mod types;
pub mod users;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as OpenApiDoc, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use uuid::Uuid;

use crate::auth::{Principal, Role};
use crate::db::{Mode, Scope, Tx};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The tenant `tenant_id` as the caller may name it ([`Principal::tenant_for`]) and a
/// transaction scoped to it.
pub(crate) async fn begin(
    state: &AppState,
    principal: &Principal,
    tenant_id: Uuid,
    mode: Mode,
) -> Result<(Tx, Uuid), ApiError> {
    let tenant = principal.tenant_for(tenant_id)?;
    Ok((state.db.begin(Scope::Tenant(tenant), mode).await?, tenant))
}

/// The start of a list of the tenant's `page`: the tenant named, the caller's `role` if one
/// is needed, the page's bounds, in that order of errors; then [`begin_existing`] to read.
pub(crate) async fn begin_list(
    (state, principal): (&AppState, &Principal),
    tenant_id: Uuid,
    page: &types::Page,
    role: Option<Role>,
) -> Result<(Tx, Uuid, (i64, i64)), ApiError> {
    principal.tenant_for(tenant_id)?;
    if let Some(role) = role {
        principal.require_tenant_role(role)?;
    }
    let bounds = page.bounds()?;
    let (tx, tenant) = begin_existing(state, principal, tenant_id, Mode::Read).await?;
    Ok((tx, tenant, bounds))
}

/// 404 unless `tenant` exists and is made (not `creating`): for the platform admins' runs
/// that name one tenant in their body.
pub(crate) async fn require_made_tenant(state: &AppState, tenant: Uuid) -> Result<(), ApiError> {
    let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
    let found = crate::store::tenants::find(&mut tx, tenant).await?;
    tx.commit().await?;
    if found.is_none_or(|t| t.status == "creating") {
        return Err(ApiError::not_found());
    }
    Ok(())
}

/// [`begin`], then 404 unless the tenant exists (a platform admin may name any id).
pub(crate) async fn begin_existing(
    state: &AppState,
    principal: &Principal,
    tenant_id: Uuid,
    mode: Mode,
) -> Result<(Tx, Uuid), ApiError> {
    let (mut tx, tenant) = begin(state, principal, tenant_id, mode).await?;
    principal.require_tenant_exists(&mut tx, tenant).await?;
    Ok((tx, tenant))
}

/// [`begin_existing`] for the tenant admins' pages: the caller must name its own tenant
/// (or be a platform admin) and hold the tenant admin role.
pub(crate) async fn begin_as_tenant_admin(
    state: &AppState,
    principal: &Principal,
    tenant_id: Uuid,
    mode: Mode,
) -> Result<(Tx, Uuid), ApiError> {
    principal.tenant_for(tenant_id)?;
    principal.require_tenant_role(Role::TenantAdmin)?;
    begin_existing(state, principal, tenant_id, mode).await
}

/// A page of the tenant's `T` in the areas the caller sees.
pub(crate) async fn list_visible_page<T: crate::store::VisibleRow>(
    (state, principal): (&AppState, &Principal),
    tenant_id: Uuid,
    page: &types::Page,
) -> Result<Vec<T>, ApiError> {
    let (mut tx, tenant, bounds) = begin_list((state, principal), tenant_id, page, None).await?;
    let visible = areas::visibility(principal);
    let items = crate::store::list_visible(&mut tx, tenant, visible, bounds).await?;
    tx.commit().await?;
    Ok(items)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dipper relay",
        description = "Tenants, areas, users and roles, devices, remote searches and audit of the Dipper cloud relay.",
        version = "1"
    ),
    modifiers(&Security, &ErrorSchema),
    components(schemas(ErrorCode))
)]
struct ApiDoc;

/// Publishes `ErrorBody`, the body of every error: [`protocol::ErrorBody`], whose `error`
/// the relay answers only from its closed set [`ErrorCode`].
struct ErrorSchema;

impl Modify for ErrorSchema {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        use utoipa::openapi::schema::{RefBuilder, Schema};
        let mut body = <protocol::ErrorBody as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut body {
            object.description = Some(
                "The body of every error response. The message is the relay's own sentence: it \
                 never\nquotes the request or names a library."
                    .to_owned(),
            );
            let code = RefBuilder::new()
                .ref_location_from_schema_name("ErrorCode")
                .description(Some("A stable machine-readable code."))
                .build();
            object
                .properties
                .insert("error".to_owned(), RefOr::Ref(code));
            if let Some(RefOr::T(Schema::Object(message))) = object.properties.get_mut("message") {
                message.description = Some("A sentence for a person.".to_owned());
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert("ErrorBody".to_owned(), body);
    }
}

/// Adds the bearer-token scheme the protected routes name, and the device-credential scheme
/// of the routes a box calls.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "device",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Device <device_id>:<credential>`, the credential a box received at activation",
            ))),
        );
    }
}

/// Documents, on every operation, the error statuses any request may get (all with the
/// `ErrorBody` shape), so a client and schemathesis know every status the relay answers.
struct StandardErrors;

const STANDARD_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Malformed request: bad JSON, unknown field, wrong type, bad id; `field` names it",
    ),
    ("401", "Missing, invalid or expired credentials"),
    (
        "403",
        "Authenticated but not allowed, or the tenant is disabled (`tenant_disabled`)",
    ),
    ("404", "No such object, or it belongs to another tenant"),
    ("405", "Method not allowed on this path"),
    ("409", "Conflicts with existing data"),
    ("413", "Body larger than the relay accepts"),
    ("415", "Body is not JSON"),
    ("422", "Well-formed but refused value; `field` names it"),
    ("429", "Rate limited or login locked; see Retry-After"),
    ("500", "Internal error (logged)"),
    (
        "503",
        "Database busy or a creation step failed; see Retry-After",
    ),
];

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (status, description) in STANDARD_ERRORS {
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(*description)
                                    .content(
                                        "application/json",
                                        ContentBuilder::new()
                                            .schema(Some(RefOr::Ref(
                                                utoipa::openapi::Ref::from_schema_name("ErrorBody"),
                                            )))
                                            .build(),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

/// The router an area's routes are added to.
type Routes = OpenApiRouter<AppState>;

/// Every route, one area after another.
fn api_router() -> OpenApiRouter<AppState> {
    let areas: [fn(Routes) -> Routes; 5] = [
        service_routes,
        organisation_routes,
        device_routes,
        billing_routes,
        people_routes,
    ];
    areas.into_iter().fold(
        OpenApiRouter::with_openapi(ApiDoc::openapi()),
        |router, add| add(router),
    )
}

/// The service itself (health, metrics, the document) and sessions.
fn service_routes(router: Routes) -> Routes {
    router
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::openapi_json))
        .routes(routes!(session::login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::auth_config))
}

/// Tenants, their areas, users and grants, notification channels and the audit log.
fn organisation_routes(router: Routes) -> Routes {
    router
        .routes(routes!(tenants::list_tenants, tenants::create_tenant))
        .routes(routes!(
            tenants::get_tenant,
            tenants::update_tenant,
            tenants::delete_tenant
        ))
        .routes(routes!(tenants::enable_tenant))
        .routes(routes!(tenants::disable_tenant))
        .routes(routes!(areas::list_areas, areas::create_area))
        .routes(routes!(
            areas::get_area,
            areas::update_area,
            areas::delete_area
        ))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(
            users::get_user,
            users::update_user,
            users::delete_user
        ))
        .routes(routes!(users::list_grants, users::create_grant))
        .routes(routes!(users::delete_grant))
        .routes(routes!(audit_log::list_audit))
        .routes(routes!(
            notifications::list_channels,
            notifications::add_channel
        ))
        .routes(routes!(notifications::delete_channel))
        .routes(routes!(notifications::list_notices))
}

/// Boxes, their calls and searches, stored objects and software.
fn device_routes(router: Routes) -> Routes {
    router
        .routes(routes!(devices::list_devices, devices::register_device))
        .routes(routes!(devices::get_device, devices::update_device))
        .routes(routes!(devices::issue_provisioning_key))
        .routes(routes!(devices::decommission_device))
        .routes(routes!(devices::activate_device))
        .routes(routes!(devices::device_me))
        .routes(routes!(rpc::send_rpc))
        .routes(routes!(rpc::get_rpc))
        .routes(routes!(
            searches::list_searches,
            searches::create::create_search
        ))
        .routes(routes!(
            searches::get_search,
            searches::cancel::cancel_search
        ))
        .routes(routes!(searches::list_results))
        .routes(routes!(searches::events::search_events))
        .routes(routes!(objects::get_object, objects::put_object))
        .routes(routes!(software::list_packages, software::upload_package))
        .routes(routes!(software::list_rollouts, software::start_rollout))
        .routes(routes!(software::get_rollout))
}

/// Billing: settings and usage, pricing rules, invoices, payments, dunning and reports.
fn billing_routes(router: Routes) -> Routes {
    router
        .routes(routes!(
            billing::get_billing_settings,
            billing::set_billing_settings
        ))
        .routes(routes!(billing::get_usage))
        .routes(routes!(
            invoices::list_pricing_rules,
            invoices::create_pricing_rule
        ))
        .routes(routes!(invoices::list_invoices))
        .routes(routes!(invoices::get_invoice))
        .routes(routes!(invoices::run_billing))
        .routes(routes!(payments::record_payment))
        .routes(routes!(payments::issue_credit_note))
        .routes(routes!(payments::void_invoice))
        .routes(routes!(invoice_print::invoice_html))
        .routes(routes!(invoice_print::invoice_csv))
        .routes(routes!(dunning::get_standing))
        .routes(routes!(dunning::run_dunning))
        .routes(routes!(reports::revenue))
        .routes(routes!(reports::tenants_by_state))
        .routes(routes!(reports::usage_by_tenant))
}

/// People and their photos.
fn people_routes(router: Routes) -> Routes {
    router
        .routes(routes!(people::list_people, people::create_person))
        .routes(routes!(
            people::get_person,
            people::update_person,
            people::delete_person
        ))
        .routes(routes!(people::add_photo))
        .routes(routes!(people::delete_photo))
}

/// axum's wildcard `{*key}` is the OpenAPI parameter `{key}` (which may hold slashes).
fn document_wildcards(doc: &mut OpenApiDoc) {
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
}

/// The OpenAPI document of every route.
pub fn openapi() -> Arc<OpenApiDoc> {
    static DOC: OnceLock<Arc<OpenApiDoc>> = OnceLock::new();
    DOC.get_or_init(|| {
        // Modifiers run when `ApiDoc::openapi()` is called, before the routes are merged in;
        // the per-operation ones run again here over the whole document.
        let mut doc = api_router().split_for_parts().1;
        document_wildcards(&mut doc);
        StandardErrors.modify(&mut doc);
        Arc::new(doc)
    })
    .clone()
}

/// The whole application: routes, body limit and metrics, over `state`.
pub fn router(state: AppState) -> Router {
    crate::metrics::handle();
    let (router, _) = api_router().split_for_parts();
    let max_body = state.config.server.max_body_bytes;
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metering::calls::count,
        ))
        .route_layer(axum::middleware::from_fn(crate::metrics::track))
        // The console's page and files: not API calls, so neither metered nor in the
        // API's metrics.
        .merge(crate::console::routes(&state))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn fallback() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        crate::error::ErrorCode::NotFound,
        "no such route",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        crate::error::ErrorCode::MethodNotAllowed,
        "this method is not allowed on this path",
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::types::{EMAIL_PATTERN, NAME_PATTERN};

    /// Every `(schema, property, pattern)` of the document's component schemas.
    fn patterns() -> Vec<(String, String, String)> {
        let doc = serde_json::to_value(&*super::openapi()).expect("document");
        let mut found = Vec::new();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for (schema, body) in schemas {
            let Some(properties) = body["properties"].as_object() else {
                continue;
            };
            for (property, spec) in properties {
                if let Some(pattern) = spec["pattern"].as_str() {
                    found.push((schema.clone(), property.clone(), pattern.to_owned()));
                }
            }
        }
        found
    }

    #[test]
    fn names_and_emails_are_documented_as_checked() {
        let found = patterns();
        let mut names = 0;
        for (schema, property, pattern) in &found {
            let expected = match property.as_str() {
                "name" | "group" | "display_name" => NAME_PATTERN,
                "email" => EMAIL_PATTERN,
                _ => continue,
            };
            names += 1;
            assert_eq!(pattern, expected, "{schema}.{property}");
        }
        assert!(names >= 8, "{found:?}");
    }

    #[test]
    fn error_codes_are_documented() {
        let doc = serde_json::to_value(&*super::openapi()).expect("document");
        let listed: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("the ErrorCode enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let codes: Vec<&str> = crate::error::ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(listed, codes);
    }
}
