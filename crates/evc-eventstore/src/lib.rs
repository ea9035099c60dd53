//! An append-only event store for evc's events, on SQLite (embedded, the default: WAL,
//! `synchronous=FULL`) or PostgreSQL.
//!
//! **Owns:** durable storage of events as the exact bytes of the Confluent wire format (magic
//! byte, schema id, Avro body) with their schema id, event type full name, event id and
//! `occurred_at` in columns; one stream per aggregate id; optimistic concurrency on append
//! ([`ExpectedVersion`], a typed [`StoreError::Conflict`]); a global position that is
//! monotonic and gap-free in commit order, for ordered reads ([`EventStore::read_all`]).
//!
//! **Does not own:** encoding or decoding events (`evc-wire`'s `Serializer`/`Deserializer`;
//! [`NewEvent::encode`] is a convenience over it for any generated topic enum), what the events
//! mean (the domain crates), publishing (`evc-outbox` reads [`EventStore::read_all`] and
//! the stored partition key, without decoding payloads; it continues the stored trace
//! context), snapshots, deletion or retention;
//! pools and migrations (`evc-storage`).
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
//! | `partition_key` | TEXT (nullable) | TEXT (nullable)  | the broker key (migration 2)       |
//! | `trace_parent` | TEXT (nullable)  | TEXT (nullable)   | W3C `traceparent` of the appending span (migration 3) |
//! | `trace_state`  | TEXT (nullable)  | TEXT (nullable)   | its `tracestate` (migration 4)     |
//!
//! with `UNIQUE (stream_id, version)`. The table comes from versioned migrations
//! ([`MIGRATIONS`], recorded in `evc_migrations` by `evc-storage`).
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
//!
//! # Group commit
//!
//! By default ([`EventStore::with_group_commit`]) appends that arrive while another group is
//! committing are queued and committed together: one transaction under the same lock, one
//! durable commit (one fsync) for the whole group. Each append is still judged alone, in
//! arrival order, exactly as above: its stream's version (as the appends before it in the group
//! left it) against its expected version, and its event ids against the store and the group. A
//! rejected append writes nothing and the rest of its group goes on; the accepted ones get the
//! next positions in group order. Should the group's transaction fail anyway, each of its
//! appends is retried alone, so every caller gets its own answer. With one writer nothing
//! waits (a group of one is a plain append); with 8 concurrent writers the appends per second
//! grow several times (`cargo bench -p evc-eventstore --bench append`).

mod group;

use evc_avro::chrono::{DateTime, SecondsFormat, Utc};
use evc_avro::uuid::Uuid;
use evc_avro::TopicEvent;
use evc_storage::{args, Arg, Database, Dialect, Migration, Row, StorageError, StorageUrl, Tx};
use evc_telemetry::TraceContext;

/// The event store's tables, as versioned migrations (component `evc-eventstore`).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "evc_events",
        sqlite: "CREATE TABLE IF NOT EXISTS evc_events (
            position    INTEGER PRIMARY KEY CHECK (position >= 1),
            stream_id   TEXT    NOT NULL,
            version     INTEGER NOT NULL CHECK (version >= 1),
            event_id    TEXT    NOT NULL UNIQUE,
            event_type  TEXT    NOT NULL,
            schema_id   INTEGER NOT NULL,
            occurred_at TEXT    NOT NULL,
            payload     BLOB    NOT NULL,
            UNIQUE (stream_id, version)
        )",
        postgres: "CREATE TABLE IF NOT EXISTS evc_events (
            position    BIGINT      PRIMARY KEY CHECK (position >= 1),
            stream_id   TEXT        NOT NULL,
            version     BIGINT      NOT NULL CHECK (version >= 1),
            event_id    UUID        NOT NULL UNIQUE,
            event_type  TEXT        NOT NULL,
            schema_id   BIGINT      NOT NULL,
            occurred_at TIMESTAMPTZ NOT NULL,
            payload     BYTEA       NOT NULL,
            CONSTRAINT evc_events_stream_version UNIQUE (stream_id, version)
        )",
    },
    Migration::portable(
        2,
        "evc_events.partition_key",
        "ALTER TABLE evc_events ADD COLUMN partition_key TEXT",
    ),
    Migration::portable(
        3,
        "evc_events.trace_parent",
        "ALTER TABLE evc_events ADD COLUMN trace_parent TEXT",
    ),
    Migration::portable(
        4,
        "evc_events.trace_state",
        "ALTER TABLE evc_events ADD COLUMN trace_state TEXT",
    ),
];

