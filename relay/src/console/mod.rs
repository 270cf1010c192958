//! The operators' console: a page of plain ES modules over `/api/v1` (docs/design/0090),
//! compiled into the binary by `build.rs`. `/console/` is its page, `/console/{name}` its
//! other files (looked up in a fixed table: no path reaches the file system), `/` and
//! `/console` redirect to it. Every answer here carries [`headers`]: a content security
//! policy without inline scripts, no framing, no sniffing, no referrer.

use axum::{
    Router,
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

use crate::config::{Config, ObjectBackend};
use crate::state::AppState;

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// The console's routes (merged beside the API's).
pub fn routes(state: &AppState) -> Router<AppState> {
    let policy = HeaderValue::from_str(&content_security_policy(&state.config))
        .expect("the policy is ASCII");
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(index))
        .route("/console/{*name}", get(file))
        .layer(axum::middleware::from_fn_with_state(policy, headers))
}

async fn index(headers: HeaderMap) -> Response {
    web_common::serve(ASSETS, "index.html", &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    web_common::serve(ASSETS, &name, &headers)
}

/// Where the console's pictures come from besides the relay: the object store's origin
/// when it is S3 (match snapshots and enrolled photos are shown through presigned URLs).
fn object_store_origin(config: &Config) -> Option<String> {
    if config.objects.backend != ObjectBackend::S3 {
        // The disk backend's URLs are `{public_url}/objects/...`: the relay itself, unless
        // `public_url` names another address.
        return origin(&config.objects.public_url(config.server.listen));
    }
    let s3 = config.objects.s3.as_ref()?;
    match s3.endpoint.as_deref() {
        Some(endpoint) if s3.path_style.unwrap_or(true) => origin(endpoint),
        Some(endpoint) => {
            let (scheme, host) = origin(endpoint)?
                .split_once("://")
                .map(|(a, b)| (a.to_owned(), b.to_owned()))?;
            Some(format!("{scheme}://{}.{host}", s3.bucket))
        }
        None => Some(format!(
            "https://{}.s3.{}.amazonaws.com",
            s3.bucket, s3.region
        )),
    }
}

/// `scheme://host[:port]` of a URL; none when it is not one.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let clean = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    (matches!(scheme, "http" | "https") && clean).then(|| format!("{scheme}://{host}"))
}

/// Scripts, styles and API calls only from the relay itself; pictures also from the object
/// store; nothing framed, no plugins, no `<base>`, forms only to the relay.
pub fn content_security_policy(config: &Config) -> String {
    let images = object_store_origin(config).map_or_else(String::new, |o| format!(" {o}"));
    // Signing in through the OpenID Connect provider fetches its discovery document and its
    // token endpoint.
    let provider = config
        .oidc
        .as_ref()
        .filter(|oidc| oidc.console_client_id.is_some())
        .and_then(|oidc| origin(&oidc.issuer))
        .map_or_else(String::new, |o| format!(" {o}"));
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'{provider}; \
         img-src 'self' data: blob:{images}; manifest-src 'self'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'"
    )
}

/// Adds the console's security headers to every answer of its routes.
async fn headers(State(policy): State<HeaderValue>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_console_and_the_common_files_and_nothing_outside() {
        for name in ["index.html", "app.js", "common/dom.js", "common/base.css"] {
            assert!(web_common::find(ASSETS, name).is_some(), "{name}");
        }
        for name in ["../Cargo.toml", "", "common/../app.js", "/etc/passwd"] {
            assert!(web_common::find(ASSETS, name).is_none(), "{name}");
        }
    }

    #[test]
    fn origins_are_read_from_urls_and_nothing_else() {
        assert_eq!(
            origin("http://127.0.0.1:9000/bucket").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            origin("https://s3.example.com").as_deref(),
            Some("https://s3.example.com")
        );
        assert_eq!(origin("javascript:alert(1)"), None);
        assert_eq!(origin("http://a b;script-src *"), None);
        assert_eq!(origin("ftp://host"), None);
    }
}
