//! Storage errors: typed, with the database's own error kept opaque behind [`DbError`].

use std::fmt;

/// What went wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage URL is not one of the accepted forms.
    #[error("invalid storage URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    /// The PostgreSQL schema name in `?schema=` is not a plain identifier.
    #[error("invalid PostgreSQL schema name `{0}`: use letters, digits and `_`, not starting with a digit, at most 63 characters")]
    InvalidSchemaName(String),
    /// A folder for the SQLite file could not be created.
    #[error("cannot create the folder {path} for the database: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database refused or failed an operation.
    #[error("database: {0}")]
    Database(#[from] DbError),
    /// A migration list in the code is not numbered 1, 2, 3, ... in order.
    #[error("migrations of `{component}` are not numbered 1, 2, 3, ... (found {found} at position {position})")]
    MigrationsOutOfOrder {
        component: String,
        position: usize,
        found: u32,
    },
    /// A migration that was applied has different SQL in this build: published migrations are
    /// append-only, like published schema versions.
    #[error("migration {version} (`{name}`) of `{component}` was applied with other SQL than this build has (checksum {applied} in the database, {expected} here): never edit an applied migration, add a new one")]
    MigrationChanged {
        component: String,
        version: u32,
        name: String,
        applied: String,
        expected: String,
    },
    /// The database was migrated by a newer build than this one.
    #[error("the database has migration {version} of `{component}`, which this build does not know (it knows up to {known}): run a newer build")]
    DatabaseNewer {
        component: String,
        version: u32,
        known: u32,
    },
    /// A column held a value of another type than expected.
    #[error("column {column}: {source}")]
    Column {
        column: usize,
        #[source]
        source: DbError,
    },
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        StorageError::Database(DbError(e))
    }
}

impl StorageError {
    /// True for failures that may pass by themselves (connection refused or reset, pool
    /// timeout, serialization failures, deadlocks, a locked SQLite file): worth a retry.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Database(e) | StorageError::Column { source: e, .. } => e.is_transient(),
            _ => false,
        }
    }

    /// True when a unique or primary-key constraint refused a write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StorageError::Database(e) if e.is_unique_violation())
    }
}

/// An error from the database driver, kept opaque so the driver is not part of evc's public
/// API. Its message is the driver's; [`DbError::code`] gives the SQLSTATE / SQLite code.
pub struct DbError(pub(crate) sqlx::Error);

impl DbError {
    /// The database's error code (PostgreSQL SQLSTATE such as `23505`, SQLite extended code).
    pub fn code(&self) -> Option<String> {
        match &self.0 {
            sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// See [`StorageError::is_transient`].
    pub fn is_transient(&self) -> bool {
        match &self.0 {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(d) => {
                let code = d.code().unwrap_or_default();
                // PostgreSQL: serialization failure, deadlock, admin shutdown, cannot connect
                // now, too many connections; class 08 (connection exceptions).
                matches!(
                    code.as_ref(),
                    "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300"
                ) || code.starts_with("08")
                    // SQLite: BUSY (5) and LOCKED (6), and their extended codes
                    || code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
            _ => false,
        }
    }

    /// See [`StorageError::is_unique_violation`].
    pub fn is_unique_violation(&self) -> bool {
        match &self.0 {
            sqlx::Error::Database(d) => d.is_unique_violation(),
            _ => false,
        }
    }

    /// The driver's error, for code that must inspect it (tests, diagnostics).
    pub fn as_sqlx(&self) -> &sqlx::Error {
        &self.0
    }

    /// The driver's error, for code that hands it on to an API of sqlx's types (a consumer
    /// handler's error, which classifies connection failures as transient).
    pub fn into_sqlx(self) -> sqlx::Error {
        self.0
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError(e)
    }
}

impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
