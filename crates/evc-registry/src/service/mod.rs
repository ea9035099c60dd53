//! The registry's operations with Confluent's semantics: ids, versions, soft and hard deletes,
//! compatibility levels and modes, IMPORT, references, data contracts. Storage is
//! `crate::store`'s; answers are typed ([`ServiceError`] for refusals), and the HTTP layer turns
//! them into Confluent bodies.
//!
//! Caches keep the hot paths free of parsing and queries: schemas by id, and canonical forms by
//! submitted text. Every write that commits bumps the registry's generation
//! ([`Registry::generation`]) and clears them; so do writes of other server processes sharing
//! the database (see `changes`). An answer computed from a read that started before a write
//! is not cached (the generation is read before the read transaction begins).
//!
//! Locks are `parking_lot`'s: a panic while a lock is held cannot poison it and so cannot turn
//! into a permanently failing server.

mod changes;
mod contract;
mod error;
mod reads;
mod schemas;
mod settings;
mod writes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use evc_storage::{Database, Tx};
use parking_lot::RwLock;

pub use error::ServiceError;
pub(crate) use schemas::Canonical;

use crate::compat::{CompatChecker, EvcCompat, Mode};
use crate::store::{self, SchemaRow, VersionRow};
use crate::{BasicAuth, Error, Limits, ServerConfig};

/// A version selector from a URL: `latest`/`-1` or a number in 1..=2^31-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionSpec {
    Latest,
    Number(i64),
}

impl VersionSpec {
    pub fn parse(s: &str) -> Result<VersionSpec, ServiceError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("latest") {
            return Ok(VersionSpec::Latest);
        }
        match t.parse::<i64>() {
            Ok(-1) => Ok(VersionSpec::Latest),
            Ok(n) if (1..=i32::MAX as i64).contains(&n) => Ok(VersionSpec::Number(n)),
            _ => Err(ServiceError::InvalidVersion {
                given: s.to_string(),
            }),
        }
    }
}

/// A subject version with its schema.
#[derive(Debug, Clone)]
pub(crate) struct VersionInfo {
    pub subject: String,
    pub version: i64,
    pub schema: Arc<SchemaRow>,
}

/// Bound on cached entries per cache; a cache starts over when it is full.
const CACHE_BOUND: usize = 10_000;

