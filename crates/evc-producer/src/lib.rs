//! A typed Kafka producer for evc's generated events.
//!
//! **Owns:** turning a generated event ([`Event`], or a topic's event enum, [`TopicEvent`]) into
//! a Kafka record and getting it delivered: the value is the Confluent wire format written by
//! `evc-wire` (magic byte, registry schema id, Avro body); the key is the event's partition key
//! (the order id for the order events), so every event of one entity lands on one partition in
//! the order it was sent; the headers name the event ([`headers`]). The underlying rdkafka
//! `FutureProducer` is always idempotent with `acks=all` (a configuration that turns either off
//! is refused), so broker-side retries neither duplicate nor reorder records. Every send waits
//! for the broker's acknowledgement and answers the partition and offset ([`Delivered`]); a
//! failed delivery is an error ([`ProduceError`]), never dropped. Batches enqueue every record in
//! order, await every acknowledgement and report the first failure with the event that failed
//! ([`BatchError`]). [`EventProducer::close`] flushes before the producer goes away.
//!
//! **Does not own:** the wire format, schema ids and their caching (`evc-wire`,
//! `evc-registry-client`), Avro encoding (`evc-avro`), topic creation, consuming (`evc-consumer`),
//! transactions (exactly-once across topics) and the outbox pattern (producing in the same
//! database transaction as a state change).
//!
//! ## Record layout
//!
//! | part | content |
//! |---|---|
//! | key | [`Event::partition_key`] as UTF-8 (for order events the `order_id` UUID string) |
//! | value | Confluent wire format: `0x00`, 4-byte big-endian schema id, Avro binary body |
//! | header `evc-event-id` | the event's id (UUID string), when its schema has one |
//! | header `evc-event-type` | the full name of the event's record (`com.acme.orders.OrderCreated`) |
//! | header `content-type` | `application/vnd.confluent.avro` ([`CONTENT_TYPE`]) |
//!
//! `application/vnd.confluent.avro` is evc's name for "Confluent-framed Avro": there is no
//! registered media type for it (`application/vnd.apache.avro+binary` is plain Avro without the
//! 5-byte header). The headers are informational, for routing and tooling: consumers read the
//! event type from the registry schema, not from the header.
//!
//! Partitioning uses librdkafka's `murmur2_random` partitioner, the Java client's default, so a
//! key lands on the same partition whichever client (Java, Go, Rust) produced it.
//!
//! ## Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use evc_producer::{EventProducer, ProducerConfig};
//! use evc_registry_client::RegistryClient;
//! # fn order_created() -> order_events::OrderCreated {
//! #     order_events::OrderCreated {
//! #         event_id: evc_avro::uuid::Uuid::new_v4(),
//! #         order_id: evc_avro::uuid::Uuid::new_v4(),
//! #         occurred_at: evc_avro::chrono::Utc::now(),
//! #         customer_id: "c-1".into(),
//! #         currency: "EUR".into(),
//! #         channel: order_events::order_created::v2::SalesChannel::Web,
//! #         shipping_address: None,
//! #     }
//! # }
//!
//! let registry = RegistryClient::new("http://schema-registry:8081")?;
//! let producer = EventProducer::new(&ProducerConfig::new("kafka-1:9092,kafka-2:9092"), registry)?;
//!
//! // One event: answers once the broker has it (acks=all).
//! let delivered = producer.send(&order_created()).await?;
//! println!("{} [{}] @ {}", delivered.topic, delivered.partition, delivered.offset);
//!
//! // Any event of the `orders` topic through its enum.
//! let event = order_events::OrderEvent::from(order_created());
//! producer.send_topic(&event).await?;
//!
//! // Many: all enqueued in order, all awaited; the first failure says which event it was.
//! let all = producer.send_batch(&[order_created(), order_created()]).await?;
//! assert_eq!(all.len(), 2);
//!
//! producer.close(std::time::Duration::from_secs(10)).await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod error;

use std::time::{Duration, Instant};

use evc_avro::{Event, TopicEvent};
use evc_registry_client::RegistryClient;
use evc_wire::Serializer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::Timestamp;
use uuid::Uuid;

pub use config::ProducerConfig;
pub use error::{BatchError, ProduceError};

/// The header names the producer writes.
pub mod headers {
    /// The event's id (UUID string), when the event has one.
    pub const EVENT_ID: &str = "evc-event-id";
    /// The full name of the event's record type, e.g. `com.acme.orders.OrderCreated`.
    pub const EVENT_TYPE: &str = "evc-event-type";
    /// The value's media type: [`CONTENT_TYPE`](crate::CONTENT_TYPE).
    pub const CONTENT_TYPE: &str = "content-type";
}

/// The `content-type` header of every value the producer writes: Confluent-framed Avro.
pub const CONTENT_TYPE: &str = "application/vnd.confluent.avro";

