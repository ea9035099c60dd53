//! A transactional-outbox relay: the event store **is** the outbox.
//!
//! **Owns:** publishing what the event store ([`evc_eventstore::EventStore`]) committed to
//! Kafka, in global-position order, at least once; the relay's checkpoint (the last position
//! the broker acknowledged) in a `relay_checkpoint` table of the store's own database (SQLite
//! or PostgreSQL, from versioned migrations: component `evc-outbox`); resuming after a crash
//! from that checkpoint; its Prometheus metrics ([`RelayMetrics`]: backlog, age of the oldest
//! unpublished event, checkpoint). It works for any events: it never decodes a payload.
//!
//! **Does not own:** encoding (the stored bytes are sent as they are), appending events
//! (`evc-order`, `evc-eventstore`), consuming and deduplicating (`evc-consumer`).
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
//! `content-type: application/vnd.confluent.avro`. The producer is idempotent with `acks=all`
//! (enforced by [`evc_producer::ProducerConfig`]) and uses `murmur2_random`, so a key lands on
//! the partition `evc-producer` would pick.
//!
//! # Guarantees, and how
//!
//! - **Order.** A batch is read by position and enqueued in that order into one idempotent
//!   producer: the events of one key (one partition) keep their store order.
//! - **At least once, no gap.** The checkpoint is written only after every record up to it
//!   was acknowledged; after a failure only the acknowledged prefix of the batch is
//!   checkpointed. A relay that dies between the acknowledgement and the checkpoint write
//!   publishes those events again when it restarts: duplicates, never a gap. Consumers
//!   deduplicate by event id (`evc-consumer`'s processed-events store).
//! - **No silent skip.** An event the broker refuses stops the relay with
//!   [`RelayError::Publish`] at that position; nothing after it is checkpointed.
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
use std::time::{Duration, Instant};

use evc_eventstore::{EventStore, RecordedEvent, StoreError};
use evc_producer::{headers, ProduceError, ProducerConfig, CONTENT_TYPE};
use evc_storage::{args, Database, Dialect, Migration, StorageError};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

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
    #[error("event at position {position} was not published: {source}")]
    Publish { position: u64, source: KafkaError },
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
    /// How long to wait while librdkafka's queue is full.
    pub queue_timeout: Duration,
}

impl RelayConfig {
    /// A relay named `name` publishing to `topic`, with 500-event batches, a 200 ms idle poll
    /// and a 30 s queue timeout.
    pub fn new(name: impl Into<String>, topic: impl Into<String>) -> RelayConfig {
        RelayConfig {
            name: name.into(),
            topic: topic.into(),
            batch_size: 500,
            poll_interval: Duration::from_millis(200),
            queue_timeout: Duration::from_secs(30),
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

/// The relay (see the [crate] docs).
pub struct Relay {
    store: EventStore,
    db: Database,
    producer: FutureProducer,
    config: RelayConfig,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay reading `store`, checkpointing in the store's own database (applying the
    /// relay's migrations) and publishing with `producer` (idempotent, `acks=all`).
    pub async fn new(
        store: EventStore,
        producer: &ProducerConfig,
        config: RelayConfig,
    ) -> Result<Relay, RelayError> {
        let db = store.database().clone();
        db.migrate("evc-outbox", MIGRATIONS).await?;
        let producer: FutureProducer = producer
            .client_config()?
            .create()
            .map_err(ProduceError::Client)?;
        Ok(Relay {
            store,
            db,
            producer,
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
        let mut futures = Vec::with_capacity(events.len());
        let mut refused = None;
        for e in &events {
            match self.enqueue(e).await {
                Ok(f) => futures.push((e.position, f)),
                Err(source) => {
                    refused = Some(RelayError::Publish {
                        position: e.position,
                        source,
                    });
                    break;
                }
            }
        }
        let mut acked = Vec::with_capacity(futures.len());
        let mut failed = None;
        for (position, f) in futures {
            let outcome = match f.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((source, _))) => Err(source),
                Err(_canceled) => Err(KafkaError::Canceled),
            };
            match outcome {
                Ok(()) if failed.is_none() => acked.push(position),
                Ok(()) => {}
                Err(source) => {
                    failed.get_or_insert(RelayError::Publish { position, source });
                }
            }
        }
        match failed.or(refused) {
            None => Ok(Some(Published { positions: acked })),
            Some(e) => Err((e, acked.last().copied())),
        }
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

    /// Flushes the producer, then drops the relay.
    pub async fn close(self, timeout: Duration) -> Result<(), RelayError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| ProduceError::Flush(KafkaError::Canceled, e.to_string()))?
            .map_err(|e| ProduceError::Flush(e, format!("within {timeout:?}")))?;
        Ok(())
    }

    async fn enqueue(&self, e: &RecordedEvent) -> Result<DeliveryFuture, KafkaError> {
        let key = e.key();
        let id = e.event_id.to_string();
        let started = Instant::now();
        loop {
            let h = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: headers::EVENT_ID,
                    value: Some(id.as_bytes()),
                })
                .insert(Header {
                    key: headers::EVENT_TYPE,
                    value: Some(e.event_type.as_bytes()),
                })
                .insert(Header {
                    key: headers::CONTENT_TYPE,
                    value: Some(CONTENT_TYPE.as_bytes()),
                });
            let record = FutureRecord::to(&self.config.topic)
                .key(key.as_bytes())
                .payload(&e.payload)
                .headers(h);
            match self.producer.send_result(record) {
                Ok(f) => return Ok(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if started.elapsed() < self.config.queue_timeout =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((source, _)) => return Err(source),
            }
        }
    }
}
