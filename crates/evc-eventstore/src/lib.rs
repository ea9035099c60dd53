//! An append-only event store for evc's events, on SQLite (embedded, the default: WAL,
//! `synchronous=FULL`) or PostgreSQL.
//!
//! **Owns:** durable storage of events as the exact bytes of the Confluent wire format (magic
//! byte, schema id, Avro body) with their schema id, event type full name, event id and
//! `occurred_at` in columns; one stream per aggregate id; optimistic concurrency on append
//! ([`ExpectedVersion`], a typed [`StoreError::Conflict`]); a global position that is
//! monotonic and gap-free in commit order, for ordered reads ([`EventStore::read_all`]).
//!
//! **Does not own:** encoding or decoding events (`evc-wire`'s `Serializer`/`Deserializer`),
//! what the events mean (the domain crates), or publishing to Kafka (an outbox relay reading
//! [`EventStore::read_all`] comes later), snapshots, deletion or retention.
//!
//! # Table
//!
//! One table, `evc_events` (in the connection's schema on PostgreSQL):
//!
//! | column        | SQLite           | PostgreSQL        |                                    |
//! |---------------|------------------|-------------------|------------------------------------|
//! | `position`    | INTEGER PK       | BIGINT PK         | global, 1, 2, 3, ... in commit order |
//! | `stream_id`   | TEXT             | TEXT              | the aggregate id                   |
//! | `version`     | INTEGER          | BIGINT            | 1, 2, 3, ... within the stream     |
//! | `event_id`    | TEXT UNIQUE      | UUID UNIQUE       | the event's id (deduplication)     |
//! | `event_type`  | TEXT             | TEXT              | Avro full name of the writer schema |
//! | `schema_id`   | INTEGER          | BIGINT            | registry id, same as in the bytes  |
//! | `occurred_at` | TEXT (RFC 3339)  | TIMESTAMPTZ       | microsecond precision              |
//! | `payload`     | BLOB             | BYTEA             | the Confluent-framed message       |
//!
//! with `UNIQUE (stream_id, version)`.
//!
//! # Concurrency
//!
//! Appends are transactions and are serialized store-wide: on SQLite by a process-wide async
//! mutex plus `BEGIN IMMEDIATE` (SQLite's write lock, which also covers other processes); on
//! PostgreSQL by a transaction-scoped advisory lock keyed by the schema, so several processes
//! sharing the database agree. Under that lock the stream's current version is read and
//! compared with the expected one, and the next global position is `MAX(position) + 1`; the
//! lock is held until commit, so positions are gap-free in commit order (a reader never sees
//! position `n + 1` before `n`). The `UNIQUE (stream_id, version)` constraint is the backstop
//! should anything bypass the lock: its violation is reported as a conflict too.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use evc_avro::chrono::{DateTime, SecondsFormat, Utc};
use evc_avro::uuid::Uuid;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// What the appender believes the stream's version is (the number of events in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist (have no events).
    NoStream,
    /// The stream's last event must have this version (`Exact(0)` is the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    /// `NoStream` for 0, `Exact(n)` otherwise: what a loaded aggregate of version `n` expects.
    pub fn from_version(n: u64) -> ExpectedVersion {
        if n == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(n)
        }
    }

    fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(n) => actual == n,
        }
    }
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(n) => write!(f, "version {n}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended first (`actual` is the stream's version now, 0 if it has no
    /// events). Reload the stream, decide again and retry.
    #[error("stream {stream:?}: expected {expected}, but it is at version {actual}")]
    Conflict {
        stream: String,
        expected: ExpectedVersion,
        actual: u64,
    },
    /// An event with this id is already stored.
    #[error("event {event_id} is already stored")]
    DuplicateEventId { event_id: Uuid },
    /// The payload is not a Confluent-framed message.
    #[error("event {event_id}: the payload is not in the Confluent wire format: {message}")]
    NotFramed { event_id: Uuid, message: String },
    /// A stored row that cannot be read back (an edited database).
    #[error("corrupt row at position {position}: {message}")]
    Corrupt { position: i64, message: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// An event to append: its Confluent-framed bytes and the metadata kept in columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    /// Avro full name of the writer schema, e.g. `com.acme.orders.OrderCreated`.
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// Read from the payload's header.
    pub schema_id: u32,
    pub payload: Vec<u8>,
}

impl NewEvent {
    /// Checks the framing and takes the schema id from the header.
    pub fn new(
        event_id: Uuid,
        event_type: impl Into<String>,
        occurred_at: DateTime<Utc>,
        payload: Vec<u8>,
    ) -> Result<NewEvent, StoreError> {
        let schema_id = evc_wire::schema_id(&payload).map_err(|e| StoreError::NotFramed {
            event_id,
            message: e.to_string(),
        })?;
        Ok(NewEvent {
            event_id,
            event_type: event_type.into(),
            occurred_at,
            schema_id,
            payload,
        })
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global position, from 1, gap-free in commit order.
    pub position: u64,
    pub stream: String,
    /// Version within the stream, from 1.
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_id: u32,
    pub occurred_at: DateTime<Utc>,
    pub payload: Vec<u8>,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub stream_version: u64,
    /// The global positions given to the events, in order.
    pub positions: Vec<u64>,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite {
        pool: SqlitePool,
        write_lock: Arc<tokio::sync::Mutex<()>>,
    },
    Postgres {
        pool: PgPool,
    },
}

/// The event store; cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct EventStore {
    backend: Backend,
}

const SQLITE_DDL: &str = "CREATE TABLE IF NOT EXISTS evc_events (
    position    INTEGER PRIMARY KEY CHECK (position >= 1),
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    event_id    TEXT    NOT NULL UNIQUE,
    event_type  TEXT    NOT NULL,
    schema_id   INTEGER NOT NULL,
    occurred_at TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    UNIQUE (stream_id, version)
)";