/// Where a record landed, once the broker acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp (milliseconds since the epoch) as the broker reported it.
    pub timestamp: Option<i64>,
}

/// A record ready to enqueue.
struct Prepared {
    topic: String,
    key: String,
    value: Vec<u8>,
    event_id: Option<Uuid>,
    event_type: &'static str,
}

impl Prepared {
    fn headers(&self) -> OwnedHeaders {
        let id = self.event_id.map(|id| id.to_string());
        let mut h = OwnedHeaders::new_with_capacity(3);
        if let Some(id) = &id {
            h = h.insert(Header {
                key: headers::EVENT_ID,
                value: Some(id.as_bytes()),
            });
        }
        h.insert(Header {
            key: headers::EVENT_TYPE,
            value: Some(self.event_type.as_bytes()),
        })
        .insert(Header {
            key: headers::CONTENT_TYPE,
            value: Some(CONTENT_TYPE.as_bytes()),
        })
    }
}

/// A typed, idempotent Kafka producer of generated events (see the [crate] docs).
///
/// Cheap to share behind an `Arc`; every method takes `&self`.
pub struct EventProducer {
    producer: FutureProducer,
    serializer: Serializer,
    /// Schema ids of topic-enum events: (subject, address of the static schema) → id.
    queue_timeout: Duration,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("serializer", &self.serializer)
            .field("queue_timeout", &self.queue_timeout)
            .finish_non_exhaustive()
    }
}

impl EventProducer {
    /// A producer whose schemas must already be registered (look-up only, as in production).
    pub fn new(
        config: &ProducerConfig,
        registry: RegistryClient,
    ) -> Result<EventProducer, ProduceError> {
        EventProducer::with_serializer(config, Serializer::new(registry))
    }

    /// A producer with a serializer of your own, e.g. one that auto-registers schemas
    /// (`Serializer::new(client).auto_register(true)`, for development).
    pub fn with_serializer(
        config: &ProducerConfig,
        serializer: Serializer,
    ) -> Result<EventProducer, ProduceError> {
        let producer: FutureProducer = config
            .client_config()?
            .create()
            .map_err(ProduceError::Client)?;
        Ok(EventProducer {
            producer,
            serializer,
            queue_timeout: config.queue_timeout,
        })
    }

    /// The rdkafka producer underneath (for metadata, statistics, ...).
    pub fn inner(&self) -> &FutureProducer {
        &self.producer
    }

    pub fn serializer(&self) -> &Serializer {
        &self.serializer
    }

