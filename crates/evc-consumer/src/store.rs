//! The processed-events store: which events a consumer group has already handled.
//!
//! One row per (consumer group, event id), written in the same transaction as the handler's
//! own writes. The marker is inserted first (`INSERT ... ON CONFLICT DO NOTHING`, the "eager"
//! idempotent consumer): when it already exists the event is a duplicate and the transaction is
//! rolled back without running the handler; when a second consumer processes the same event at
//! the same time (a rebalance in progress), its insert waits for the first transaction
//! (PostgreSQL row lock, SQLite's single writer) and then finds the marker.

use std::future::Future;
use std::path::Path;

use evc_storage::{Database as StorageDb, Migration, StorageError};
use sqlx::postgres::{PgPool, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Database, Transaction};

/// The default table name.
pub const DEFAULT_TABLE: &str = "evc_processed_events";

/// What is recorded about a processed event.
#[derive(Debug, Clone, Copy)]
pub struct ProcessedRecord<'a> {
    pub group: &'a str,
    pub event_key: &'a str,
    pub event_type: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    /// The Kafka offset, -1 where positions are not numbers.
    pub offset: i64,
    /// The position as the transport names it.
    pub position: &'a str,
}

/// Storage of processed-event markers, on the database the handler writes to.
pub trait ProcessedStore: Send + Sync + 'static {
    type Db: Database;

    /// Starts the transaction the marker and the handler's writes share.
    fn begin(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;

    /// Inserts the marker: `true` when it is new, `false` when the group has processed the
    /// event already.
    fn mark_processed(
        &self,
        tx: &mut Transaction<'static, Self::Db>,
        record: &ProcessedRecord<'_>,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;

    /// [`mark_processed`](ProcessedStore::mark_processed) for each of `records` in order, in
    /// one transaction: the answer per record, `false` for an event processed before or
    /// earlier in `records`. A consumer committing batches calls this once per batch; the
    /// default inserts one marker after the other, a store may do it in one statement (the
    /// PostgreSQL store does: one round trip per batch).
    fn mark_processed_batch(
        &self,
        tx: &mut Transaction<'static, Self::Db>,
        records: &[ProcessedRecord<'_>],
    ) -> impl Future<Output = Result<Vec<bool>, sqlx::Error>> + Send {
        mark_each(self, tx, records)
    }

    /// Whether the group has processed the event (outside any transaction).
    fn is_processed(
        &self,
        group: &str,
        event_key: &str,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;
}

/// [`ProcessedStore::mark_processed`] for each record in turn: the default
/// [`ProcessedStore::mark_processed_batch`], and a store's way out of its one-statement path.
async fn mark_each<S: ProcessedStore + ?Sized>(
    store: &S,
    tx: &mut Transaction<'static, S::Db>,
    records: &[ProcessedRecord<'_>],
) -> Result<Vec<bool>, sqlx::Error> {
    let mut fresh = Vec::with_capacity(records.len());
    for r in records {
        fresh.push(store.mark_processed(tx, r).await?);
    }
    Ok(fresh)
}

/// The processed-events table, as versioned migrations (component
/// `evc-consumer:processed:<table>`, `{table}` being the configured name).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "processed events",
        sqlite: "CREATE TABLE IF NOT EXISTS {table} (
        consumer_group TEXT NOT NULL,
        event_key TEXT NOT NULL,
        event_type TEXT NOT NULL,
        topic TEXT NOT NULL,
        kafka_partition INTEGER NOT NULL,
        kafka_offset INTEGER NOT NULL,
        processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (consumer_group, event_key)
    )",
        postgres: "CREATE TABLE IF NOT EXISTS {table} (
        consumer_group TEXT NOT NULL,
        event_key TEXT NOT NULL,
        event_type TEXT NOT NULL,
        topic TEXT NOT NULL,
        kafka_partition INTEGER NOT NULL,
        kafka_offset BIGINT NOT NULL,
        processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer_group, event_key)
    )",
    },
    Migration {
        version: 2,
        name: "transport position",
        sqlite: "ALTER TABLE {table} ADD COLUMN position TEXT",
        postgres: "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS position TEXT",
    },
];

/// Why a processed-events store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreOpenError {
    /// The table name is not `[schema.]name` of letters, digits and `_`.
    #[error("invalid table name `{0}`: use [schema.]name with letters, digits and _")]
    TableName(String),
    #[error("processed-events store: {0}")]
    Storage(#[from] StorageError),
}

