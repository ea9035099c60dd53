//! The registry's operations with Confluent's semantics: ids, versions, soft and hard deletes,
//! compatibility levels and modes, IMPORT, references. Storage is `crate::store`'s; answers are
//! typed ([`ServiceError`] for refusals), and the HTTP layer turns them into Confluent bodies.
//!
//! Two caches keep the hot paths free of parsing and queries:
//! - schemas by id (a schema's text never changes once it has an id; only a permanent delete,
//!   which can make an id unknown, clears it);
//! - identities by submitted text (parsing and canonicalizing is most of a look-up's cost, and
//!   for a reference-free schema the identity depends on the text alone).
//!
//! Locks are `parking_lot`'s: a panic while a lock is held cannot poison it and so cannot turn
//! into a permanently failing server.

mod error;
mod reads;
mod schemas;
mod settings;
mod writes;

use std::collections::HashMap;
use std::sync::Arc;

use evc_storage::{Database, Tx};
use parking_lot::RwLock;

pub use error::ServiceError;

use crate::compat::{CompatChecker, CompatLevel, EvcCompat, Mode};
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
    pub schema: SchemaRow,
}

/// The identity hashes of a submission: with `normalize`, the un-normalized text's too (look-ups
/// accept either).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub hash: String,
    pub plain_hash: Option<String>,
}

/// Bound on cached identities; the cache starts over when it is full.
const IDENTITY_CACHE: usize = 10_000;

/// A registry: storage plus settings. Cheap to clone; share one per server.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    by_id: RwLock<HashMap<i64, SchemaRow>>,
    identities: RwLock<HashMap<(String, String, bool), Identity>>,
    read_only: bool,
    limits: Limits,
    auth: Option<Arc<BasicAuth>>,
    checker: Box<dyn CompatChecker>,
}

impl Registry {
    /// Opens the storage named by `config.storage` and applies the registry's migrations.
    pub async fn open(config: &ServerConfig) -> Result<Registry, Error> {
        let db = Database::open(&config.storage, "evc-registry").await?;
        db.migrate(store::COMPONENT, store::MIGRATIONS).await?;
        Ok(Registry {
            inner: Arc::new(Inner {
                db,
                by_id: Default::default(),
                identities: Default::default(),
                read_only: config.read_only,
                limits: config.limits.clone().clamped(),
                auth: config.auth.clone().map(Arc::new),
                checker: Box::new(EvcCompat),
            }),
        })
    }

    /// Closes the storage's connections.
    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub(crate) fn auth(&self) -> Option<Arc<BasicAuth>> {
        self.inner.auth.clone()
    }

    /// Checks the storage answers.
    pub(crate) async fn ping(&self) -> Result<(), ServiceError> {
        Ok(self.inner.db.ping().await?)
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

    fn forget_ids(&self) {
        self.inner.by_id.write().clear();
    }

    // ----- settings in force -----------------------------------------------------------------

    /// The subject's level, else the global one, else BACKWARD.
    async fn level(tx: &mut Tx, subject: &str) -> Result<CompatLevel, ServiceError> {
        settings::effective(tx, Some(subject)).await
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
