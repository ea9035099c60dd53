//! Pools and one query interface over SQLite and PostgreSQL.
//!
//! Code that stores things is written once against [`Tx::rows`] / [`Tx::exec`] with
//! `$1`-style placeholders (both backends accept them) and [`Arg`] values; the few real
//! differences (DDL types, `ON CONFLICT` forms, locking) are chosen by [`Tx::dialect`].
//!
//! Write transactions are serialized so read-then-write logic is safe:
//! - SQLite: a per-pool async mutex plus `BEGIN IMMEDIATE` (SQLite's write lock, taken up front,
//!   so another process on the same file waits on the busy timeout instead of failing on a
//!   lock upgrade).
//! - PostgreSQL: [`Database::serialized`] takes `pg_advisory_xact_lock(key)` first, the key
//!   derived from a lock name and the schema, so any number of processes sharing the database
//!   agree; [`Database::write`] is a plain READ COMMITTED transaction.

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

use crate::{StorageError, StorageUrl};

/// How long a SQLite connection waits for another writer's lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Arg {
    I64(i64),
    OptI64(Option<i64>),
    Str(String),
    OptStr(Option<String>),
    Bytes(Vec<u8>),
}

macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Arg {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

arg_from! {
    i64 => |v| Arg::I64(v),
    u32 => |v| Arg::I64(i64::from(v)),
    i32 => |v| Arg::I64(i64::from(v)),
    bool => |v| Arg::I64(i64::from(v)),
    Option<i64> => |v| Arg::OptI64(v),
    &str => |v| Arg::Str(v.to_string()),
    &String => |v| Arg::Str(v.clone()),
    String => |v| Arg::Str(v),
    Option<&str> => |v| Arg::OptStr(v.map(str::to_string)),
    Option<String> => |v| Arg::OptStr(v),
    Vec<u8> => |v| Arg::Bytes(v),
    &[u8] => |v| Arg::Bytes(v.to_vec()),
}

/// Builds an `[Arg; N]` from values convertible to [`Arg`].
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => { [$($crate::Arg::from($a)),*] };
}

macro_rules! bound {
    ($db:ty, $sql:expr, $args:expr) => {{
        let mut q = sqlx::query::<$db>($sql);
        for a in $args {
            q = match a {
                Arg::I64(v) => q.bind(*v),
                Arg::OptI64(v) => q.bind(*v),
                Arg::Str(s) => q.bind(s.as_str()),
                Arg::OptStr(s) => q.bind(s.as_deref()),
                Arg::Bytes(b) => q.bind(b.as_slice()),
            };
        }
        q
    }};
}

/// A result row of either backend; columns by position.
pub enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

