//! Test servers: the real evc-registry on 127.0.0.1:0 behind a recording layer, a registry
//! that fails N times first, a server answering fixed bodies, and an address that refuses
//! connections.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use evc_registry::{BasicAuth, Registry, ServerConfig, StorageUrl};
use evc_registry_client::{RegistryClient, RetryPolicy};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

/// What a test server saw, and how many requests it should fail first.
#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Vec<Seen>>,
    fail_first: AtomicUsize,
    fail_status: AtomicUsize,
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn paths(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }

    pub fn last_authorization(&self) -> Option<String> {
        self.seen.lock().unwrap().last()?.authorization.clone()
    }

    /// The next `n` requests answer `status` (with a Confluent error body).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.fail_status.store(status as usize, Ordering::SeqCst);
        self.fail_first.store(n, Ordering::SeqCst);
    }
}

async fn record(State(rec): State<Arc<Recorder>>, req: Request, next: Next) -> Response {
    rec.seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        authorization: req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let failing = rec
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        let status = rec.fail_status.load(Ordering::SeqCst) as u16;
        let code = u32::from(status) * 100 + 3;
        let mut resp = (
            StatusCode::from_u16(status).unwrap(),
            format!(r#"{{"error_code":{code},"message":"try again later"}}"#),
        )
            .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
        return resp;
    }
    next.run(req).await
}

/// A server on 127.0.0.1:0, stopped when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub rec: Arc<Recorder>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` (behind the recording layer) on 127.0.0.1:0.
pub async fn serve(app: Router) -> Server {
    let rec = Arc::new(Recorder::default());
    let app = app.layer(from_fn_with_state(rec.clone(), record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { addr, rec, task }
}

/// The real evc-registry (memory storage), optionally with basic-auth users.
pub async fn live(auth: Option<&str>) -> Server {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), StorageUrl::Memory);
    config.auth = auth.map(|users| BasicAuth::parse(users).unwrap());
    let registry = Registry::open(&config).await.unwrap();
    serve(evc_registry::router(registry)).await
}

/// A base URL nothing listens on (the port was just free).
pub async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Fast retries, so tests of retrying take milliseconds.
pub fn fast_retry(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

pub fn client(urls: &str) -> RegistryClient {
    RegistryClient::builder(urls)
        .retry(fast_retry(3))
        .build()
        .unwrap()
}

pub const PING_V1: &str =
    r#"{"type":"record","name":"Ping","namespace":"t","fields":[{"name":"id","type":"string"}]}"#;
/// Adds a field with a default: backward compatible with v1.
pub const PING_V2: &str = r#"{"type":"record","name":"Ping","namespace":"t","fields":[{"name":"id","type":"string"},{"name":"n","type":"int","default":0}]}"#;
/// Changes `id` to int: not readable from v1 data.
pub const PING_BAD: &str =
    r#"{"type":"record","name":"Ping","namespace":"t","fields":[{"name":"id","type":"int"}]}"#;