    /// Sends `event` to its topic ([`Event::TOPIC`]) and waits for the acknowledgement.
    pub async fn send<T: Event + 'static>(&self, event: &T) -> Result<Delivered, ProduceError> {
        self.send_to(T::TOPIC, event).await
    }

    /// Sends `event` to `topic` (a test topic, a renamed topic) and waits for the
    /// acknowledgement.
    pub async fn send_to<T: Event + 'static>(
        &self,
        topic: &str,
        event: &T,
    ) -> Result<Delivered, ProduceError> {
        let prepared = self.prepare(topic, event).await?;
        let delivery = self.enqueue(&prepared).await?;
        await_delivery(&prepared, delivery).await
    }

    /// Sends an event of a topic's enum to [`TopicEvent::TOPIC`] and waits for the
    /// acknowledgement.
    pub async fn send_topic<E: TopicEvent + 'static>(
        &self,
        event: &E,
    ) -> Result<Delivered, ProduceError> {
        self.send_topic_to(E::TOPIC, event).await
    }

    /// Sends an event of a topic's enum to `topic` and waits for the acknowledgement.
    pub async fn send_topic_to<E: TopicEvent + 'static>(
        &self,
        topic: &str,
        event: &E,
    ) -> Result<Delivered, ProduceError> {
        let prepared = self.prepare_topic(topic, event).await?;
        let delivery = self.enqueue(&prepared).await?;
        await_delivery(&prepared, delivery).await
    }

    /// Sends every event to its topic: all are encoded first (nothing is sent if one cannot be),
    /// then enqueued in order (so the events of one key keep their order), then every
    /// acknowledgement is awaited. Answers the deliveries in input order, or the first failure.
    pub async fn send_batch<T: Event + 'static>(
        &self,
        events: &[T],
    ) -> Result<Vec<Delivered>, BatchError> {
        let mut prepared = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let p = self
                .prepare(T::TOPIC, event)
                .await
                .map_err(|source| BatchError::new(index, event.event_id(), T::FULL_NAME, source))?;
            prepared.push(p);
        }
        self.send_prepared(prepared).await
    }

    /// [`EventProducer::send_batch`] for a topic's event enum.
    pub async fn send_topic_batch<E: TopicEvent + 'static>(
        &self,
        events: &[E],
    ) -> Result<Vec<Delivered>, BatchError> {
        let mut prepared = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let p = self
                .prepare_topic(E::TOPIC, event)
                .await
                .map_err(|source| {
                    BatchError::new(index, event.event_id(), event.full_name(), source)
                })?;
            prepared.push(p);
        }
        self.send_prepared(prepared).await
    }

    /// Waits until every enqueued record is acknowledged or failed (blocking librdkafka call,
    /// run off the async worker threads).
    pub async fn flush(&self, timeout: Duration) -> Result<(), ProduceError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| ProduceError::Flush(KafkaError::Canceled, e.to_string()))?
            .map_err(|e| ProduceError::Flush(e, format!("within {timeout:?}")))
    }

    /// Flushes, then drops the producer. Call it on shutdown: dropping an rdkafka producer
    /// purges records it has not delivered yet (only possible when a send future was dropped
    /// before it completed, since every send here waits for its acknowledgement).
    pub async fn close(self, timeout: Duration) -> Result<(), ProduceError> {
        self.flush(timeout).await
    }

    async fn send_prepared(&self, prepared: Vec<Prepared>) -> Result<Vec<Delivered>, BatchError> {
        // Enqueue everything in order first; stop enqueuing at the first refusal, but still
        // await what was enqueued: those records are on their way and their outcome is reported.
        let mut futures = Vec::with_capacity(prepared.len());
        let mut refused = None;
        for (index, p) in prepared.iter().enumerate() {
            match self.enqueue(p).await {
                Ok(f) => futures.push(f),
                Err(e) => {
                    refused = Some((index, e));
                    break;
                }
            }
        }
        let mut outcomes = Vec::with_capacity(prepared.len());
        let mut first_error = None;
        for (index, f) in futures.into_iter().enumerate() {
            match await_delivery(&prepared[index], f).await {
                Ok(d) => outcomes.push(Some(d)),
                Err(e) => {
                    outcomes.push(None);
                    first_error.get_or_insert((index, e));
                }
            }
        }
        if let Some((index, e)) = refused {
            first_error.get_or_insert((index, e));
        }
        outcomes.resize(prepared.len(), None);
        match first_error {
            None => Ok(outcomes.into_iter().flatten().collect()),
            Some((index, source)) => {
                let p = &prepared[index];
                let mut err = BatchError::new(index, p.event_id, p.event_type, source);
                err.delivered = outcomes;
                Err(err)
            }
        }
    }

    async fn prepare<T: Event + 'static>(
        &self,
        topic: &str,
        event: &T,
    ) -> Result<Prepared, ProduceError> {
        let value = self
            .serializer
            .serialize(event)
            .await
            .map_err(ProduceError::Serialize)?;
        Ok(Prepared {
            topic: topic.to_string(),
            key: event.partition_key(),
            value,
            event_id: event.event_id(),
            event_type: T::FULL_NAME,
        })
    }

    async fn prepare_topic<E: TopicEvent + 'static>(
        &self,
        topic: &str,
        event: &E,
    ) -> Result<Prepared, ProduceError> {
        let value = self
            .serializer
            .serialize_topic(event)
            .await
            .map_err(ProduceError::Serialize)?;
        Ok(Prepared {
            topic: topic.to_string(),
            key: event.partition_key(),
            value,
            event_id: event.event_id(),
            event_type: event.full_name(),
        })
    }

    /// Enqueues one record, waiting (up to the queue timeout) while librdkafka's queue is full.
    async fn enqueue(&self, p: &Prepared) -> Result<DeliveryFuture, ProduceError> {
        let started = Instant::now();
        loop {
            let record = FutureRecord::to(&p.topic)
                .key(p.key.as_bytes())
                .payload(&p.value)
                .headers(p.headers());
            match self.producer.send_result(record) {
                Ok(f) => return Ok(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if started.elapsed() < self.queue_timeout =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((source, _)) => {
                    return Err(ProduceError::Enqueue {
                        topic: p.topic.clone(),
                        source,
                    })
                }
            }
        }
    }
}

async fn await_delivery(p: &Prepared, f: DeliveryFuture) -> Result<Delivered, ProduceError> {
    match f.await {
        Ok(Ok(d)) => Ok(Delivered {
            topic: p.topic.clone(),
            partition: d.partition,
            offset: d.offset,
            timestamp: match d.timestamp {
                Timestamp::NotAvailable => None,
                Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
            },
        }),
        Ok(Err((source, _))) => Err(ProduceError::Delivery {
            topic: p.topic.clone(),
            source,
        }),
        Err(_canceled) => Err(ProduceError::Canceled {
            topic: p.topic.clone(),
        }),
    }
}