macro_rules! getter {
    ($($(#[$m:meta])* $name:ident -> $t:ty;)*) => {
        $($(#[$m])*
        pub fn $name(&self, i: usize) -> Result<$t, StorageError> {
            let r = match self {
                Row::Sqlite(r) => r.try_get(i),
                Row::Postgres(r) => r.try_get(i),
            };
            r.map_err(|e| StorageError::Column { column: i, source: e.into() })
        })*
    };
}

impl Row {
    getter! {
        /// An integer column (`INTEGER` / `BIGINT`).
        i64 -> i64;
        /// A nullable integer column.
        opt_i64 -> Option<i64>;
        /// A text column.
        str -> String;
        /// A nullable text column.
        opt_str -> Option<String>;
        /// A `BLOB` / `BYTEA` column.
        bytes -> Vec<u8>;
    }
}

/// A transaction on either backend. Dropping it without [`Tx::commit`] rolls back.
pub enum Tx {
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        Option<OwnedMutexGuard<()>>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// A borrowed transaction of either backend: what code gets that writes inside a transaction
/// somebody else owns (a consumer handler writing in the consumer's idempotency transaction).
pub enum TxRef<'a> {
    Sqlite(&'a mut sqlx::Transaction<'static, Sqlite>),
    Postgres(&'a mut sqlx::Transaction<'static, Postgres>),
}

impl<'a> From<&'a mut sqlx::Transaction<'static, Sqlite>> for TxRef<'a> {
    fn from(t: &'a mut sqlx::Transaction<'static, Sqlite>) -> Self {
        TxRef::Sqlite(t)
    }
}

impl<'a> From<&'a mut sqlx::Transaction<'static, Postgres>> for TxRef<'a> {
    fn from(t: &'a mut sqlx::Transaction<'static, Postgres>) -> Self {
        TxRef::Postgres(t)
    }
}

impl TxRef<'_> {
    /// The dialect of this transaction's database.
    pub fn dialect(&self) -> Dialect {
        match self {
            TxRef::Sqlite(_) => Dialect::Sqlite,
            TxRef::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a query and returns every row.
    pub async fn rows(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, StorageError> {
        Ok(match self {
            TxRef::Sqlite(t) => bound!(Sqlite, sql, args)
                .fetch_all(&mut ***t)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            TxRef::Postgres(t) => bound!(Postgres, sql, args)
                .fetch_all(&mut ***t)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
        })
    }

    /// Runs a query and returns its first row, if any.
    pub async fn row(&mut self, sql: &str, args: &[Arg]) -> Result<Option<Row>, StorageError> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, StorageError> {
        Ok(match self {
            TxRef::Sqlite(t) => bound!(Sqlite, sql, args)
                .execute(&mut ***t)
                .await?
                .rows_affected(),
            TxRef::Postgres(t) => bound!(Postgres, sql, args)
                .execute(&mut ***t)
                .await?
                .rows_affected(),
        })
    }
}

impl Tx {
    /// This transaction, borrowed (for code written against [`TxRef`]).
    pub fn as_ref(&mut self) -> TxRef<'_> {
        match self {
            Tx::Sqlite(t, _) => TxRef::Sqlite(t),
            Tx::Postgres(t) => TxRef::Postgres(t),
        }
    }

    /// The dialect of this transaction's database.
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(..) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a query and returns every row.
    pub async fn rows(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, StorageError> {
        self.as_ref().rows(sql, args).await
    }

    /// Runs a query and returns its first row, if any.
    pub async fn row(&mut self, sql: &str, args: &[Arg]) -> Result<Option<Row>, StorageError> {
        self.as_ref().row(sql, args).await
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, StorageError> {
        self.as_ref().exec(sql, args).await
    }

    /// Runs several `;`-separated statements without arguments (migrations). Statements are
    /// split at every `;`, so a migration must not hold `;` inside a literal.
    pub async fn script(&mut self, sql: &str) -> Result<(), StorageError> {
        for stmt in sql.split(';').filter(|s| !s.trim().is_empty()) {
            self.exec(stmt, &[]).await?;
        }
        Ok(())
    }

    /// Commits (and releases the writer lock, if this transaction holds it).
    pub async fn commit(self) -> Result<(), StorageError> {
        match self {
            Tx::Sqlite(t, guard) => {
                t.commit().await?;
                drop(guard);
            }
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// The SQLite transaction, for code that hands a typed transaction to user handlers.
    pub fn as_sqlite(&mut self) -> Option<&mut sqlx::Transaction<'static, Sqlite>> {
        match self {
            Tx::Sqlite(t, _) => Some(t),
            Tx::Postgres(_) => None,
        }
    }

    /// The PostgreSQL transaction, for code that hands a typed transaction to user handlers.
    pub fn as_postgres(&mut self) -> Option<&mut sqlx::Transaction<'static, Postgres>> {
        match self {
            Tx::Postgres(t) => Some(t),
            Tx::Sqlite(..) => None,
        }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite {
        pool: SqlitePool,
        writer: Arc<Mutex<()>>,
    },
    Postgres {
        pool: PgPool,
    },
}

/// A connection pool of either backend; cheap to clone.
#[derive(Clone)]
pub struct Database {
    backend: Backend,
    /// The PostgreSQL schema the tables live in (None: the connection's default).
    schema: Option<String>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dialect", &self.dialect())
            .field("schema", &self.schema)
            .finish()
    }
}

/// The options every evc SQLite file is opened with.
pub(crate) fn sqlite_file_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
}

impl Database {
    /// Connects to `url`. `application_name` names the connections on PostgreSQL
    /// (`pg_stat_activity`). A SQLite file and its folder are created if missing; a
    /// `?schema=NAME` PostgreSQL schema too.
    pub async fn open(url: &StorageUrl, application_name: &str) -> Result<Database, StorageError> {
        match url {
            StorageUrl::Memory => Database::sqlite_in_memory().await,
            StorageUrl::Sqlite(path) => Database::open_sqlite(path).await,
            StorageUrl::Postgres { url, schema } => {
                Database::open_postgres(url, schema.as_deref(), application_name).await
            }
        }
    }

    /// Opens (creating it if missing) a SQLite file: WAL, `synchronous=FULL` (every commit is
    /// fsynced), foreign keys on, a 30 s busy timeout.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Database, StorageError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(sqlite_file_options(path))
            .await?;
        Ok(Database::from_sqlite_pool(pool))
    }

    /// A SQLite database in memory, on one connection that is never closed (an in-memory
    /// database lives as long as its connection).
    pub async fn sqlite_in_memory() -> Result<Database, StorageError> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")?
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        Ok(Database::from_sqlite_pool(pool))
    }

    /// Connects to PostgreSQL; with `schema`, the tables live in that schema (created if
    /// missing, under an advisory lock so processes starting together don't race).
    pub async fn open_postgres(
        url: &str,
        schema: Option<&str>,
        application_name: &str,
    ) -> Result<Database, StorageError> {
        if let Some(s) = schema {
            if !crate::url::valid_identifier(s) {
                return Err(StorageError::InvalidSchemaName(s.to_string()));
            }
        }
        let mut opts = PgConnectOptions::from_str(url)?.application_name(application_name);
        if let Some(s) = schema {
            opts = opts.options([("search_path", s)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        let db = Database {
            backend: Backend::Postgres { pool },
            schema: schema.map(str::to_string),
        };
        if let Some(s) = schema {
            let mut tx = db.serialized("evc-storage:create-schema").await?;
            tx.exec(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""), &[])
                .await?;
            tx.commit().await?;
        }
        Ok(db)
    }

    /// Wraps a SQLite pool the caller built.
    pub fn from_sqlite_pool(pool: SqlitePool) -> Database {
        Database {
            backend: Backend::Sqlite {
                pool,
                writer: Arc::new(Mutex::new(())),
            },
            schema: None,
        }
    }

    /// Wraps a PostgreSQL pool the caller built (its tables in the connection's search path).
    pub fn from_postgres_pool(pool: PgPool) -> Database {
        Database {
            backend: Backend::Postgres { pool },
            schema: None,
        }
    }

    /// The dialect this database speaks.
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// The SQLite pool, if this is SQLite.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => Some(pool),
            Backend::Postgres { .. } => None,
        }
    }

    /// The PostgreSQL pool, if this is PostgreSQL.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres { pool } => Some(pool),
            Backend::Sqlite { .. } => None,
        }
    }

    /// A read transaction: a consistent snapshot on both backends.
    pub async fn read(&self) -> Result<Tx, StorageError> {
        Ok(match &self.backend {
            Backend::Sqlite { pool, .. } => Tx::Sqlite(begin_clean(pool, None).await?, None),
            Backend::Postgres { pool } => Tx::Postgres(
                begin_clean(
                    pool,
                    Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                )
                .await?,
            ),
        })
    }

    /// A write transaction. On SQLite it holds the pool's writer lock and SQLite's own
    /// (`BEGIN IMMEDIATE`) until commit or drop; on PostgreSQL it is a plain transaction.
    pub async fn write(&self) -> Result<Tx, StorageError> {
        match &self.backend {
            Backend::Sqlite { pool, writer } => {
                let guard = writer.clone().lock_owned().await;
                let t = begin_clean(pool, Some("BEGIN IMMEDIATE")).await?;
                Ok(Tx::Sqlite(t, Some(guard)))
            }
            Backend::Postgres { pool } => Ok(Tx::Postgres(begin_clean(pool, None).await?)),
        }
    }

    /// A write transaction serialized with every other one that names the same `lock` on this
    /// database (and schema), across processes: on PostgreSQL a transaction-scoped advisory
    /// lock taken first; on SQLite the same as [`Database::write`] (SQLite has one writer).
    pub async fn serialized(&self, lock: &str) -> Result<Tx, StorageError> {
        let mut tx = self.write().await?;
        if let Tx::Postgres(t) = &mut tx {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(self.lock_key(lock))
                .execute(&mut **t)
                .await?;
        }
        Ok(tx)
    }

    /// The advisory-lock key of `lock` in this database's schema.
    fn lock_key(&self, lock: &str) -> i64 {
        let digest = Sha256::digest(format!(
            "{lock}:{}",
            self.schema.as_deref().unwrap_or("public")
        ));
        let mut key = [0u8; 8];
        key.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(key)
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StorageError> {
        let mut tx = self.read().await?;
        tx.row("SELECT 1", &[]).await?;
        Ok(())
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { pool, .. } => pool.close().await,
            Backend::Postgres { pool } => pool.close().await,
        }
    }
}

/// Begins a transaction on a pooled connection that is not inside one already.
///
/// sqlx acknowledges a `BEGIN` before the caller has its `Transaction`: a caller cancelled in
/// that instant (an HTTP client that hung up, a timeout) leaves the connection inside a
/// transaction nobody will end, and the pool hands it out again. A custom `BEGIN` on it then
/// fails ("non-zero transaction depth") and a plain one would nest as a savepoint inside a stale
/// snapshot. Such a connection is closed here, and another one taken.
pub async fn begin_clean<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    statement: Option<&'static str>,
) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
    use sqlx::Connection as _;
    loop {
        let conn = pool.acquire().await?;
        if conn.is_in_transaction() {
            tracing::warn!(
                "closing a pooled connection a cancelled caller left inside a transaction"
            );
            let _ = conn.close().await;
            continue;
        }
        return sqlx::Transaction::begin(conn, statement.map(std::borrow::Cow::Borrowed)).await;
    }
}
