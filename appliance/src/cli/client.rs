//! The CLI's client of the daemon's local API.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::BoxError;

/// Talks to one daemon.
#[derive(Debug, Clone)]
pub(crate) struct ApiClient {
    base: String,
    http: reqwest::Client,
}

impl ApiClient {
    pub(crate) fn new(base: &str, token: Option<String>) -> Result<ApiClient, BoxError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("--api {base:?}: expected http://host:port").into());
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the local token holds characters a header cannot carry")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(ApiClient { base, http })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// A path the API answered with (e.g. a snapshot's), as a full URL.
    pub(crate) fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, BoxError> {
        self.send(self.http.get(self.url(path))).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, BoxError> {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    pub(crate) async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, BoxError> {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<T, BoxError> {
        let request = self
            .http
            .request(method, self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body)?);
        self.send(request).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<(), BoxError> {
        let _: Value = self.send(self.http.delete(self.url(path))).await?;
        Ok(())
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, BoxError> {
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                format!(
                    "cannot reach the dipper daemon at {} (is `dipper run` running? see --api)",
                    self.base
                )
            } else {
                format!("talking to the daemon at {}: {e}", self.base)
            }
        })?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.pointer("/message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(format!("the daemon refused ({status}): {message}").into());
        }
        let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        Ok(serde_json::from_slice(body)
            .map_err(|e| format!("the daemon answered something unexpected: {e}"))?)
    }
}

/// Parses a time as RFC 3339 (`2026-11-25T08:00:00+08:00`), or as a civil time in this
/// machine's zone (`2026-11-25 08:00`, `2026-11-25T08:00:00`).
pub(crate) fn parse_time(flag: &str, text: &str) -> Result<jiff::Timestamp, BoxError> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let civil: jiff::civil::DateTime = text.parse().map_err(|_| {
        format!(
            "{flag} {text:?}: expected an RFC 3339 time (2026-11-25T08:00:00+08:00) \
             or a local time (2026-11-25 08:00)"
        )
    })?;
    Ok(civil
        .to_zoned(jiff::tz::TimeZone::system())
        .map_err(|e| format!("{flag} {text:?}: {e}"))?
        .timestamp())
}

/// A Unix-millisecond time as this machine's local time.
pub(crate) fn show_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_local() {
        let t = parse_time("--from", "2026-11-25T08:00:00+08:00").expect("rfc3339");
        assert_eq!(t.as_second(), 1_795_564_800);
        parse_time("--from", "2026-11-25 08:00").expect("local");
        let err = parse_time("--to", "yesterday").expect_err("garbage");
        assert!(err.to_string().contains("--to"), "{err}");
    }
}
