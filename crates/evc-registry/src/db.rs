//! The storage layer: one small query interface over two sqlx backends.
//!
//! Every operation runs in a transaction ([`Tx`]). The registry logic is written once against
//! [`Tx::rows`] / [`Tx::exec`] with `$1`-style placeholders, which both SQLite and PostgreSQL
//! accept, and the few differences (how writers are serialised, connection settings) live here.
//!
//! Write transactions are serialised:
//! - PostgreSQL: `pg_advisory_xact_lock(key)` as the first statement of every write transaction
//!   (key derived from the PostgreSQL schema the tables live in), in READ COMMITTED, so each
//!   following statement sees everything committed before the lock was granted. This holds across
//!   any number of server processes sharing the database. Unique constraints back it up.
//! - SQLite: a process-wide async mutex plus `BEGIN IMMEDIATE` (which takes SQLite's write lock
//!   up front, so another process on the same file waits on `busy_timeout` instead of failing).
//!
//! Durability: a transaction is committed before the HTTP answer is sent. SQLite files run in WAL
//! mode with `synchronous=FULL` (every commit is fsynced, so even a power loss keeps acknowledged
//! registrations); PostgreSQL uses its own defaults (`synchronous_commit=on`).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Postgres, Row as _, Sqlite};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{Error, StorageUrl};

/// The tables. Kept to types both backends share (BIGINT and TEXT; flags are 0/1 integers).
const MIGRATION: &[&str] = &[
    // One row per distinct schema (content + type + references). Rows are never deleted, so an
    // id is never handed out twice, even after every version using it was permanently deleted.
    "CREATE TABLE IF NOT EXISTS evc_schemas (
        id BIGINT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        schema_type TEXT NOT NULL,
        schema_text TEXT NOT NULL,
        refs_json TEXT NOT NULL
    )",
    // The references of each schema, for `referencedby` and delete protection.
    "CREATE TABLE IF NOT EXISTS evc_refs (
        schema_id BIGINT NOT NULL REFERENCES evc_schemas (id),
        position BIGINT NOT NULL,
        name TEXT NOT NULL,
        subject TEXT NOT NULL,
        version BIGINT NOT NULL,
        PRIMARY KEY (schema_id, position)
    )",
    "CREATE INDEX IF NOT EXISTS evc_refs_target ON evc_refs (subject, version)",
    // Subject versions. A soft delete sets `deleted`; a permanent delete removes the row.
    "CREATE TABLE IF NOT EXISTS evc_versions (
        subject TEXT NOT NULL,
        version BIGINT NOT NULL,
        schema_id BIGINT NOT NULL REFERENCES evc_schemas (id),
        deleted BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (subject, version)
    )",
    "CREATE INDEX IF NOT EXISTS evc_versions_schema ON evc_versions (schema_id)",
    // A schema is live at most once per subject.
    "CREATE UNIQUE INDEX IF NOT EXISTS evc_versions_live ON evc_versions (subject, schema_id) WHERE deleted = 0",
    // Compatibility level and mode; scope '' is the global configuration, otherwise a subject.
    "CREATE TABLE IF NOT EXISTS evc_config (
        scope TEXT PRIMARY KEY,
        compatibility TEXT,
        mode TEXT
    )",
];

/// A bound query argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I(i64),
    S(String),
    OS(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::S(v.to_string())
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::S(v.clone())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::S(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::OS(v.map(str::to_string))
    }
}

/// Builds an `[Arg; N]` from values convertible to [`Arg`].
macro_rules! args {
    ($($a:expr),* $(,)?) => { [$($crate::db::Arg::from($a)),*] };
}
pub(crate) use args;

macro_rules! bound {
    ($db:ty, $sql:expr, $args:expr) => {{
        let mut q = sqlx::query::<$db>($sql);
        for a in $args {
            q = match a {
                Arg::I(v) => q.bind(*v),
                Arg::S(s) => q.bind(s.as_str()),
                Arg::OS(s) => q.bind(s.as_deref()),
            };
        }
        q
    }};
}

