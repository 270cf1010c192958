//! The local page's files, compiled into the binary (see `build.rs`): `/` is `index.html`,
//! `/assets/{name}` any other file of `appliance/web/`, `/assets/common/{name}` one of the
//! files it shares with the relay's console (`web-common/assets/`). Names are looked up in a
//! fixed table, so no path reaches the file system; `web_common::serve` answers them with an
//! ETag. Every answer of the server carries the security headers of [`security_headers`].

use axum::{
    extract::{Path, Request},
    http::{HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Scripts and styles only from the box itself, no inline code, no framing, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
    style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub(super) async fn index(headers: HeaderMap) -> Response {
    web_common::serve(ASSETS, "index.html", &headers)
}

pub(super) async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name == "index.html" {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    web_common::serve(ASSETS, &name, &headers)
}

/// Adds the page's security headers to every answer.
pub(super) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_page_and_the_common_files_and_nothing_outside() {
        for name in ["index.html", "app.js", "common/dom.js", "common/base.css"] {
            assert!(web_common::find(ASSETS, name).is_some(), "{name}");
        }
        for name in [
            "../Cargo.toml",
            "",
            "common/../app.js",
            "/etc/passwd",
            "common/",
        ] {
            assert!(web_common::find(ASSETS, name).is_none(), "{name}");
        }
        for (name, _, _) in ASSETS {
            let own = name.strip_prefix("common/").unwrap_or(name);
            assert!(!own.contains('/') && !own.contains(".."), "{name}");
        }
    }
}