/// Checks a table name (optionally schema-qualified) before it is put into SQL.
fn checked_table(table: &str) -> Result<String, StoreOpenError> {
    let ok = !table.is_empty()
        && table.split('.').count() <= 2
        && table.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(table.to_string())
    } else {
        Err(StoreOpenError::TableName(table.to_string()))
    }
}

/// Creates or migrates the table `table` on `db`.
async fn migrate(db: &StorageDb, table: &str) -> Result<(), StoreOpenError> {
    db.migrate_with(
        &format!("evc-consumer:processed:{table}"),
        MIGRATIONS,
        &[("table", table)],
    )
    .await?;
    Ok(())
}

/// The processed-events store on SQLite: the embedded default, nothing to run.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    table: String,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database file at `path` with evc's settings (WAL,
    /// `synchronous=FULL`, a busy timeout) and creates the table.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreOpenError> {
        let db = StorageDb::open_sqlite(path).await?;
        let pool = db.sqlite_pool().cloned().unwrap_or_else(|| unreachable!());
        SqliteStore::with_pool(pool, DEFAULT_TABLE).await
    }

    /// A store on a private in-memory database (one connection; gone with the store).
    pub async fn in_memory() -> Result<SqliteStore, StoreOpenError> {
        let db = StorageDb::sqlite_in_memory().await?;
        let pool = db.sqlite_pool().cloned().unwrap_or_else(|| unreachable!());
        SqliteStore::with_pool(pool, DEFAULT_TABLE).await
    }

    /// A store on your pool (the one your handler's tables live in), creating `table`.
    pub async fn with_pool(pool: SqlitePool, table: &str) -> Result<SqliteStore, StoreOpenError> {
        let table = checked_table(table)?;
        migrate(&StorageDb::from_sqlite_pool(pool.clone()), &table).await?;
        Ok(SqliteStore { pool, table })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl ProcessedStore for SqliteStore {
    type Db = Sqlite;

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        // never a pooled connection a cancelled caller left inside a transaction
        evc_storage::begin_clean(&self.pool, None).await
    }

    async fn mark_processed(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        r: &ProcessedRecord<'_>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(&format!(
            "INSERT INTO {} (consumer_group, event_key, event_type, topic, kafka_partition, kafka_offset, position)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (consumer_group, event_key) DO NOTHING",
            self.table
        ))
        .bind(r.group)
        .bind(r.event_key)
        .bind(r.event_type)
        .bind(r.topic)
        .bind(r.partition)
        .bind(r.offset)
        .bind(r.position)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One multi-row statement per 2,000 records (SQLite's statements are round trips to its
    /// worker thread), answering the markers it inserted.
    async fn mark_processed_batch(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        records: &[ProcessedRecord<'_>],
    ) -> Result<Vec<bool>, sqlx::Error> {
        // inserted event keys per group (looked up by &str, no allocation per record)
        let mut inserted: std::collections::HashMap<String, std::collections::HashSet<String>> =
            std::collections::HashMap::new();
        // 7 parameters a row, well under SQLite's 32,766
        for chunk in records.chunks(2000) {
            let mut q = sqlx::QueryBuilder::<Sqlite>::new(format!(
                "INSERT INTO {} (consumer_group, event_key, event_type, topic, kafka_partition, kafka_offset, position) ",
                self.table
            ));
            q.push_values(chunk, |mut row, r| {
                row.push_bind(r.group)
                    .push_bind(r.event_key)
                    .push_bind(r.event_type)
                    .push_bind(r.topic)
                    .push_bind(r.partition)
                    .push_bind(r.offset)
                    .push_bind(r.position);
            });
            q.push(
                " ON CONFLICT (consumer_group, event_key) DO NOTHING RETURNING consumer_group, event_key",
            );
            let rows: Vec<(String, String)> = q.build_query_as().fetch_all(&mut **tx).await?;
            for (group, key) in rows {
                inserted.entry(group).or_default().insert(key);
            }
        }
        // Rows go in order, so of two records with one key the first is inserted and takes
        // the insertion; a later one is a duplicate.
        Ok(records
            .iter()
            .map(|r| {
                inserted
                    .get_mut(r.group)
                    .is_some_and(|keys| keys.remove(r.event_key))
            })
            .collect())
    }

    async fn is_processed(&self, group: &str, event_key: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE consumer_group = ? AND event_key = ?",
            self.table
        ))
        .bind(group)
        .bind(event_key)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}

/// The processed-events store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    table: String,
}