/// The component name the migrations are recorded under.
pub const COMPONENT: &str = "evc-eventstore";

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
#[non_exhaustive]
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
    #[error("event {event_id}: the payload is not in the Confluent wire format: {source}")]
    NotFramed {
        event_id: Uuid,
        #[source]
        source: evc_wire::FrameError,
    },
    /// An event to append has no event id (its schema lacks the envelope's id field).
    #[error(
        "a `{event_type}` event has no event id: the event store needs the envelope's id field"
    )]
    MissingEventId { event_type: &'static str },
    /// The event could not be encoded for storage.
    #[error("encoding `{event_type}` for the event store: {source}")]
    Encode {
        event_type: &'static str,
        #[source]
        source: Box<evc_wire::WireError>,
    },
    /// A stored row that cannot be read back (an edited database).
    #[error("corrupt row at position {position}: {problem}")]
    Corrupt {
        position: i64,
        problem: CorruptColumn,
    },
    #[error("database: {0}")]
    Database(#[from] StorageError),
    /// The group commit this append was queued in ended without an answer for it (its task
    /// was cancelled by a runtime shutting down, or panicked); whether it was written is unknown.
    #[error("the group commit this append was part of ended without an answer (the runtime shut down?); check the stream before retrying")]
    GroupAborted,
}

/// Which column of a stored row could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptColumn {
    #[error("event_id {0:?} is not a UUID")]
    EventId(String),
    #[error("schema_id {0} is not a 32-bit registry id")]
    SchemaId(i64),
    #[error("occurred_at {0:?} is not a time")]
    OccurredAt(String),
}

impl StoreError {
    /// True for database failures worth a retry (connection lost, pool timeout, busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(e) if e.is_transient())
    }
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
    /// The broker key the event is published with (its partition key); `None` publishes it
    /// keyed by the stream id.
    pub partition_key: Option<String>,
    /// The W3C trace context of the span the event was made in (the command's), stored so the
    /// outbox relay publishes it as part of that trace; `None` outside any span with ids.
    pub trace: Option<TraceContext>,
}

impl NewEvent {
    /// Checks the framing and takes the schema id from the header.
    pub fn new(
        event_id: Uuid,
        event_type: impl Into<String>,
        occurred_at: DateTime<Utc>,
        payload: Vec<u8>,
    ) -> Result<NewEvent, StoreError> {
        let schema_id = evc_wire::schema_id(&payload)
            .map_err(|source| StoreError::NotFramed { event_id, source })?;
        Ok(NewEvent {
            event_id,
            event_type: event_type.into(),
            occurred_at,
            schema_id,
            payload,
            partition_key: None,
            trace: TraceContext::current(),
        })
    }

    /// Sets (or clears) the trace context stored with the event ([`NewEvent::new`] takes the
    /// current span's).
    pub fn with_trace(mut self, trace: Option<TraceContext>) -> NewEvent {
        self.trace = trace;
        self
    }

    /// Sets the broker key the event is published with.
    pub fn with_partition_key(mut self, key: impl Into<String>) -> NewEvent {
        self.partition_key = Some(key.into());
        self
    }

    /// Encodes any generated topic-enum event (its generated encoder, the registry id of its
    /// schema) with its event id, type and partition key in columns.
    pub async fn encode<E: TopicEvent + 'static>(
        serializer: &evc_wire::Serializer,
        event: &E,
        occurred_at: DateTime<Utc>,
    ) -> Result<NewEvent, StoreError> {
        let event_type = event.full_name();
        let event_id = event
            .event_id()
            .ok_or(StoreError::MissingEventId { event_type })?;
        let payload =
            serializer
                .serialize_topic(event)
                .await
                .map_err(|source| StoreError::Encode {
                    event_type,
                    source: Box::new(source),
                })?;
        Ok(NewEvent::new(event_id, event_type, occurred_at, payload)?
            .with_partition_key(event.partition_key()))
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
    /// The broker key given at append (`None` for events stored without one).
    pub partition_key: Option<String>,
    /// The trace context stored at append (`None` when none was, or it no longer parses).
    pub trace: Option<TraceContext>,
}