/// A registry: storage plus settings. Cheap to clone; share one per server.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// Bumped after every committed write (this process's or another's).
    generation: AtomicU64,
    by_id: RwLock<HashMap<i64, Arc<SchemaRow>>>,
    canonical: RwLock<HashMap<(String, String, bool), Canonical>>,
    read_only: bool,
    limits: Limits,
    auth: Option<Arc<BasicAuth>>,
    checker: Box<dyn CompatChecker>,
    cluster_id: String,
    /// The PostgreSQL NOTIFY channel of this database's registry tables.
    channel: Option<String>,
    /// This registry's name in its notifications.
    instance: String,
    watcher: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Registry {
    /// Opens the storage named by `config.storage`, applies the registry's migrations, and
    /// starts watching for writes of other processes sharing the database.
    pub async fn open(config: &ServerConfig) -> Result<Registry, Error> {
        let db = Database::open(&config.storage, "evc-registry").await?;
        db.migrate(store::COMPONENT, store::MIGRATIONS).await?;
        let cluster_id = changes::prepare(&db, config.limits.max_depth)
            .await
            .map_err(Error::Service)?;
        let registry = Registry {
            inner: Arc::new(Inner {
                db,
                generation: AtomicU64::new(0),
                by_id: Default::default(),
                canonical: Default::default(),
                read_only: config.read_only,
                limits: config.limits.clone().clamped(),
                auth: config.auth.clone().map(Arc::new),
                checker: Box::new(EvcCompat),
                cluster_id,
                channel: match &config.storage {
                    evc_storage::StorageUrl::Postgres { schema, .. } => {
                        Some(changes::channel(schema.as_deref()))
                    }
                    _ => None,
                },
                instance: changes::instance_name(),
                watcher: Default::default(),
            }),
        };
        let handle = changes::watch(&registry, &config.storage).await;
        *registry.inner.watcher.lock() = handle;
        Ok(registry)
    }

    /// Closes the storage's connections.
    pub async fn close(&self) {
        if let Some(h) = self.inner.watcher.lock().take() {
            h.abort();
        }
        self.inner.db.close().await;
    }

    /// A number that changes after every committed write; answers computed under one
    /// generation may be cached until it changes.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Forgets every cached answer (after a write, here or in another process).
    pub(crate) fn changed(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.by_id.write().clear();
        self.inner.canonical.write().clear();
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub(crate) fn auth(&self) -> Option<Arc<BasicAuth>> {
        self.inner.auth.clone()
    }

    /// The registry's cluster id (stable for a database).
    pub(crate) fn cluster_id(&self) -> &str {
        &self.inner.cluster_id
    }

    /// Ready to serve: the storage answers and has every migration of this build.
    pub(crate) async fn ready(&self) -> Result<bool, ServiceError> {
        let version = self.inner.db.schema_version(store::COMPONENT).await?;
        Ok(version == Some(store::MIGRATIONS.len() as u32))
    }

    /// (subjects with a live version, schema ids in use).
    pub(crate) async fn counts(&self) -> Result<(i64, i64), ServiceError> {
        let mut tx = self.read().await?;
        store::counts(&mut tx).await
    }

    async fn read(&self) -> Result<Tx, ServiceError> {
        Ok(self.inner.db.read().await?)
    }

    /// A write transaction, serialized with every other writer of this database.
    async fn write(&self) -> Result<Tx, ServiceError> {
        if self.inner.read_only {
            return Err(ServiceError::ReadOnlyServer);
        }
        Ok(self.inner.db.serialized(store::WRITE_LOCK).await?)
    }

    /// Commits a write: bumps the shared change counter (and tells other processes), then
    /// forgets cached answers.
    async fn commit(&self, mut tx: Tx) -> Result<(), ServiceError> {
        store::bump_changes(&mut tx).await?;
        changes::notify(&mut tx, self.channel(), &self.inner.instance).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    /// The subject's mode, else the global one, else READWRITE.
    async fn mode(tx: &mut Tx, subject: &str) -> Result<Mode, ServiceError> {
        settings::effective(tx, Some(subject)).await
    }

    /// Refuses writes to a subject in a read-only mode; answers the mode in force.
    async fn check_subject_writable(tx: &mut Tx, subject: &str) -> Result<Mode, ServiceError> {
        let mode = Self::mode(tx, subject).await?;
        if mode.is_read_only() {
            return Err(ServiceError::ReadOnlyMode {
                subject: subject.to_string(),
            });
        }
        Ok(mode)
    }

    /// A schema row by id, from the cache.
    async fn schema_cached(&self, tx: &mut Tx, id: i64) -> Result<Arc<SchemaRow>, ServiceError> {
        if let Some(hit) = self.inner.by_id.read().get(&id) {
            return Ok(hit.clone());
        }
        Ok(Arc::new(store::schema_of(tx, id).await?))
    }

    fn remember_schema(&self, generation: u64, row: Arc<SchemaRow>) {
        let mut cache = self.inner.by_id.write();
        if self.generation() != generation {
            return;
        }
        if cache.len() >= CACHE_BOUND {
            cache.clear();
        }
        cache.insert(row.id, row);
    }
}

/// Finds the version row a selector names, among visible rows.
fn pick(
    subject: &str,
    rows: &[VersionRow],
    spec: VersionSpec,
    deleted: bool,
) -> Result<VersionRow, ServiceError> {
    let visible: Vec<&VersionRow> = rows.iter().filter(|r| deleted || !r.deleted).collect();
    let Some(last) = visible.last() else {
        return Err(ServiceError::SubjectNotFound {
            subject: subject.to_string(),
        });
    };
    match spec {
        VersionSpec::Latest => Ok(**last),
        VersionSpec::Number(n) => visible
            .iter()
            .find(|r| r.version == n)
            .map(|r| **r)
            .ok_or_else(|| ServiceError::VersionNotFound {
                subject: subject.to_string(),
                version: n,
            }),
    }
}