const PG_DDL: &str = "CREATE TABLE IF NOT EXISTS evc_events (
    position    BIGINT      PRIMARY KEY CHECK (position >= 1),
    stream_id   TEXT        NOT NULL,
    version     BIGINT      NOT NULL CHECK (version >= 1),
    event_id    UUID        NOT NULL UNIQUE,
    event_type  TEXT        NOT NULL,
    schema_id   BIGINT      NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    payload     BYTEA       NOT NULL,
    CONSTRAINT evc_events_stream_version UNIQUE (stream_id, version)
)";

const SQLITE_COLUMNS: &str =
    "position, stream_id, version, event_id, event_type, schema_id, occurred_at, payload";
const PG_COLUMNS: &str = "position, stream_id, version, event_id::text, event_type, schema_id, \
     (EXTRACT(EPOCH FROM occurred_at) * 1000000)::BIGINT, payload";

type SqliteRow = (i64, String, i64, String, String, i64, String, Vec<u8>);
type PgRow = (i64, String, i64, String, String, i64, i64, Vec<u8>);

impl EventStore {
    /// Opens (creating it if missing) the SQLite database at `path`: WAL, `synchronous=FULL`,
    /// a 10 s busy timeout; creates the table.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<EventStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        EventStore::sqlite_with_pool(pool).await
    }

    /// A store on a private in-memory SQLite database (one connection; gone with the store).
    pub async fn sqlite_in_memory() -> Result<EventStore, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::from_str("sqlite::memory:")?)
            .await?;
        EventStore::sqlite_with_pool(pool).await
    }

    /// A store on your SQLite pool; creates the table.
    pub async fn sqlite_with_pool(pool: SqlitePool) -> Result<EventStore, StoreError> {
        sqlx::query(SQLITE_DDL).execute(&pool).await?;
        Ok(EventStore {
            backend: Backend::Sqlite {
                pool,
                write_lock: Arc::default(),
            },
        })
    }

    /// Connects to PostgreSQL (`postgres://...`) and creates the table in the current schema.
    pub async fn connect_postgres(url: &str) -> Result<EventStore, StoreError> {
        let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
        EventStore::postgres_with_pool(pool).await
    }

    /// A store on your PostgreSQL pool; creates the table in the connections' current schema
    /// (set `search_path` to use another).
    pub async fn postgres_with_pool(pool: PgPool) -> Result<EventStore, StoreError> {
        sqlx::query(PG_DDL).execute(&pool).await?;
        Ok(EventStore {
            backend: Backend::Postgres { pool },
        })
    }

    /// Appends `events` to `stream` in one transaction if the stream is at `expected`;
    /// otherwise nothing is written and the answer is [`StoreError::Conflict`]. Appending no
    /// events checks the expected version only.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        match &self.backend {
            Backend::Sqlite { pool, write_lock } => {
                let _guard = write_lock.lock().await;
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let actual: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(version), 0) FROM evc_events WHERE stream_id = ?",
                )
                .bind(stream)
                .fetch_one(&mut *tx)
                .await?;
                let actual = to_u64(actual);
                check(stream, expected, actual)?;
                let last: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM evc_events")
                        .fetch_one(&mut *tx)
                        .await?;
                let mut positions = Vec::with_capacity(events.len());
                for (i, e) in events.iter().enumerate() {
                    let position = last + 1 + i as i64;
                    let version = actual as i64 + 1 + i as i64;
                    let inserted = sqlx::query(
                        "INSERT INTO evc_events (position, stream_id, version, event_id, event_type, \
                         schema_id, occurred_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(position)
                    .bind(stream)
                    .bind(version)
                    .bind(e.event_id.to_string())
                    .bind(&e.event_type)
                    .bind(i64::from(e.schema_id))
                    .bind(e.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true))
                    .bind(&e.payload)
                    .execute(&mut *tx)
                    .await;
                    if let Err(err) = inserted {
                        tx.rollback().await?;
                        return Err(self.insert_failed(err, stream, expected, e).await);
                    }
                    positions.push(to_u64(position));
                }
                tx.commit().await?;
                Ok(Appended {
                    stream_version: actual + events.len() as u64,
                    positions,
                })
            }
            Backend::Postgres { pool } => {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.evc_events'))",
                )
                .execute(&mut *tx)
                .await?;
                let actual: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM evc_events WHERE stream_id = $1",
                )
                .bind(stream)
                .fetch_one(&mut *tx)
                .await?;
                let actual = to_u64(actual);
                check(stream, expected, actual)?;
                let last: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(position), 0)::BIGINT FROM evc_events")
                        .fetch_one(&mut *tx)
                        .await?;
                let mut positions = Vec::with_capacity(events.len());
                for (i, e) in events.iter().enumerate() {
                    let position = last + 1 + i as i64;
                    let version = actual as i64 + 1 + i as i64;
                    let inserted = sqlx::query(
                        "INSERT INTO evc_events (position, stream_id, version, event_id, event_type, \
                         schema_id, occurred_at, payload) VALUES ($1, $2, $3, $4::uuid, $5, $6, \
                         TIMESTAMPTZ 'epoch' + $7 * INTERVAL '1 microsecond', $8)",
                    )
                    .bind(position)
                    .bind(stream)
                    .bind(version)
                    .bind(e.event_id.to_string())
                    .bind(&e.event_type)
                    .bind(i64::from(e.schema_id))
                    .bind(e.occurred_at.timestamp_micros())
                    .bind(&e.payload)
                    .execute(&mut *tx)
                    .await;
                    if let Err(err) = inserted {
                        tx.rollback().await?;
                        return Err(self.insert_failed(err, stream, expected, e).await);
                    }
                    positions.push(to_u64(position));
                }
                tx.commit().await?;
                Ok(Appended {
                    stream_version: actual + events.len() as u64,
                    positions,
                })
            }
        }
    }

    /// Maps a failed insert (after rollback): a duplicate event id, or the `(stream_id,
    /// version)` backstop reported as a conflict with the stream's version now.
    async fn insert_failed(
        &self,
        err: sqlx::Error,
        stream: &str,
        expected: ExpectedVersion,
        event: &NewEvent,
    ) -> StoreError {
        let Some(db) = err.as_database_error() else {
            return StoreError::Database(err);
        };
        if !db.is_unique_violation() {
            return StoreError::Database(err);
        }
        let on_event_id = db.constraint().is_some_and(|c| c.contains("event_id"))
            || db.message().contains("evc_events.event_id");
        if on_event_id {
            return StoreError::DuplicateEventId {
                event_id: event.event_id,
            };
        }
        match self.stream_version(stream).await {
            Ok(actual) => StoreError::Conflict {
                stream: stream.to_string(),
                expected,
                actual,
            },
            Err(e) => e,
        }
    }

    /// The stream's version: the number of events in it (0 if none).
    pub async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let v: i64 =
            match &self.backend {
                Backend::Sqlite { pool, .. } => {
                    sqlx::query_scalar(
                        "SELECT COALESCE(MAX(version), 0) FROM evc_events WHERE stream_id = ?",
                    )
                    .bind(stream)
                    .fetch_one(pool)
                    .await?
                }
                Backend::Postgres { pool } => sqlx::query_scalar(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM evc_events WHERE stream_id = $1",
                )
                .bind(stream)
                .fetch_one(pool)
                .await?,
            };
        Ok(to_u64(v))
    }

    /// Every event of `stream`, by version (empty if the stream does not exist).
    pub async fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                let rows: Vec<SqliteRow> = sqlx::query_as(&format!(
                    "SELECT {SQLITE_COLUMNS} FROM evc_events WHERE stream_id = ? ORDER BY version"
                ))
                .bind(stream)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(from_sqlite).collect()
            }
            Backend::Postgres { pool } => {
                let rows: Vec<PgRow> = sqlx::query_as(&format!(
                    "SELECT {PG_COLUMNS} FROM evc_events WHERE stream_id = $1 ORDER BY version"
                ))
                .bind(stream)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(from_pg).collect()
            }
        }
    }

    /// Up to `limit` events of every stream from global position `from_position` (inclusive;
    /// positions start at 1), by position. Continue from the last position + 1.
    pub async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let from = i64::try_from(from_position).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                let rows: Vec<SqliteRow> = sqlx::query_as(&format!(
                    "SELECT {SQLITE_COLUMNS} FROM evc_events WHERE position >= ? \
                     ORDER BY position LIMIT ?"
                ))
                .bind(from)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(from_sqlite).collect()
            }
            Backend::Postgres { pool } => {
                let rows: Vec<PgRow> = sqlx::query_as(&format!(
                    "SELECT {PG_COLUMNS} FROM evc_events WHERE position >= $1 \
                     ORDER BY position LIMIT $2"
                ))
                .bind(from)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(from_pg).collect()
            }
        }
    }

    /// The last global position (0 if the store is empty).
    pub async fn last_position(&self) -> Result<u64, StoreError> {
        let v: i64 = match &self.backend {
            Backend::Sqlite { pool, .. } => {
                sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM evc_events")
                    .fetch_one(pool)
                    .await?
            }
            Backend::Postgres { pool } => {
                sqlx::query_scalar("SELECT COALESCE(MAX(position), 0)::BIGINT FROM evc_events")
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(to_u64(v))
    }
}

fn check(stream: &str, expected: ExpectedVersion, actual: u64) -> Result<(), StoreError> {
    if expected.admits(actual) {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            stream: stream.to_string(),
            expected,
            actual,
        })
    }
}