/// A result row of either backend.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    pub fn i64(&self, i: usize) -> Result<i64, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(i),
            Row::Postgres(r) => r.try_get(i),
        }
    }

    pub fn str(&self, i: usize) -> Result<String, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(i),
            Row::Postgres(r) => r.try_get(i),
        }
    }

    pub fn opt_str(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(i),
            Row::Postgres(r) => r.try_get(i),
        }
    }
}

/// A transaction on either backend. Dropping it without [`Tx::commit`] rolls back.
pub(crate) enum Tx {
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        #[allow(dead_code)] Option<OwnedMutexGuard<()>>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn rows(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(t, _) => bound!(Sqlite, sql, args)
                .fetch_all(&mut **t)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Tx::Postgres(t) => bound!(Postgres, sql, args)
                .fetch_all(&mut **t)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
        })
    }

    pub async fn row(&mut self, sql: &str, args: &[Arg]) -> Result<Option<Row>, sqlx::Error> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    pub async fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(t, _) => bound!(Sqlite, sql, args)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::Postgres(t) => bound!(Postgres, sql, args)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t, guard) => {
                t.commit().await?;
                drop(guard);
                Ok(())
            }
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// A connection pool of either backend.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite {
        pool: SqlitePool,
        writer: Arc<Mutex<()>>,
    },
    Postgres {
        pool: PgPool,
        lock_key: i64,
    },
}

impl Db {
    /// Connects and creates the tables if they are missing.
    pub async fn open(url: &StorageUrl) -> Result<Db, Error> {
        let db = match url {
            StorageUrl::Memory => {
                // One connection that is never closed: an in-memory SQLite database lives as
                // long as its connection.
                let opts = SqliteConnectOptions::from_str("sqlite::memory:")?
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(opts)
                    .await?;
                Db::Sqlite {
                    pool,
                    writer: Arc::new(Mutex::new(())),
                }
            }
            StorageUrl::Sqlite(path) => Db::open_sqlite_file(path).await?,
            StorageUrl::Postgres { url, schema } => {
                Db::open_postgres(url, schema.as_deref()).await?
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn open_sqlite_file(path: &Path) -> Result<Db, Error> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        Ok(Db::Sqlite {
            pool,
            writer: Arc::new(Mutex::new(())),
        })
    }

    async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Db, Error> {
        let mut opts = PgConnectOptions::from_str(url)?.application_name("evc-registry");
        if let Some(s) = schema {
            opts = opts.options([("search_path", s)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        // The lock serialising writers is per table set: derived from the schema name.
        let digest = Sha256::digest(format!("evc-registry:{}", schema.unwrap_or("public")));
        let mut key = [0u8; 8];
        key.copy_from_slice(&digest[..8]);
        let lock_key = i64::from_be_bytes(key);
        let db = Db::Postgres { pool, lock_key };
        if let Some(s) = schema {
            // Created under the writer lock so that several processes starting at once don't
            // race on the catalog.
            let mut tx = db.write().await?;
            tx.exec(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""), &[])
                .await?;
            tx.commit().await?;
        }
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), Error> {
        let mut tx = self.write().await?;
        for stmt in MIGRATION {
            tx.exec(stmt, &[]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A read transaction (a consistent snapshot on both backends).
    pub async fn read(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Db::Sqlite { pool, .. } => Ok(Tx::Sqlite(pool.begin().await?, None)),
            Db::Postgres { pool, .. } => Ok(Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            )),
        }
    }

    /// A write transaction; it holds the registry-wide writer lock until commit or drop.
    pub async fn write(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Db::Sqlite { pool, writer } => {
                let guard = writer.clone().lock_owned().await;
                let t = pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Tx::Sqlite(t, Some(guard)))
            }
            Db::Postgres { pool, lock_key } => {
                let mut t = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(*lock_key)
                    .execute(&mut *t)
                    .await?;
                Ok(Tx::Postgres(t))
            }
        }
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.read().await?;
        tx.row("SELECT 1", &[]).await?;
        Ok(())
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        match self {
            Db::Sqlite { pool, .. } => pool.close().await,
            Db::Postgres { pool, .. } => pool.close().await,
        }
    }
}
