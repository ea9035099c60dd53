//! evc's Confluent-compatible schema registry server.
//!
//! **Owns:** the registry server: the Confluent Schema Registry REST API (same paths, JSON shapes,
//! content types and error codes as Confluent's, so its clients work unchanged), the rules for
//! ids, versions, soft/hard deletes, compatibility levels and modes, and the storage backends:
//! an embedded SQLite file (`sqlite://PATH`, nothing to install), a throwaway in-memory store
//! (`memory`), and PostgreSQL (`postgres://...`), which several server processes can share.
//!
//! **Does not own:** the Avro rules: parsing and canonical forms are `evc-schema`'s,
//! compatibility decisions are `evc-compat`'s; the registry client; the `evc registry serve`
//! command line (it calls [`serve`]).
//!
//! Only Avro schemas are stored; PROTOBUF and JSON submissions answer 42201.
//!
//! # Confluent's behaviour, and what was chosen where it is unclear
//!
//! Checked against Confluent's documentation and its server's source (`AbstractSchemaRegistry`,
//! the REST entities), not against other re-implementations:
//! - **Identity** is the normalized schema, as Avro Java's `Schema.toString()` prints it: names
//!   relative to the enclosing namespace, so a namespace written out or inherited gives the same
//!   id (`canon`), plus the references and the data contract (metadata and rule set): the same
//!   text with another contract is another schema, with its own id.
//! - **IMPORT** (mode on the subject or globally): the given `id` and `version` are honoured,
//!   compatibility is not checked, versions may have gaps; one schema may get several ids
//!   (another subject, another id); an id already holding another schema answers 42205
//!   ("Overwrite new schema with id ... is not permitted"); the schema already in the subject
//!   under another id answers 42207. Registering without an id in IMPORT, or with one outside
//!   IMPORT, answers 42205.
//! - **Data contracts**: a new version's metadata and rule set are
//!   `merge(merge(defaultX, the request's or else the previous version's), overrideX)` from the
//!   config in force; `confluent:version` in the merged metadata is set to the new version, and
//!   a request naming another version than the next (or the existing one holding the same
//!   schema) answers 409. A re-registration or look-up without a contract finds the version
//!   that has the schema with the contract it would inherit; a look-up then falls back to the
//!   newest version with the same schema whatever its contract (Confluent's `canLookup`).
//! - **Config**: `PUT /config` updates the fields it gives and keeps the others; each field in
//!   force for a subject comes from the subject, else from the global config. `validateFields`
//!   checks `confluent:reserved` (a schema may not define a reserved top-level field nor drop a
//!   reserved name; findings answer 409 like compatibility findings). `compatibilityGroup` checks
//!   only against versions with the same value of that metadata property (absent included).
//!   `alias` makes reads and look-ups of the subject reach the aliased one (registrations are
//!   not redirected). `normalize` applies to registrations, look-ups and compatibility tests.
//! - **READONLY** and READONLY_OVERRIDE refuse config writes of the subject (or, globally, of
//!   any scope) as they refuse registrations and deletes (42205); mode writes stay allowed.
//! - **Deletes with references**: a soft delete is refused (42206) while a live version
//!   references the version; a permanent delete while any version, soft-deleted included, does.
//!   A registration naming a reference that was permanently deleted answers 42201.
//! - **`GET /contexts`** answers the default context `.` only (subject names with a context
//!   prefix are plain names here); **`/v1/metadata/id`** answers a cluster id made once per
//!   database; **`/v1/metadata/version`** this build's version.
//! - **Large bodies**: a body over `Limits::max_body_bytes` answers 413 after the server read
//!   and threw away up to 64 MiB of it, so a client still sending gets the status instead of a
//!   reset connection.
//! - **Caches and several servers**: answers of the hot read paths are cached until a write;
//!   servers sharing PostgreSQL hear each other's writes through `LISTEN/NOTIFY`, servers
//!   sharing a SQLite file poll a change counter every 0.5 s (see `service::changes`). Between
//!   a write on one server and the notification reaching another, the other may answer from its
//!   cache, as a Confluent follower answers from its copy of the `_schemas` log.
//!
//! ```no_run
//! # async fn run() -> Result<(), evc_registry::Error> {
//! use evc_registry::{ServerConfig, StorageUrl};
//! let config = ServerConfig::new("127.0.0.1:8081".parse().unwrap(), StorageUrl::parse("sqlite://registry.db")?);
//! evc_registry::serve(config).await
//! # }
//! ```
//!
//! # Operating it
//!
//! - `GET /health`: the process is alive (liveness probe); never needs credentials.
//! - `GET /ready`: 200 when the storage answers and has every migration of this build, 503
//!   otherwise (readiness probe, load balancers); never needs credentials.
//! - `GET /metrics`: request counts and latencies per route template, answer-cache hits and
//!   misses, subjects and schemas, in the OpenMetrics text format (see `http::metrics` for the
//!   series); behind basic auth when auth is on.
//! - Logs (`tracing`): one DEBUG line per request (an ERROR line for 5xx answers), one INFO
//!   line per state change (registered, deleted, config or mode changed); request headers and
//!   credentials are never logged.
//!
//! In-process (tests, tools): [`spawn`] binds (port 0 is fine) and answers a [`RunningServer`];
//! or build the [`Registry`] and mount [`router`] yourself.

