//! CQRS read models for any events: a [`ReadModel`] applied by an idempotent consumer, and a
//! [`rebuild`] from the event store that applies the same code.
//!
//! **Owns:** the [`ReadModel`] trait (its tables as versioned migrations, one `apply` per
//! event, written once against `evc-storage`'s [`TxRef`] so it runs on SQLite and
//! PostgreSQL); the [`Projector`], an `evc-consumer` [`Handler`] for any topic enum that
//! applies a model inside the consumer's transaction (so a model's writes commit together with
//! the processed-event marker, and a redelivered event is skipped, never applied twice; the
//! consumer batches, so a batch of events is applied in one transaction, in order per key,
//! `ConsumerConfig::batch_size`);
//! [`rebuild`], which drops the model's tables, recreates them from its migrations and replays
//! the event store from position 1 through the same `apply`.
//!
//! **Does not own:** consuming, offsets and deduplication (`evc-consumer`), the event store
//! (`evc-eventstore`), any particular read model (a domain crate defines its own: the order
//! domain's `order_summaries` lives in `evc-order`).
//!
//! # A read model
//!
//! ```
//! use evc_projection::{ProjectionError, ReadModel};
//! use evc_storage::{args, Migration, TxRef};
//!
//! /// Counts events per partition key.
//! struct Counts;
//!
//! const MIGRATIONS: &[Migration] = &[Migration {
//!     version: 1,
//!     name: "event_counts",
//!     sqlite: "CREATE TABLE event_counts (k TEXT PRIMARY KEY, n BIGINT NOT NULL)",
//!     postgres: "CREATE TABLE event_counts (k TEXT PRIMARY KEY, n BIGINT NOT NULL)",
//! }];
//!
//! impl<E: evc_avro::TopicEvent + Sync> ReadModel<E> for Counts {
//!     fn component(&self) -> String {
//!         "example:event_counts".into()
//!     }
//!     fn migrations(&self) -> &'static [Migration] {
//!         MIGRATIONS
//!     }
//!     fn tables(&self) -> Vec<String> {
//!         vec!["event_counts".into()]
//!     }
//!     async fn apply(&self, tx: &mut TxRef<'_>, event: &E) -> Result<(), ProjectionError> {
//!         tx.exec(
//!             "INSERT INTO event_counts (k, n) VALUES ($1, 1) \
//!              ON CONFLICT (k) DO UPDATE SET n = event_counts.n + 1",
//!             &args![event.partition_key()],
//!         )
//!         .await?;
//!         Ok(())
//!     }
//! }
//! ```

use std::error::Error as StdError;
use std::future::Future;

use evc_avro::TopicEvent;
use evc_consumer::{Handler, HandlerError, MessageMeta};
use evc_eventstore::{EventStore, StoreError};
use evc_storage::{Database, Migration, StorageError, TxRef};
use evc_wire::{Deserializer, WireError};
use sqlx::postgres::Postgres;
use sqlx::sqlite::Sqlite;
use sqlx::Transaction;

/// Why a read model could not be kept or rebuilt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// A table name that is not a plain identifier.
    #[error("invalid table name `{0}`: use letters, digits and _, not starting with a digit")]
    TableName(String),
    #[error("database: {0}")]
    Database(#[from] StorageError),
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("event at position {position} cannot be decoded: {source}")]
    Decode {
        position: u64,
        #[source]
        source: WireError,
    },
    /// The model refuses the event (for example an update of an entity it never saw created,
    /// which per-key ordering rules out): permanent, so the consumer dead-letters it.
    #[error("{event_type}: {source}")]
    Refused {
        event_type: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
}

/// Checks a table name is a plain SQL identifier (letters, digits, `_`; not starting with a
/// digit), so it can be put into statements.
pub fn checked_table(table: &str) -> Result<String, ProjectionError> {
    let mut chars = table.chars();
    let ok = table.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(table.to_string())
    } else {
        Err(ProjectionError::TableName(table.to_string()))
    }
}

