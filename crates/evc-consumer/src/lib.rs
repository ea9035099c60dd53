//! A typed Kafka consumer for evc's generated events, with idempotent processing, retries and a
//! dead-letter topic.
//!
//! **Owns:** consuming a topic with rdkafka's `StreamConsumer` and handing each message to the
//! application as a decoded event ([`ConsumedEvent`]: a topic's event enum, whatever schema
//! version wrote it); the offset discipline (offsets are stored only once a message is done and
//! committed periodically, when partitions are revoked and on shutdown); idempotent processing
//! (a processed-events store keyed by consumer group and event id, on SQLite or PostgreSQL,
//! written in the handler's own transaction: [`ProcessedStore`]); retries with bounded
//! exponential backoff; the dead-letter topic and its headers ([`dlq::headers`]); replaying a
//! dead-letter topic ([`replay_dlq`]); counters ([`Metrics`]), exported to Prometheus by
//! [`ConsumerExporter`].
//!
//! **Does not own:** the wire format and schema resolution (`evc-wire`), the registry client
//! (`evc-registry-client`), producing events (`evc-producer`), what events mean (the handler),
//! side effects outside the handler's database transaction (they are at-least-once).
//!
//! ## Guarantees, and how
//!
//! - **No message is lost or skipped silently.** `enable.auto.offset.store=false` and
//!   `enable.auto.commit=false` are enforced; the offset of a message is stored only after its
//!   handler transaction committed, it was found to be a duplicate, or its dead letter was
//!   acknowledged by the broker (`acks=all`, idempotent producer). Stored offsets are committed
//!   every [`ConsumerConfig::commit_interval`], in the revoke callback of a rebalance
//!   (`ConsumerContext::pre_rebalance`, synchronously) and on [`Control::shutdown`].
//! - **Order per partition.** One message at a time, in the order received; a message is
//!   finished (handled, skipped or dead-lettered) before the next is looked at.
//! - **Exactly one effect per event in the database.** The handler gets the transaction the
//!   processed marker (consumer group, event id) is inserted in; both commit or neither does.
//!   A redelivered event finds its marker and is skipped (`duplicates`). A crash between the
//!   database commit and the offset commit leads to a redelivery, which is skipped.
//! - **Failures.** A handler error is retried ([`ConsumerConfig::handler_retry`]: attempts,
//!   initial and maximum backoff), then dead-lettered to `<topic>.dlq` with
//!   `stage=handle`; a [`HandlerError::permanent`] error is dead-lettered at once. A poison
//!   message (no value, bad framing, unknown schema id, a writer schema that cannot be read,
//!   an undecodable body, an event type this consumer does not read) is dead-lettered at once
//!   with `stage=deserialize`. A registry that cannot be reached, or a database connection
//!   failure, says nothing about the message: it is retried with backoff until it passes or the
//!   consumer is stopped, and never dead-lettered. A dead letter that cannot be written is
//!   retried the same way.
//!
//! Retries wait inside the poll loop: keep `max attempts × max backoff` well under
//! `max.poll.interval.ms` (5 minutes by default), or the consumer leaves the group while
//! waiting; a long registry outage makes it leave and rejoin (its partitions are then
//! redelivered from the last commit, which the processed-events store absorbs). A panicking
//! handler ends [`EventConsumer::run`] without committing what it was processing.
//!
//! ## Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use evc_consumer::{ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta, SqliteStore};
//! use evc_registry_client::RegistryClient;
//! use order_events::OrderEvent;
//! use sqlx::{Sqlite, Transaction};
//!
//! struct Projection;
//!
//! impl Handler<OrderEvent, Sqlite> for Projection {
//!     async fn handle(
//!         &self,
//!         tx: &mut Transaction<'static, Sqlite>,
//!         event: &OrderEvent,
//!         _meta: &MessageMeta,
//!     ) -> Result<(), HandlerError> {
//!         if let OrderEvent::OrderPaid(paid) = event {
//!             sqlx::query("UPDATE orders SET paid = 1 WHERE id = ?")
//!                 .bind(paid.order_id.to_string())
//!                 .execute(&mut **tx)
//!                 .await?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let store = SqliteStore::open("billing.db").await?;
//! let consumer = EventConsumer::<OrderEvent, _, _>::new(
//!     ConsumerConfig::new("kafka-1:9092", "billing"),
//!     RegistryClient::new("http://schema-registry:8081")?,
//!     store,
//!     Projection,
//! )?;
//! let control = consumer.control();
//! let metrics = consumer.metrics();
//! tokio::spawn(async move {
//!     tokio::signal::ctrl_c().await.ok();
//!     control.shutdown();
//! });
//! let last = consumer.run().await?;
//! println!("processed {}, dead-lettered {}", last.processed, last.dead_lettered);
//! # let _ = metrics;
//! # Ok(())
//! # }
//! ```

mod config;
mod consumer;
pub mod dlq;
mod error;
mod event;
mod export;
mod handler;
mod metrics;
mod store;

pub use config::{ConsumerConfig, RetryPolicy};
pub use consumer::{Control, EventConsumer};
pub use dlq::{replay_dlq, ReplayConfig, ReplayError, ReplayReport, Stage};
pub use error::ConsumeError;
pub use event::{ConsumedEvent, Single};
pub use export::ConsumerExporter;
pub use handler::{Handler, HandlerError, MessageMeta};
pub use metrics::{Metrics, MetricsHandle};
pub use store::{
    PostgresStore, ProcessedRecord, ProcessedStore, SqliteStore, StoreOpenError, DEFAULT_TABLE,
};

pub use sqlx;