mod canon;
mod compat;
mod error;
mod http;
mod service;
mod store;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use canon::Reference;
pub use compat::{CompatLevel, Mode};
pub use error::Error;
/// The content type of every answer.
pub use evc_registry_api::CONTENT_TYPE_V1;
/// Where the registry keeps its data: `memory`, `sqlite://PATH`, `postgres://...[?schema=NAME]`
/// (evc's one storage URL, from `evc-storage`).
pub use evc_storage::StorageUrl;
pub use http::router;
pub use service::{Registry, ServiceError};

/// Size limits on requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body; larger answers HTTP 413.
    pub max_body_bytes: usize,
    /// Largest schema text; larger answers 42201.
    pub max_schema_bytes: usize,
    /// Deepest JSON nesting of a schema (at most 128); deeper answers 42201.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 4 * 1024 * 1024,
            max_schema_bytes: 2 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

impl Limits {
    /// The limits made safe: depth within 1..=128 (parsers recurse once per level).
    fn clamped(mut self) -> Limits {
        self.max_depth = self.max_depth.clamp(1, evc_schema::json::DEFAULT_MAX_DEPTH);
        self.max_body_bytes = self.max_body_bytes.max(1024);
        self
    }
}

/// Basic-auth users. When configured, every route but `/health` needs valid credentials.
#[derive(Clone)]
pub struct BasicAuth {
    users: HashMap<String, [u8; 32]>,
}

impl BasicAuth {
    /// Reads `user:password` lines (blank lines and `#` comments are skipped).
    pub fn parse(text: &str) -> Result<BasicAuth, Error> {
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    users.insert(user.to_string(), Sha256::digest(password.as_bytes()).into());
                }
                _ => return Err(Error::UsersLine { line: n + 1 }),
            }
        }
        if users.is_empty() {
            return Err(Error::NoUsers);
        }
        Ok(BasicAuth { users })
    }

    /// Reads users from a file of `user:password` lines.
    pub fn from_file(path: &Path) -> Result<BasicAuth, Error> {
        BasicAuth::parse(&std::fs::read_to_string(path)?)
    }

    /// Reads users from an environment variable holding `user:password` lines.
    pub fn from_env(var: &str) -> Result<BasicAuth, Error> {
        let text = std::env::var(var).map_err(|_| Error::MissingEnv {
            var: var.to_string(),
        })?;
        BasicAuth::parse(&text)
    }

    /// The user names.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        let Some((user, password)) = http::basic_credentials(headers) else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        self.users.get(&user).is_some_and(|want| {
            // compare every byte (no early exit)
            want.iter()
                .zip(given.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        })
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut users: Vec<&str> = self.users().collect();
        users.sort_unstable();
        f.debug_struct("BasicAuth").field("users", &users).finish()
    }
}

/// Everything the server needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port; see [`spawn`]).
    pub listen: SocketAddr,
    pub storage: StorageUrl,
    /// Basic-auth users; `None` serves without authentication.
    pub auth: Option<BasicAuth>,
    /// Refuse every write (42205), whatever the mode says.
    pub read_only: bool,
    pub limits: Limits,
}

impl ServerConfig {
    /// A configuration with no auth, writes allowed and default limits.
    pub fn new(listen: SocketAddr, storage: StorageUrl) -> ServerConfig {
        ServerConfig {
            listen,
            storage,
            auth: None,
            read_only: false,
            limits: Limits::default(),
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(config: ServerConfig) -> Result<(), Error> {
    serve_with_shutdown(config, shutdown_signal()).await
}

/// Runs the server until `shutdown` completes, then finishes the requests in flight.
pub async fn serve_with_shutdown<F>(config: ServerConfig, shutdown: F) -> Result<(), Error>
where
    F: Future<Output = ()> + Send + 'static,
{
    let registry = Registry::open(&config).await?;
    let listener = TcpListener::bind(config.listen).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        storage = %config.storage,
        read_only = config.read_only,
        auth = config.auth.is_some(),
        "schema registry listening"
    );
    let result = axum::serve(listener, router(registry.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    registry.close().await;
    tracing::info!("schema registry stopped");
    Ok(result?)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A server running in this process (see [`spawn`]).
pub struct RunningServer {
    addr: SocketAddr,
    registry: Registry,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes the requests in flight, closes the storage.
    pub async fn stop(mut self) -> Result<(), Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = (&mut self.task).await;
        self.registry.close().await;
        match result {
            Ok(r) => Ok(r?),
            Err(e) => Err(Error::Io(std::io::Error::other(e))),
        }
    }
}

/// Opens the storage, binds `config.listen` and serves in a background task.
pub async fn spawn(config: ServerConfig) -> Result<RunningServer, Error> {
    let registry = Registry::open(&config).await?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = router(registry.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    tracing::info!(%addr, storage = %config.storage, "schema registry listening");
    Ok(RunningServer {
        addr,
        registry,
        shutdown: Some(tx),
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_file() {
        let a = BasicAuth::parse("# users\nalice:s3cret:with:colons\n\nbob:pw\n").unwrap();
        let mut users: Vec<_> = a.users().collect();
        users.sort();
        assert_eq!(users, ["alice", "bob"]);
        assert!(BasicAuth::parse("nocolon").is_err());
        assert!(BasicAuth::parse("# nothing\n").is_err());
        let mut h = HeaderMap::new();
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:with:colons");
        h.insert("authorization", format!("Basic {token}").parse().unwrap());
        assert!(a.allows(&h));
        let bad = base64::engine::general_purpose::STANDARD.encode("alice:wrong");
        h.insert("authorization", format!("Basic {bad}").parse().unwrap());
        assert!(!a.allows(&h));
    }
}
