//! Test plumbing: start a registry on a backend, talk to it over real HTTP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use evc_registry::{spawn, RunningServer, ServerConfig, StorageUrl, CONTENT_TYPE_V1};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Where PostgreSQL tests connect; the database must be reachable (tests fail, never skip).
pub fn postgres_url() -> String {
    std::env::var("EVC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Memory,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (or test process) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// Storage for one test: a SQLite file in a temp dir, a fresh PostgreSQL schema, or memory.
pub struct Store {
    pub url: StorageUrl,
    pub _dir: Option<TempDir>,
    pub pg_schema: Option<String>,
    dropped: AtomicBool,
}

impl Store {
    pub fn new(backend: Backend) -> Store {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = StorageUrl::Sqlite(dir.path().join("registry.db"));
                Store {
                    url,
                    _dir: Some(dir),
                    pg_schema: None,
                    dropped: AtomicBool::new(false),
                }
            }
            Backend::Postgres => {
                let schema = unique("evc_t");
                let url =
                    StorageUrl::parse(&format!("{}?schema={schema}", postgres_url())).unwrap();
                Store {
                    url,
                    _dir: None,
                    pg_schema: Some(schema),
                    dropped: AtomicBool::new(false),
                }
            }
            Backend::Memory => Store {
                url: StorageUrl::Memory,
                _dir: None,
                pg_schema: None,
                dropped: AtomicBool::new(false),
            },
        }
    }

    /// Drops the PostgreSQL schema (if any).
    pub async fn cleanup(&self) {
        if let Some(schema) = &self.pg_schema {
            drop_pg_schema(schema).await;
            self.dropped.store(true, Ordering::SeqCst);
        }
    }
}

async fn drop_pg_schema(schema: &str) {
    let pool = sqlx::PgPool::connect(&postgres_url())
        .await
        .expect("PostgreSQL must be reachable");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

impl Drop for Store {
    /// Also drops the PostgreSQL schema when a test panicked before `cleanup`.
    fn drop(&mut self) {
        if self.dropped.load(Ordering::SeqCst) {
            return;
        }
        if let Some(schema) = self.pg_schema.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(drop_pg_schema(&schema));
            })
            .join();
        }
    }
}

pub fn config(url: &StorageUrl) -> ServerConfig {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    ServerConfig::new(addr, url.clone())
}

pub async fn start_server(config: ServerConfig) -> RunningServer {
    let what = config.storage.to_string();
    match spawn(config).await {
        Ok(s) => s,
        Err(e) => panic!(
            "could not start the registry on {what}: {e} (PostgreSQL tests need a server at {})",
            postgres_url()
        ),
    }
}

/// One registry server over HTTP.
pub struct Env {
    pub server: RunningServer,
    pub client: Client,
    pub store: Store,
}

impl Env {
    pub async fn start(backend: Backend) -> Env {
        Env::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut ServerConfig)) -> Env {
        let store = Store::new(backend);
        let mut cfg = config(&store.url);
        tweak(&mut cfg);
        let server = start_server(cfg).await;
        let client = Client::new(&server.url());
        Env {
            server,
            client,
            store,
        }
    }

    pub async fn finish(self) {
        self.server.stop().await.unwrap();
        self.store.cleanup().await;
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.text))
    }

    /// Asserts a Confluent error answer with this HTTP status and error code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u64) -> String {
        assert_eq!(self.status, status, "status of {}", self.text);
        let v = self.json();
        assert_eq!(v["error_code"], json!(code), "error_code of {}", self.text);
        let msg = v["message"].as_str().expect("message").to_string();
        assert!(!msg.is_empty());
        assert_eq!(
            v.as_object().unwrap().len(),
            2,
            "only error_code and message: {v}"
        );
        msg
    }

    #[track_caller]
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got {}", self.text);
        self.json()
    }
}

/// A small HTTP client that checks every answer carries the registry content type.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub auth: Option<(String, String)>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            base: base.to_string(),
            http: reqwest::Client::new(),
            auth: None,
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(ct) = content_type {
            rb = rb.header("content-type", ct);
        }
        if let Some((u, p)) = &self.auth {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let r = rb.send().await.expect("request failed");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        assert_eq!(
            content_type, CONTENT_TYPE_V1,
            "content type of {path} answer {status}: {text}"
        );
        Resp {
            status,
            text,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(
            reqwest::Method::POST,
            path,
            Some(CONTENT_TYPE_V1),
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(
            reqwest::Method::PUT,
            path,
            Some(CONTENT_TYPE_V1),
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    /// Registers `schema` (text) under `subject`; answers (id, version) or panics.
    pub async fn register(&self, subject: &str, schema: &str) -> (i64, i64) {
        let r = self
            .post(
                &format!("/subjects/{subject}/versions"),
                &json!({"schema": schema}),
            )
            .await;
        let v = r.ok();
        (v["id"].as_i64().unwrap(), v["version"].as_i64().unwrap())
    }
}

/// A record schema `ns.Name` with `(field, type JSON)` fields.
pub fn record(name: &str, fields: &[(&str, Value)]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t}))
        .collect();
    json!({"type": "record", "name": name, "namespace": "t", "fields": fields}).to_string()
}

pub fn user_v1() -> String {
    record("User", &[("id", json!("long"))])
}

/// v1 plus a field with a default: BACKWARD compatible.
pub fn user_v2() -> String {
    json!({"type": "record", "name": "User", "namespace": "t", "fields": [
        {"name": "id", "type": "long"},
        {"name": "email", "type": "string", "default": ""}]})
    .to_string()
}

/// v1 plus a field without a default: not BACKWARD compatible.
pub fn user_bad() -> String {
    record("User", &[("id", json!("long")), ("age", json!("int"))])
}

/// Declares `#[tokio::test]`s running `async fn name(Backend)` on SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Declares `#[tokio::test]`s running `async fn name(Backend)` on SQLite, PostgreSQL and memory.
#[macro_export]
macro_rules! on_all {
    ($($name:ident),* $(,)?) => {
        $crate::on_both!($($name),*);
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Memory).await
                }
            )*
        }
    };
}
