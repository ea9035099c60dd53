//! A transactional-outbox relay: the event store **is** the outbox.
//!
//! **Owns:** publishing what the event store ([`evc_eventstore::EventStore`]) committed to
//! a topic of any evc transport (Kafka by default, Redis Streams, RabbitMQ), in
//! global-position order, at least once; the relay's checkpoint (the last position
//! the broker acknowledged) in a `relay_checkpoint` table of the store's own database (SQLite
//! or PostgreSQL, from versioned migrations: component `evc-outbox`); resuming after a crash
//! from that checkpoint; its Prometheus metrics ([`RelayMetrics`]: backlog, age of the oldest
//! unpublished event, checkpoint). It works for any events: it never decodes a payload.
//!
//! **Does not own:** encoding (the stored bytes are sent as they are), appending events
//! (`evc-order`, `evc-eventstore`), the brokers and their confirmations (`evc-transport`),
//! consuming and deduplicating (`evc-consumer`).
//!
//! # Why appending and publishing never diverge
//!
//! A command appends its event in one database transaction and publishes nothing; the relay
//! publishes only what [`EventStore::read_all`] returns, i.e. what was committed. There is no
//! second write that can fail after the first.
//!
//! # Record layout
//!
//! Same as `evc-producer`'s: key = the event's partition key, stored with the event at append
//! ([`evc_eventstore::NewEvent::encode`] takes it from the generated type; an event stored
//! without one is keyed by its stream id), value = the stored Confluent-framed
//! bytes, unchanged (no re-encoding), headers `evc-event-id`, `evc-event-type`,
//! `content-type: application/vnd.confluent.avro`, and the W3C `traceparent`/`tracestate` of
//! the event's `evc.relay.publish` span (see *Traces*). The transport is the one
//! [`evc_producer::ProducerConfig`] names (on Kafka idempotent with `acks=all`, enforced, and
//! `murmur2_random`, so a key lands on the partition `evc-producer` would pick), or any
//! transport given to [`Relay::over`].
//!
//! # Guarantees, and how
//!
//! - **Order.** A batch is read by position and published in that order as one transport
//!   batch: the events of one key (one shard) keep their store order.
//! - **At least once, no gap.** The checkpoint is written only after every message of the
//!   batch was confirmed; after a failure nothing of the batch is checkpointed (the transport
//!   does not say which prefix was confirmed), so it is published again. A relay that dies between the acknowledgement and the checkpoint write
//!   publishes those events again when it restarts: duplicates, never a gap. Consumers
//!   deduplicate by event id (`evc-consumer`'s processed-events store).
//! - **No silent skip.** An event the broker refuses stops the relay with
//!   [`RelayError::Publish`] at that position; nothing after it is checkpointed.
//!
//! # Traces
//!
//! Each event is published inside a span `evc.relay.publish` (fields `relay`, `topic`,
//! `position`, `event_id`) whose parent is the trace context stored with the event at append
//! (the command's span, [`evc_eventstore::NewEvent::trace`]), so the relay's hop belongs to the
//! command's trace; an event stored without one (appended outside any span) starts a trace
//! at the relay. The span's context is written into the message's headers, where the
//! consumer continues it. The spans last from the read of the batch to the broker's
//! confirmation.
//!
//! # Table
//!
//! `relay_checkpoint (relay TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at ...)`; one
//! row per relay name. The checkpoint only moves forward.
//!
//! Run one relay per name at a time (for example one replica, or a leader election around
//! it); two relays of the same name would both publish, which is still at-least-once but
//! doubles the duplicates.

mod metrics;
pub use metrics::RelayMetrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use evc_eventstore::{EventStore, RecordedEvent, StoreError};
use evc_producer::{event_headers, trace_headers, ProduceError, ProducerConfig};
use evc_storage::{args, Database, Dialect, Migration, StorageError};
use evc_telemetry::TraceContext;
use evc_transport::{AnyTransport, LazyTransport, Outgoing, Transport, TransportError};

/// The checkpoint table's name.
pub const CHECKPOINT_TABLE: &str = "relay_checkpoint";

