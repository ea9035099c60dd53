//! A typed consumer for evc's generated events over any evc transport (Kafka, Redis Streams,
//! RabbitMQ), with idempotent processing, retries and dead letters.
//!
//! **Owns:** consuming topics as a member of a group through an `evc_transport::Transport`
//! and handing each message to the application as a decoded event ([`ConsumedEvent`]: a
//! topic's event enum, whatever schema version wrote it); when a delivery is settled (acked
//! only once it is done); idempotent processing (a processed-events store keyed by consumer
//! group and event id, on SQLite or PostgreSQL, written in the handler's own transaction:
//! [`ProcessedStore`]); retries with bounded exponential backoff; which messages are poison and
//! the dead-letter headers' meaning ([`dlq::headers`], evc-transport's one definition);
//! replaying a dead-letter destination ([`replay_dlq`]); counters ([`Metrics`]) and the
//! handler-latency histogram, exported to Prometheus by [`ConsumerExporter`]; continuing the
//! trace of each message: its processing and settling run in an `evc.consume` span whose
//! parent is the W3C `traceparent` of its headers (a malformed one is ignored with a DEBUG
//! line and the message starts a new trace; it never fails or dead-letters the message).
//!
//! **Does not own:** the brokers and their acks, offsets, leases and queues (`evc-transport`),
//! the wire format and schema resolution (`evc-wire`), the registry client
//! (`evc-registry-client`), producing events (`evc-producer`), what events mean (the
//! handler), side effects outside the handler's database transaction (they are
//! at-least-once).
//!
//! The broker is the URL given to [`ConsumerConfig::new`]: a Kafka bootstrap list (the
//! default path, rdkafka), `redis://...` (feature `redis`) or `amqp://...` (feature
//! `rabbitmq`); or any transport through [`EventConsumer::over`]. Payloads are the Confluent
//! wire format on every transport.
//!
//! ## Guarantees, and how
//!
//! - **No message is lost or skipped silently.** A delivery is acked only after its handler
//!   transaction committed, it was found to be a duplicate, or its dead letter was confirmed
//!   by the broker. On Kafka an ack stores the offset (`enable.auto.offset.store=false` and
//!   `enable.auto.commit=false` are enforced) and stored offsets are committed every
//!   [`ConsumerConfig::commit_interval`], on revoke and on [`Control::shutdown`]; on Redis an
//!   ack is an `XACK`, on RabbitMQ a basic ack.
//! - **Order per key.** A key always maps to one shard; a shard hands out at most
//!   [`ConsumerConfig::batch_size`] unsettled deliveries, in order, and they are handled and
//!   settled in that order (nothing after a delivery is acked before it).
//! - **Batched commits.** A batch (up to `batch_size` deliveries across the subscription's
//!   shards; default 64) is handled in one transaction: every event's marker and handler
//!   writes, committed once, then acked in order. A failing handler lets the events before it
//!   commit; it is retried or dead-lettered on its own, and the events after it follow it. A
//!   handler may take the batch set-based ([`Handler::handle_batch`]). With
//!   `batch_size(1)`, one transaction per event.
//! - **Exactly one effect per event in the database.** The handler gets the transaction the
//!   processed marker (consumer group, event id) is inserted in; both commit or neither does.
//!   A redelivered event finds its marker and is skipped (`duplicates`). A crash between the
//!   database commit and the ack leads to a redelivery, which is skipped.
//! - **Failures.** A handler error is retried ([`ConsumerConfig::handler_retry`]: attempts,
//!   initial and maximum backoff), then dead-lettered to `<topic>.dlq` with
//!   `stage=handle`; a [`HandlerError::permanent`] error is dead-lettered at once. A poison
//!   message (no value, bad framing, unknown schema id, a writer schema that cannot be read,
//!   an undecodable body, an event type this consumer does not read) is dead-lettered at once
//!   with `stage=deserialize`. A registry, database or broker that cannot be reached says
//!   nothing about the message: it is retried with backoff until it passes or the consumer is
//!   stopped, and never dead-lettered. A dead letter that cannot be written is retried the
//!   same way, its message left unsettled.
//!
//! Retries wait while holding the delivery: on Kafka keep `max attempts × max backoff` well
//! under `max.poll.interval.ms` (5 minutes by default), or the member leaves the group while
//! waiting (its partitions are then redelivered from the last commit, which the
//! processed-events store absorbs). A panicking handler ends [`EventConsumer::run`] without
//! settling what it was processing.
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

pub use config::{ConsumerConfig, RetryPolicy, DEFAULT_BATCH_SIZE};
pub use consumer::{BatchPoint, Control, EventConsumer};
pub use dlq::{replay_dlq, replay_over, ReplayConfig, ReplayError, ReplayReport, Stage};
pub use error::ConsumeError;
pub use event::{ConsumedEvent, Single};
pub use export::ConsumerExporter;
pub use handler::{Handler, HandlerError, MessageMeta};
pub use metrics::{Metrics, MetricsHandle};
pub use store::{
    PostgresStore, ProcessedRecord, ProcessedStore, SqliteStore, StoreOpenError, DEFAULT_TABLE,
};

pub use evc_transport;
pub use evc_transport::Headers;
pub use sqlx;