impl RecordedEvent {
    /// The key to publish with: the partition key, or the stream id when none was stored.
    pub fn key(&self) -> &str {
        self.partition_key.as_deref().unwrap_or(&self.stream)
    }
}

/// One append of a group ([`EventStore::append_group`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub stream_version: u64,
    /// The global positions given to the events, in order.
    pub positions: Vec<u64>,
}

/// What group commit did so far on a store ([`EventStore::group_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupStats {
    /// Transactions committed by group commit (groups of one included).
    pub groups: u64,
    /// Appends those groups held.
    pub appends: u64,
}

/// The event store; cheap to clone (a pool handle; clones share one group commit).
#[derive(Debug, Clone)]
pub struct EventStore {
    db: Database,
    /// `None`: one transaction per append.
    group: Option<group::Shared>,
}

/// The lock that serializes appends (PostgreSQL advisory lock name).
pub(crate) const APPEND_LOCK: &str = "evc-eventstore:append";

fn columns(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => {
            "position, stream_id, version, event_id, event_type, schema_id, occurred_at, payload, partition_key, \
             trace_parent, trace_state"
        }
        Dialect::Postgres => {
            "position, stream_id, version, event_id::text, event_type, schema_id, \
             (EXTRACT(EPOCH FROM occurred_at) * 1000000)::BIGINT::TEXT, payload, partition_key, \
             trace_parent, trace_state"
        }
    }
}

impl EventStore {
    /// Opens the store at a storage URL (`sqlite://PATH`, `memory`, `postgres://...`) and
    /// applies its migrations.
    pub async fn open(url: &StorageUrl) -> Result<EventStore, StoreError> {
        EventStore::with_database(Database::open(url, "evc-eventstore").await?).await
    }

    /// Opens (creating it if missing) the SQLite database at `path` with evc's settings (WAL,
    /// `synchronous=FULL`) and applies the migrations.
    pub async fn open_sqlite(path: impl AsRef<std::path::Path>) -> Result<EventStore, StoreError> {
        EventStore::with_database(Database::open_sqlite(path).await?).await
    }

    /// A store on a private in-memory SQLite database (one connection; gone with the store).
    pub async fn sqlite_in_memory() -> Result<EventStore, StoreError> {
        EventStore::with_database(Database::sqlite_in_memory().await?).await
    }

    /// Connects to PostgreSQL (`postgres://...[?schema=NAME]`) and applies the migrations.
    pub async fn connect_postgres(url: &str) -> Result<EventStore, StoreError> {
        EventStore::open(&StorageUrl::parse(url)?).await
    }

    /// A store on a database you opened; applies the migrations.
    pub async fn with_database(db: Database) -> Result<EventStore, StoreError> {
        db.migrate(COMPONENT, MIGRATIONS).await?;
        Ok(EventStore {
            db,
            group: Some(Default::default()),
        })
    }

    /// Turns group commit on (the default) or off. On, appends that arrive while another
    /// append is committing are committed together in one transaction, one durable commit for
    /// all (see the crate docs); off, every append is its own transaction.
    pub fn with_group_commit(mut self, on: bool) -> EventStore {
        self.group = on.then(Default::default);
        self
    }

    /// Whether appends are group-committed.
    pub fn group_commit(&self) -> bool {
        self.group.is_some()
    }

    /// Groups committed and the appends they held, since group commit was turned on (shared
    /// by the store's clones); zero when it is off. `appends / groups` is the mean group size.
    pub fn group_stats(&self) -> GroupStats {
        self.group.as_ref().map(|g| g.stats()).unwrap_or_default()
    }

