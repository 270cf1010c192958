//! The local page's files, compiled into the binary (see `build.rs`): `/` is `index.html`,
//! `/assets/{name}` any other file of `appliance/web/`. Names are looked up in a fixed
//! table, so no path reaches the file system. Every answer of the server carries the
//! security headers of [`security_headers`].

use axum::{
    extract::{Path, Request},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Scripts and styles only from the box itself, no inline code, no framing, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
    style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, bytes)| (*kind, *bytes))
}

/// An asset with a strong ETag (its content's digest); `If-None-Match` gets 304.
fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some((kind, bytes)) = asset(name) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let digest = Sha256::digest(bytes);
    let etag = format!("\"{}\"", hex(&digest[..12]));
    let cached = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let headers = [
        (header::ETAG, etag.clone()),
        // Checked every time (a new binary has new files), answered 304 when unchanged.
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, [(header::CONTENT_TYPE, kind)], bytes).into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

pub(super) async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name == "index.html" {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    serve(&name, &headers)
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
    fn the_table_holds_the_page_and_nothing_outside_it() {
        assert!(asset("index.html").is_some());
        assert!(asset("app.js").is_some());
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("").is_none());
        for (name, _, _) in ASSETS {
            assert!(!name.contains('/') && !name.contains(".."), "{name}");
        }
    }
}