/// The relay's table, as versioned migrations (component `evc-outbox`).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "relay_checkpoint",
    sqlite: "CREATE TABLE IF NOT EXISTS relay_checkpoint (
        relay TEXT PRIMARY KEY,
        position INTEGER NOT NULL CHECK (position >= 0),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )",
    postgres: "CREATE TABLE IF NOT EXISTS relay_checkpoint (
        relay TEXT PRIMARY KEY,
        position BIGINT NOT NULL CHECK (position >= 0),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )",
}];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] StorageError),
    #[error("producer: {0}")]
    Producer(#[from] ProduceError),
    #[error("the batch from position {position} was not published: {source}")]
    Publish {
        /// The first position of the batch.
        position: u64,
        #[source]
        source: TransportError,
    },
}

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The checkpoint row's key.
    pub name: String,
    /// Where events are published.
    pub topic: String,
    /// Events read and published per batch.
    pub batch_size: usize,
    /// How long [`Relay::run`] sleeps when there is nothing to publish.
    pub poll_interval: Duration,
}

impl RelayConfig {
    /// A relay named `name` publishing to `topic`, with 500-event batches and a 200 ms idle
    /// poll.
    pub fn new(name: impl Into<String>, topic: impl Into<String>) -> RelayConfig {
        RelayConfig {
            name: name.into(),
            topic: topic.into(),
            batch_size: 500,
            poll_interval: Duration::from_millis(200),
        }
    }
}

/// A batch the broker acknowledged (not yet checkpointed unless said so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Positions published, in order (consecutive).
    pub positions: Vec<u64>,
}

impl Published {
    pub fn last(&self) -> Option<u64> {
        self.positions.last().copied()
    }
}

/// The relay (see the [crate] docs), publishing over the transport `T`.
pub struct Relay<T: Transport = AnyTransport> {
    store: EventStore,
    db: Database,
    transport: LazyTransport<T>,
    config: RelayConfig,
}

impl<T: Transport> std::fmt::Debug for Relay<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Relay<AnyTransport> {
    /// A relay reading `store`, checkpointing in the store's own database (applying the
    /// relay's migrations) and publishing to the broker `producer` names (on Kafka
    /// idempotent, `acks=all`).
    pub async fn new(
        store: EventStore,
        producer: &ProducerConfig,
        config: RelayConfig,
    ) -> Result<Relay, RelayError> {
        Relay::assemble(store, producer.transport()?, config).await
    }
}