impl PostgresStore {
    /// A store on your pool, creating `table` (`name` or `schema.name`; the schema must exist).
    pub async fn with_pool(pool: PgPool, table: &str) -> Result<PostgresStore, StoreOpenError> {
        let table = checked_table(table)?;
        migrate(&StorageDb::from_postgres_pool(pool.clone()), &table).await?;
        Ok(PostgresStore { pool, table })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl ProcessedStore for PostgresStore {
    type Db = Postgres;

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        // never a pooled connection a cancelled caller left inside a transaction
        evc_storage::begin_clean(&self.pool, None).await
    }

    async fn mark_processed(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        r: &ProcessedRecord<'_>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(&format!(
            "INSERT INTO {} (consumer_group, event_key, event_type, topic, kafka_partition, kafka_offset, position)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (consumer_group, event_key) DO NOTHING",
            self.table
        ))
        .bind(r.group)
        .bind(r.event_key)
        .bind(r.event_type)
        .bind(r.topic)
        .bind(r.partition)
        .bind(r.offset)
        .bind(r.position)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One statement for the whole batch (arrays unnested), answering the markers it inserted.
    async fn mark_processed_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        records: &[ProcessedRecord<'_>],
    ) -> Result<Vec<bool>, sqlx::Error> {
        let Some(first) = records.first() else {
            return Ok(Vec::new());
        };
        if records.len() == 1 || records.iter().any(|r| r.group != first.group) {
            return mark_each(self, tx, records).await;
        }
        fn column<'r>(
            records: &'r [ProcessedRecord<'_>],
            f: impl Fn(&'r ProcessedRecord<'_>) -> &'r str,
        ) -> Vec<&'r str> {
            records.iter().map(f).collect()
        }
        // Rows go in array order, so of two records with one key the first is inserted.
        let inserted: Vec<String> = sqlx::query_scalar(&format!(
            "INSERT INTO {} (consumer_group, event_key, event_type, topic, kafka_partition, kafka_offset, position)
             SELECT $1, k, ty, tp, p, o, pos
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int4[], $6::int8[], $7::text[])
                  AS u(k, ty, tp, p, o, pos)
             ON CONFLICT (consumer_group, event_key) DO NOTHING
             RETURNING event_key",
            self.table
        ))
        .bind(first.group)
        .bind(column(records, |r| r.event_key))
        .bind(column(records, |r| r.event_type))
        .bind(column(records, |r| r.topic))
        .bind(records.iter().map(|r| r.partition).collect::<Vec<i32>>())
        .bind(records.iter().map(|r| r.offset).collect::<Vec<i64>>())
        .bind(column(records, |r| r.position))
        .fetch_all(&mut **tx)
        .await?;
        let mut inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
        // The first record of a key takes its insertion; a later one is a duplicate.
        Ok(records
            .iter()
            .map(|r| inserted.remove(r.event_key))
            .collect())
    }

    async fn is_processed(&self, group: &str, event_key: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE consumer_group = $1 AND event_key = $2",
            self.table
        ))
        .bind(group)
        .bind(event_key)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(checked_table("evc_processed_events").is_ok());
        assert!(checked_table("test_1.processed").is_ok());
        for bad in ["", "a.b.c", "x; DROP TABLE y", "1abc", "a-b", "\"q\""] {
            assert!(checked_table(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn sqlite_marks_once_and_rolls_back_with_the_transaction() {
        let store = SqliteStore::in_memory().await.unwrap();
        let r = ProcessedRecord {
            group: "g",
            event_key: "e1",
            event_type: "T",
            topic: "t",
            partition: 0,
            offset: 7,
            position: "7",
        };
        // Rolled back: not processed.
        let mut tx = store.begin().await.unwrap();
        assert!(store.mark_processed(&mut tx, &r).await.unwrap());
        tx.rollback().await.unwrap();
        assert!(!store.is_processed("g", "e1").await.unwrap());
        // Committed: processed; a second marker is refused; another group is separate.
        let mut tx = store.begin().await.unwrap();
        assert!(store.mark_processed(&mut tx, &r).await.unwrap());
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert!(!store.mark_processed(&mut tx, &r).await.unwrap());
        assert!(store
            .mark_processed(
                &mut tx,
                &ProcessedRecord {
                    group: "other",
                    ..r
                }
            )
            .await
            .unwrap());
        tx.commit().await.unwrap();
        assert!(store.is_processed("g", "e1").await.unwrap());
        assert!(store.is_processed("other", "e1").await.unwrap());
    }
}
