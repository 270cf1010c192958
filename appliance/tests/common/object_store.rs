//! Where the box uploads snapshots, for the uploader's tests: an axum server on 127.0.0.1
//! taking PUTs at presigned-looking URLs, as an object store does. It keeps what it is sent
//! (bytes and content type, by key), logs every request with the status it answered, and
//! can be told to answer a status for a key for a while (503: the store failing; 403: the
//! grant refused). The relay and a real S3 server are wired together in the end-to-end
//! tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    routing::put,
};

/// One stored object.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// A status answered to a key's requests: `times` more of them, or until cleared.
#[derive(Debug, Clone, Copy)]
struct Rule {
    status: u16,
    times: Option<u32>,
}

#[derive(Debug, Default)]
struct Inner {
    objects: HashMap<String, Object>,
    /// Every request: its key and the status answered.
    requests: Vec<(String, u16)>,
    rules: HashMap<String, Rule>,
}

type Shared = Arc<Mutex<Inner>>;

pub struct ObjectStore {
    base: String,
    inner: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl ObjectStore {
    pub async fn start() -> ObjectStore {
        let inner = Shared::default();
        let app = Router::new()
            .route("/bucket/{*key}", put(store))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the store serves");
        });
        ObjectStore {
            base,
            inner,
            server,
        }
    }

    /// A presigned-looking URL of `key` (its query plays the signature).
    pub fn url(&self, key: &str) -> String {
        format!(
            "{}/bucket/{key}?X-Amz-Expires=900&X-Amz-Signature=sig-{key}",
            self.base
        )
    }

    /// Answers `status` to the next `times` requests for `key` (`None`: until cleared).
    pub fn answer(&self, key: &str, status: u16, times: Option<u32>) {
        let rule = Rule { status, times };
        self.lock().rules.insert(key.to_owned(), rule);
    }

    /// Stores what `key` is sent again.
    pub fn clear(&self, key: &str) {
        self.lock().rules.remove(key);
    }

    pub fn object(&self, key: &str) -> Option<Object> {
        self.lock().objects.get(key).cloned()
    }

    /// The statuses answered to the requests for `key`, in order.
    pub fn answers(&self, key: &str) -> Vec<u16> {
        let inner = self.lock();
        let mine = inner.requests.iter().filter(|(k, _)| k == key);
        mine.map(|(_, status)| *status).collect()
    }

    /// Every key a request was made for.
    pub fn requested(&self) -> Vec<String> {
        self.lock()
            .requests
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("the store's lock")
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn store(
    State(inner): State<Shared>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut inner = inner.lock().expect("the store's lock");
    let status = match inner.rules.get_mut(&key) {
        Some(rule) if rule.times != Some(0) => {
            if let Some(times) = &mut rule.times {
                *times -= 1;
            }
            rule.status
        }
        _ => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let object = Object {
                bytes: body.to_vec(),
                content_type,
            };
            inner.objects.insert(key.clone(), object);
            200
        }
    };
    inner.requests.push((key, status));
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