    /// The database the store lives in (the outbox keeps its checkpoint there).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Appends `events` to `stream` if the stream is at `expected`; otherwise nothing is
    /// written and the answer is [`StoreError::Conflict`]. The events are committed together
    /// (with other appends' events when group commit is on, each append still all or nothing).
    /// Appending no events checks the expected version only.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        match &self.group {
            Some(group) => group.append(&self.db, stream, expected, events).await,
            None => append_alone(&self.db, stream, expected, events).await,
        }
    }

    /// Appends to several streams in one transaction (one durable commit), each append judged
    /// alone and in order as [`EventStore::append`] judges it (the expected version against the
    /// stream as the appends before it left it, event ids new): one answer per append, and a
    /// rejected append writes nothing while the others are committed.
    pub async fn append_group(&self, appends: &[Append]) -> Vec<Result<Appended, StoreError>> {
        group::append_together(&self.db, appends).await
    }

    /// The stream's version: the number of events in it (0 if none).
    pub async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let mut tx = self.db.read().await?;
        stream_version_in(&mut tx, stream).await
    }

    /// Every event of `stream`, by version (empty if the stream does not exist).
    pub async fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut tx = self.db.read().await?;
        let sql = format!(
            "SELECT {} FROM evc_events WHERE stream_id = $1 ORDER BY version",
            columns(tx.dialect())
        );
        let rows = tx.rows(&sql, &args![stream]).await?;
        rows.iter().map(recorded).collect()
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
        let mut tx = self.db.read().await?;
        let sql = format!(
            "SELECT {} FROM evc_events WHERE position >= $1 ORDER BY position LIMIT $2",
            columns(tx.dialect())
        );
        let rows = tx.rows(&sql, &args![from, limit]).await?;
        rows.iter().map(recorded).collect()
    }

    /// The last global position (0 if the store is empty).
    pub async fn last_position(&self) -> Result<u64, StoreError> {
        let mut tx = self.db.read().await?;
        let v = tx
            .row("SELECT COALESCE(MAX(position), 0) FROM evc_events", &[])
            .await?
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0);
        Ok(to_u64(v))
    }
}

/// One append in its own transaction (group commit off, a group of one, or a failed group's
/// retry).
pub(crate) async fn append_alone(
    db: &Database,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Appended, StoreError> {
    let mut tx = db.serialized(APPEND_LOCK).await?;
    let actual = stream_version_in(&mut tx, stream).await?;
    check(stream, expected, actual)?;
    let last = tx
        .row("SELECT COALESCE(MAX(position), 0) FROM evc_events", &[])
        .await?
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0);
    let insert = match tx.dialect() {
        Dialect::Sqlite => {
            "INSERT INTO evc_events (position, stream_id, version, event_id, event_type, \
                 schema_id, occurred_at, payload, partition_key, trace_parent, trace_state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        }
        Dialect::Postgres => {
            "INSERT INTO evc_events (position, stream_id, version, event_id, event_type, \
                 schema_id, occurred_at, payload, partition_key, trace_parent, trace_state) \
                 VALUES ($1, $2, $3, $4::uuid, $5, $6, \
                 TIMESTAMPTZ 'epoch' + $7::BIGINT * INTERVAL '1 microsecond', $8, $9, $10, $11)"
        }
    };
    let mut positions = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let position = last + 1 + i as i64;
        let version = actual as i64 + 1 + i as i64;
        let occurred: Arg = match tx.dialect() {
            Dialect::Sqlite => e
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Micros, true)
                .into(),
            Dialect::Postgres => e.occurred_at.timestamp_micros().into(),
        };
        let inserted = tx
            .exec(
                insert,
                &[
                    position.into(),
                    stream.into(),
                    version.into(),
                    e.event_id.to_string().into(),
                    e.event_type.as_str().into(),
                    e.schema_id.into(),
                    occurred,
                    e.payload.as_slice().into(),
                    e.partition_key.as_deref().into(),
                    trace_parent(e).into(),
                    trace_state(e).into(),
                ],
            )
            .await;
        if let Err(err) = inserted {
            drop(tx); // rolls back
            return Err(insert_failed(db, err, stream, expected, e).await);
        }
        positions.push(to_u64(position));
    }
    tx.commit().await?;
    Ok(Appended {
        stream_version: actual + events.len() as u64,
        positions,
    })
}

