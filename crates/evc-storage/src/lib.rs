//! evc's one storage layer, shared by every crate that keeps state in a database.
//!
//! **Owns:** the storage URL (`sqlite://PATH`, `memory`, `postgres://...[?schema=NAME]`); pool
//! settings, once for everybody (SQLite: WAL, `synchronous=FULL`, busy timeout, foreign keys;
//! PostgreSQL: a pool with an application name and an optional schema on the search path); one
//! query interface over both backends ([`Tx`], [`Arg`], [`Row`]) with `$1`-style placeholders,
//! which SQLite and PostgreSQL both accept; serialized write transactions ([`Database::write`],
//! [`Database::serialized`]); versioned migrations with a recorded schema version per component
//! ([`Migration`], [`Database::migrate`], the `evc_migrations` table); a PostgreSQL test harness
//! (feature `testing`).
//!
//! **Does not own:** any table of its own but `evc_migrations`, nor what other crates store. Each
//! crate declares its migrations as a `&[Migration]` constant and runs them when it opens its
//! store; the SQL lives in that crate.
//!
//! # Example
//!
//! ```
//! use evc_storage::{args, Database, Migration, StorageUrl};
//!
//! const MIGRATIONS: &[Migration] = &[Migration {
//!     version: 1,
//!     name: "notes",
//!     sqlite: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
//!     postgres: "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL)",
//! }];
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), evc_storage::StorageError> {
//! let db = Database::open(&StorageUrl::parse("memory")?, "example").await?;
//! db.migrate("example", MIGRATIONS).await?;
//! let mut tx = db.write().await?;
//! tx.exec("INSERT INTO notes (id, body) VALUES ($1, $2)", &args![1_i64, "hello"]).await?;
//! tx.commit().await?;
//! let mut tx = db.read().await?;
//! let row = tx.row("SELECT body FROM notes WHERE id = $1", &args![1_i64]).await?;
//! assert_eq!(row.unwrap().str(0)?, "hello");
//! drop(tx); // an in-memory database has one connection
//! assert_eq!(db.schema_version("example").await?, Some(1));
//! # Ok(())
//! # }
//! ```

mod db;
mod error;
mod migrate;
#[cfg(feature = "testing")]
pub mod testing;
mod url;

pub use db::{begin_clean, Arg, Database, Dialect, Row, Tx, TxRef};
pub use error::{DbError, StorageError};
pub use migrate::Migration;
pub use url::StorageUrl;

/// Re-exported so crates that need backend-specific code (typed transactions handed to user
/// handlers) use the same sqlx as this crate.
pub use sqlx;