/// A read model of the events `E` (a generated topic enum).
pub trait ReadModel<E>: Send + Sync + 'static {
    /// The name its migrations are recorded under in `evc_migrations`; include the table
    /// names when they are configurable, so two instances have separate histories.
    fn component(&self) -> String;
    /// Its tables, as versioned migrations.
    fn migrations(&self) -> &'static [Migration];
    /// `{name}` substitutions for the migrations' SQL (configurable table names).
    fn params(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// The tables [`rebuild`] drops before replaying.
    fn tables(&self) -> Vec<String>;
    /// Applies one event inside `tx`. The same code runs live and on rebuild.
    fn apply(
        &self,
        tx: &mut TxRef<'_>,
        event: &E,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;
}

/// Creates or migrates `model`'s tables on `db`.
pub async fn migrate<E, M: ReadModel<E>>(db: &Database, model: &M) -> Result<(), ProjectionError> {
    let params = model.params();
    let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    db.migrate_with(&model.component(), model.migrations(), &refs)
        .await?;
    Ok(())
}

/// The projector: an `evc-consumer` handler applying a [`ReadModel`] in the consumer's
/// transaction, on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct Projector<M> {
    model: M,
}

impl<M> Projector<M> {
    pub fn new(model: M) -> Projector<M> {
        Projector { model }
    }

    pub fn model(&self) -> &M {
        &self.model
    }
}

/// A model's failure as the consumer sees it: database connection failures stay transient
/// (retried, never dead-lettered), refusals are permanent.
fn handler_error(e: ProjectionError) -> HandlerError {
    match e {
        ProjectionError::Database(StorageError::Database(db)) => db.into_sqlx().into(),
        other => {
            HandlerError::new("evc_projection::ProjectionError", other.to_string()).permanent()
        }
    }
}

impl<E: Send + Sync + 'static, M: ReadModel<E>> Handler<E, Sqlite> for Projector<M> {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        event: &E,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.model
            .apply(&mut TxRef::from(tx), event)
            .await
            .map_err(handler_error)
    }
}

impl<E: Send + Sync + 'static, M: ReadModel<E>> Handler<E, Postgres> for Projector<M> {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        event: &E,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.model
            .apply(&mut TxRef::from(tx), event)
            .await
            .map_err(handler_error)
    }
}

/// Drops `model`'s tables (if any), creates them fresh from its migrations and replays every
/// event of `store` from position 1 into them, in one transaction per batch of 500 events;
/// answers how many events were applied. Give it a model on other tables than the live one to
/// compare, or the live one while its consumer is stopped (the consumer's processed-events
/// markers stay valid: the rebuilt rows contain those events).
pub async fn rebuild<E: TopicEvent + Send + Sync + 'static, M: ReadModel<E>>(
    store: &EventStore,
    deserializer: &Deserializer,
    db: &Database,
    model: &M,
) -> Result<u64, ProjectionError> {
    let mut tx = db.write().await?;
    for table in model.tables() {
        let table = checked_table(&table)?;
        tx.exec(&format!("DROP TABLE IF EXISTS {table}"), &[])
            .await?;
    }
    // the ledger forgets them too, so the migrations run again
    tx.forget_migrations(&model.component()).await?;
    tx.commit().await?;
    migrate(db, model).await?;
    let mut from = 1;
    let mut applied = 0;
    loop {
        let batch = store.read_all(from, 500).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok(applied);
        };
        let mut events = Vec::with_capacity(batch.len());
        for e in &batch {
            let event = deserializer
                .deserialize_topic::<E>(&e.payload)
                .await
                .map_err(|source| ProjectionError::Decode {
                    position: e.position,
                    source,
                })?;
            events.push(event);
        }
        let mut tx = db.write().await?;
        for e in &events {
            model.apply(&mut tx.as_ref(), e).await?;
        }
        tx.commit().await?;
        applied += events.len() as u64;
        from = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        assert!(checked_table("order_summaries_2").is_ok());
        assert!(checked_table("_x").is_ok());
        assert!(checked_table("x; DROP TABLE y").is_err());
        assert!(checked_table("").is_err());
        assert!(checked_table("2x").is_err());
        assert!(checked_table(&"a".repeat(64)).is_err());
    }
}