/// Maps a failed insert (after rollback): a duplicate event id, or the `(stream_id,
/// version)` backstop reported as a conflict with the stream's version now.
async fn insert_failed(
    db: &Database,
    err: StorageError,
    stream: &str,
    expected: ExpectedVersion,
    event: &NewEvent,
) -> StoreError {
    if !err.is_unique_violation() {
        return StoreError::Database(err);
    }
    let on_event_id = match &err {
        StorageError::Database(db) => db.as_sqlx().as_database_error().is_some_and(|d| {
            d.constraint().is_some_and(|c| c.contains("event_id"))
                || d.message().contains("evc_events.event_id")
        }),
        _ => false,
    };
    if on_event_id {
        return StoreError::DuplicateEventId {
            event_id: event.event_id,
        };
    }
    let version = async {
        let mut tx = db.read().await?;
        stream_version_in(&mut tx, stream).await
    };
    match version.await {
        Ok(actual) => StoreError::Conflict {
            stream: stream.to_string(),
            expected,
            actual,
        },
        Err(e) => e,
    }
}

async fn stream_version_in(tx: &mut Tx, stream: &str) -> Result<u64, StoreError> {
    let v = tx
        .row(
            "SELECT COALESCE(MAX(version), 0) FROM evc_events WHERE stream_id = $1",
            &args![stream],
        )
        .await?
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0);
    Ok(to_u64(v))
}

pub(crate) fn check(
    stream: &str,
    expected: ExpectedVersion,
    actual: u64,
) -> Result<(), StoreError> {
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
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A row of [`columns`] back into an event. `occurred_at` is RFC 3339 text on SQLite and
/// microseconds since the epoch (as text) on PostgreSQL.
fn recorded(row: &Row) -> Result<RecordedEvent, StoreError> {
    let position = row.i64(0)?;
    let corrupt = |problem| StoreError::Corrupt { position, problem };
    let event_id = row.str(3)?;
    let event_id =
        Uuid::parse_str(&event_id).map_err(|_| corrupt(CorruptColumn::EventId(event_id)))?;
    let schema_id = row.i64(5)?;
    let schema_id =
        u32::try_from(schema_id).map_err(|_| corrupt(CorruptColumn::SchemaId(schema_id)))?;
    let occurred = row.str(6)?;
    let occurred_at = match occurred.parse::<i64>() {
        Ok(micros) => DateTime::from_timestamp_micros(micros),
        Err(_) => DateTime::parse_from_rfc3339(&occurred)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
    }
    .ok_or_else(|| corrupt(CorruptColumn::OccurredAt(occurred.clone())))?;
    Ok(RecordedEvent {
        position: to_u64(position),
        stream: row.str(1)?,
        version: to_u64(row.i64(2)?),
        event_id,
        event_type: row.str(4)?,
        schema_id,
        occurred_at,
        payload: row.bytes(7)?,
        partition_key: row.opt_str(8)?,
        trace: stored_trace(row.opt_str(9)?, row.opt_str(10)?, position),
    })
}

/// The `traceparent` column of an event.
pub(crate) fn trace_parent(e: &NewEvent) -> Option<String> {
    e.trace.as_ref().map(TraceContext::traceparent)
}

/// The `tracestate` column of an event.
pub(crate) fn trace_state(e: &NewEvent) -> Option<String> {
    e.trace
        .as_ref()
        .and_then(|t| t.tracestate().map(str::to_string))
}

/// The stored trace context; one that no longer parses (an edited row) is dropped with a DEBUG
/// line: tracing never stops an event from being read.
fn stored_trace(
    parent: Option<String>,
    state: Option<String>,
    position: i64,
) -> Option<TraceContext> {
    let parent = parent?;
    match TraceContext::parse(&parent, state.as_deref()) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::debug!(position, error = %e, "stored trace context ignored");
            None
        }
    }
}
