//! Answering a name from an embedded table.

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use crate::Asset;

/// The content type and bytes of `name` in `assets`.
pub fn find(assets: &[Asset], name: &str) -> Option<(&'static str, &'static [u8])> {
    assets
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, bytes)| (*kind, *bytes))
}

/// `name` from `assets` with a strong ETag (its content's digest), revalidated every time
/// (`no-cache`: a new binary has new files); `If-None-Match` gets 304, an unknown name 404.
pub fn serve(assets: &[Asset], name: &str, request: &HeaderMap) -> Response {
    let Some((kind, bytes)) = find(assets, name) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let digest = Sha256::digest(bytes);
    let etag = format!(
        "\"{}\"",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cached = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let headers = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, [(header::CONTENT_TYPE, kind)], bytes).into_response()
}

/// The values of the cookies named `name` among a request's `Cookie` headers, in order, as
/// sent.
pub fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, value)| value)
}