/// Positions and versions are written from `u64`s below `i64::MAX` and checked `>= 0`/`>= 1`.
fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn row_parts(position: i64, event_id: &str, schema_id: i64) -> Result<(Uuid, u32), StoreError> {
    let corrupt = |message: String| StoreError::Corrupt { position, message };
    let id = Uuid::parse_str(event_id).map_err(|e| corrupt(format!("event_id: {e}")))?;
    let schema = u32::try_from(schema_id).map_err(|e| corrupt(format!("schema_id: {e}")))?;
    Ok((id, schema))
}

fn from_sqlite(row: SqliteRow) -> Result<RecordedEvent, StoreError> {
    let (position, stream, version, event_id, event_type, schema_id, occurred_at, payload) = row;
    let (event_id, schema_id) = row_parts(position, &event_id, schema_id)?;
    let occurred_at = DateTime::parse_from_rfc3339(&occurred_at)
        .map_err(|e| StoreError::Corrupt {
            position,
            message: format!("occurred_at {occurred_at:?}: {e}"),
        })?
        .with_timezone(&Utc);
    Ok(RecordedEvent {
        position: to_u64(position),
        stream,
        version: to_u64(version),
        event_id,
        event_type,
        schema_id,
        occurred_at,
        payload,
    })
}

fn from_pg(row: PgRow) -> Result<RecordedEvent, StoreError> {
    let (position, stream, version, event_id, event_type, schema_id, micros, payload) = row;
    let (event_id, schema_id) = row_parts(position, &event_id, schema_id)?;
    let occurred_at =
        DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt {
            position,
            message: format!("occurred_at {micros} µs is out of range"),
        })?;
    Ok(RecordedEvent {
        position: to_u64(position),
        stream,
        version: to_u64(version),
        event_id,
        event_type,
        schema_id,
        occurred_at,
        payload,
    })
}