impl<T: Transport + 'static> Relay<T> {
    /// A relay publishing over a transport you made (any implementation of
    /// [`evc_transport::Transport`]).
    pub async fn over(
        store: EventStore,
        transport: Arc<T>,
        config: RelayConfig,
    ) -> Result<Relay<T>, RelayError> {
        Relay::assemble(store, LazyTransport::ready(transport), config).await
    }

    async fn assemble(
        store: EventStore,
        transport: LazyTransport<T>,
        config: RelayConfig,
    ) -> Result<Relay<T>, RelayError> {
        let db = store.database().clone();
        db.migrate("evc-outbox", MIGRATIONS).await?;
        Ok(Relay {
            store,
            db,
            transport,
            config,
        })
    }

    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The last checkpointed position (0 before the first).
    pub async fn checkpoint(&self) -> Result<u64, RelayError> {
        let mut tx = self.db.read().await?;
        let v = tx
            .row(
                "SELECT position FROM relay_checkpoint WHERE relay = $1",
                &args![&self.config.name],
            )
            .await?
            .map(|r| r.i64(0))
            .transpose()?;
        Ok(v.map_or(0, |p| u64::try_from(p).unwrap_or(0)))
    }

    /// Records `position` as published (never moves the checkpoint backwards). Call it only
    /// for positions the broker acknowledged.
    pub async fn record_checkpoint(&self, position: u64) -> Result<(), RelayError> {
        let p = i64::try_from(position).unwrap_or(i64::MAX);
        let now = match self.db.dialect() {
            Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            Dialect::Postgres => "now()",
        };
        let mut tx = self.db.write().await?;
        tx.exec(
            &format!(
                "INSERT INTO relay_checkpoint (relay, position) VALUES ($1, $2)
                 ON CONFLICT (relay) DO UPDATE SET position = excluded.position, updated_at = {now}
                 WHERE relay_checkpoint.position < excluded.position"
            ),
            &args![&self.config.name, p],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Publishes the next batch after the checkpoint and waits for every acknowledgement,
    /// **without** checkpointing it. `None` when there is nothing to publish. On a failure,
    /// `Err` carries the acknowledged prefix, if any, as the second element.
    pub async fn publish_next(&self) -> Result<Option<Published>, (RelayError, Option<u64>)> {
        let from = self.checkpoint().await.map_err(|e| (e, None))? + 1;
        let events = self
            .store
            .read_all(from, self.config.batch_size.max(1))
            .await
            .map_err(|e| (e.into(), None))?;
        if events.is_empty() {
            return Ok(None);
        }
        let first = events[0].position;
        let transport = self
            .transport
            .get()
            .await
            .map_err(|e| (RelayError::Producer(e.into()), None))?;
        let spans: Vec<tracing::Span> = events.iter().map(|e| self.publish_span(e)).collect();
        let messages: Vec<Outgoing> = events
            .iter()
            .zip(&spans)
            .map(|(e, span)| message(e, span))
            .collect();
        let published = transport.publish_batch(&self.config.topic, messages).await;
        drop(spans); // the spans end with the broker's answer
        match published {
            Ok(_) => Ok(Some(Published {
                positions: events.iter().map(|e| e.position).collect(),
            })),
            Err(source) => Err((
                RelayError::Publish {
                    position: first,
                    source,
                },
                None,
            )),
        }
    }

    /// The span an event is published in: a child of the trace context stored with it, else
    /// the root of a new trace.
    fn publish_span(&self, e: &RecordedEvent) -> tracing::Span {
        let span = tracing::info_span!(
            parent: None,
            "evc.relay.publish",
            relay = %self.config.name,
            topic = %self.config.topic,
            position = e.position,
            event_id = %e.event_id,
        );
        if let Some(parent) = &e.trace {
            parent.set_parent_of(&span);
        }
        span
    }

    /// Publishes the next batch and checkpoints it (on a failure, checkpoints the
    /// acknowledged prefix and answers the error). Answers how many events were published.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        match self.publish_next().await {
            Ok(None) => Ok(0),
            Ok(Some(p)) => {
                if let Some(last) = p.last() {
                    self.record_checkpoint(last).await?;
                }
                Ok(p.positions.len())
            }
            Err((e, acked)) => {
                if let Some(last) = acked {
                    self.record_checkpoint(last).await?;
                }
                Err(e)
            }
        }
    }

    /// Relays until the checkpoint reaches the store's last position (as read at each step).
    pub async fn catch_up(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            let n = self.relay_once().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Relays until `stop` completes, sleeping [`RelayConfig::poll_interval`] when idle;
    /// answers how many events were published. A failure ends the run (restart it: it resumes
    /// from the checkpoint).
    pub async fn run(&self, stop: impl Future<Output = ()>) -> Result<usize, RelayError> {
        tokio::pin!(stop);
        let mut total = 0;
        loop {
            let n = tokio::select! {
                biased;
                _ = &mut stop => return Ok(total),
                n = self.relay_once() => n?,
            };
            total += n;
            if n == 0 {
                tokio::select! {
                    biased;
                    _ = &mut stop => return Ok(total),
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                }
            }
        }
    }

    /// Drops the relay (every publish already awaited its confirmation).
    pub async fn close(self, _timeout: Duration) -> Result<(), RelayError> {
        Ok(())
    }
}

/// The message of a stored event: its partition key, its stored bytes, the producer's headers
/// and the trace context of the span it is published in.
fn message(e: &RecordedEvent, span: &tracing::Span) -> Outgoing {
    let mut m = Outgoing::new(e.key(), e.payload.clone());
    m.headers = event_headers(Some(e.event_id), &e.event_type);
    if let Some(trace) = TraceContext::of_span(span) {
        trace_headers(&mut m.headers, &trace);
    }
    m
}
