//! A typed producer for evc's generated events, over any evc transport.
//!
//! **Owns:** turning a generated event ([`Event`], or a topic's event enum, [`TopicEvent`]) into
//! a message and getting it delivered through an `evc_transport::Transport`: the value is the
//! Confluent wire format written by `evc-wire` (magic byte, registry schema id, Avro body) on
//! every transport; the key is the event's partition key (the order id for the order events),
//! so every event of one entity lands on one shard in the order it was sent; the headers name
//! the event ([`headers`]). Every send waits for the broker's confirmation and answers where
//! the message landed ([`Delivered`]); a failed delivery is an error ([`ProduceError`]), never
//! dropped. Batches publish every message in order, await every confirmation and report the
//! failure with the event it concerns ([`BatchError`]).
//!
//! **Does not own:** the brokers (`evc-transport`: on Kafka an idempotent rdkafka producer
//! with `acks=all`, a configuration that turns either off is refused; Redis `XADD`; RabbitMQ
//! publisher confirms), the wire format, schema ids and their caching (`evc-wire`,
//! `evc-registry-client`), Avro encoding (`evc-avro`), topic creation, consuming
//! (`evc-consumer`), transactions (exactly-once across topics) and the outbox pattern
//! (producing in the same database transaction as a state change).
//!
//! The broker is the URL given to [`ProducerConfig::new`] (a Kafka bootstrap list by default;
//! `redis://...`, `amqp://...` with the features `redis`, `rabbitmq`), or any transport
//! through [`EventProducer::over`].
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
//! | header `traceparent` (`tracestate`) | the W3C trace context of the send's `evc.publish` span, when spans have ids ([`evc_telemetry::init`]) |
//!
//! `application/vnd.confluent.avro` is evc's name for "Confluent-framed Avro": there is no
//! registered media type for it (`application/vnd.apache.avro+binary` is plain Avro without the
//! 5-byte header). The headers are informational, for routing and tooling: consumers read the
//! event type from the registry schema, not from the header.
//!
//! On Kafka, partitioning uses librdkafka's `murmur2_random` partitioner, the Java client's
//! default, so a key lands on the same partition whichever client (Java, Go, Rust) produced
//! it; Redis Streams hash keys the same way (`evc_transport::hash`).
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
//! // One event: answers once the broker confirmed it (on Kafka acks=all).
//! let delivered = producer.send(&order_created()).await?;
//! println!("{} [{:?}] @ {:?}", delivered.topic, delivered.shard, delivered.position);
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

use std::sync::Arc;
use std::time::Duration;

use evc_avro::{Event, TopicEvent};
use evc_registry_client::RegistryClient;
use evc_telemetry::{TraceContext, TRACEPARENT, TRACESTATE};
use evc_transport::{AnyTransport, LazyTransport, Outgoing, Receipt, Transport};
use evc_wire::Serializer;
use tracing::Instrument as _;
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

/// Where a message landed, once the broker confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub topic: String,
    /// The shard (Kafka partition, Redis stream number), when the transport says (RabbitMQ's
    /// exchange picks the queue without telling).
    pub shard: Option<u32>,
    /// The position in the shard (Kafka offset, Redis entry id), when the transport says.
    pub position: Option<String>,
    /// The Kafka partition; -1 when the transport names none.
    pub partition: i32,
    /// The Kafka offset; -1 when the position is not a number (Redis entry ids) or unknown.
    pub offset: i64,
}

impl Delivered {
    fn from_receipt(r: Receipt) -> Delivered {
        Delivered {
            partition: r.shard.map_or(-1, |s| s as i32),
            offset: r
                .position
                .as_deref()
                .and_then(|p| p.parse().ok())
                .unwrap_or(-1),
            topic: r.topic,
            shard: r.shard,
            position: r.position,
        }
    }
}

/// The headers of an event's message: `evc-event-id` (when it has one), `evc-event-type`,
/// `content-type`.
pub fn event_headers(event_id: Option<Uuid>, event_type: &str) -> evc_transport::Headers {
    let mut h = evc_transport::Headers::new();
    if let Some(id) = event_id {
        h.push(headers::EVENT_ID, id.to_string());
    }
    h.push(headers::EVENT_TYPE, event_type);
    h.push(headers::CONTENT_TYPE, CONTENT_TYPE);
    h
}

/// Adds the W3C `traceparent` (and `tracestate`, when there is one) of `trace` to `headers`,
/// so a consumer continues the trace.
pub fn trace_headers(headers: &mut evc_transport::Headers, trace: &TraceContext) {
    headers.push(TRACEPARENT, trace.traceparent());
    if let Some(state) = trace.tracestate() {
        headers.push(TRACESTATE, state);
    }
}

/// The span a send runs in: a child of the caller's span; its context travels in the
/// messages' headers.
fn publish_span(topic: &str, messages: usize) -> tracing::Span {
    tracing::info_span!("evc.publish", topic = %topic, messages)
}

/// A message ready to publish.
struct Prepared {
    topic: String,
    message: Outgoing,
    event_id: Option<Uuid>,
    event_type: &'static str,
}

/// A typed producer of generated events (see the [crate] docs) over the transport `T` (by
/// default the one the configuration's broker URL names).
///
/// Cheap to share behind an `Arc`; every method takes `&self`.
pub struct EventProducer<T: Transport = AnyTransport> {
    transport: LazyTransport<T>,
    serializer: Serializer,
}

impl<T: Transport> std::fmt::Debug for EventProducer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("transport", &self.transport)
            .field("serializer", &self.serializer)
            .finish()
    }
}

impl EventProducer<AnyTransport> {
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
        Ok(EventProducer {
            transport: config.transport()?,
            serializer,
        })
    }
}

impl<T: Transport + 'static> EventProducer<T> {
    /// A producer over a transport you made (any implementation of
    /// [`evc_transport::Transport`], shared with others).
    pub fn over(transport: Arc<T>, serializer: Serializer) -> EventProducer<T> {
        EventProducer {
            transport: LazyTransport::ready(transport),
            serializer,
        }
    }

    /// The transport underneath (connecting it if this is its first use).
    pub async fn transport(&self) -> Result<&Arc<T>, ProduceError> {
        Ok(self.transport.get().await?)
    }

    pub fn serializer(&self) -> &Serializer {
        &self.serializer
    }

    /// Sends `event` to its topic ([`Event::TOPIC`]) and waits for the confirmation.
    pub async fn send<E: Event + 'static>(&self, event: &E) -> Result<Delivered, ProduceError> {
        self.send_to(E::TOPIC, event).await
    }

    /// Sends `event` to `topic` (a test topic, a renamed topic) and waits for the
    /// confirmation.
    pub async fn send_to<E: Event + 'static>(
        &self,
        topic: &str,
        event: &E,
    ) -> Result<Delivered, ProduceError> {
        let span = publish_span(topic, 1);
        let trace = TraceContext::of_span(&span);
        async {
            let prepared = self.prepare(topic, event, trace.as_ref()).await?;
            self.publish(prepared).await
        }
        .instrument(span)
        .await
    }

    /// Sends an event of a topic's enum to [`TopicEvent::TOPIC`] and waits for the
    /// confirmation.
    pub async fn send_topic<E: TopicEvent + 'static>(
        &self,
        event: &E,
    ) -> Result<Delivered, ProduceError> {
        self.send_topic_to(E::TOPIC, event).await
    }

    /// Sends an event of a topic's enum to `topic` and waits for the confirmation.
    pub async fn send_topic_to<E: TopicEvent + 'static>(
        &self,
        topic: &str,
        event: &E,
    ) -> Result<Delivered, ProduceError> {
        let span = publish_span(topic, 1);
        let trace = TraceContext::of_span(&span);
        async {
            let prepared = self.prepare_topic(topic, event, trace.as_ref()).await?;
            self.publish(prepared).await
        }
        .instrument(span)
        .await
    }

    /// Sends every event to its topic: all are encoded first (nothing is sent if one cannot be),
    /// then published in order (so the events of one key keep their order), then every
    /// confirmation is awaited. Answers the deliveries in input order, or the failure.
    pub async fn send_batch<E: Event + 'static>(
        &self,
        events: &[E],
    ) -> Result<Vec<Delivered>, BatchError> {
        let span = publish_span(E::TOPIC, events.len());
        let trace = TraceContext::of_span(&span);
        async {
            let mut prepared = Vec::with_capacity(events.len());
            for (index, event) in events.iter().enumerate() {
                let p = self
                    .prepare(E::TOPIC, event, trace.as_ref())
                    .await
                    .map_err(|source| {
                        BatchError::new(index, event.event_id(), E::FULL_NAME, source)
                    })?;
                prepared.push(p);
            }
            self.publish_all(prepared).await
        }
        .instrument(span)
        .await
    }

    /// [`EventProducer::send_batch`] for a topic's event enum.
    pub async fn send_topic_batch<E: TopicEvent + 'static>(
        &self,
        events: &[E],
    ) -> Result<Vec<Delivered>, BatchError> {
        self.send_topic_batch_to(E::TOPIC, events).await
    }

    /// [`EventProducer::send_topic_batch`] to `topic` (a test topic, a renamed topic).
    pub async fn send_topic_batch_to<E: TopicEvent + 'static>(
        &self,
        topic: &str,
        events: &[E],
    ) -> Result<Vec<Delivered>, BatchError> {
        let span = publish_span(topic, events.len());
        let trace = TraceContext::of_span(&span);
        async {
            let mut prepared = Vec::with_capacity(events.len());
            for (index, event) in events.iter().enumerate() {
                let p = self
                    .prepare_topic(topic, event, trace.as_ref())
                    .await
                    .map_err(|source| {
                        BatchError::new(index, event.event_id(), event.full_name(), source)
                    })?;
                prepared.push(p);
            }
            self.publish_all(prepared).await
        }
        .instrument(span)
        .await
    }

    /// Nothing to wait for: every send already awaited its confirmation. Kept so callers that
    /// flush before shutting down need not change.
    pub async fn flush(&self, _timeout: Duration) -> Result<(), ProduceError> {
        Ok(())
    }

    /// Drops the producer (every send already awaited its confirmation).
    pub async fn close(self, timeout: Duration) -> Result<(), ProduceError> {
        self.flush(timeout).await
    }

    async fn publish(&self, p: Prepared) -> Result<Delivered, ProduceError> {
        let transport = self.transport.get().await?;
        transport
            .publish(&p.topic, p.message)
            .await
            .map(Delivered::from_receipt)
            .map_err(|source| ProduceError::Delivery {
                topic: p.topic,
                source,
            })
    }

    /// Publishes consecutive runs of one topic as transport batches, in order.
    async fn publish_all(&self, prepared: Vec<Prepared>) -> Result<Vec<Delivered>, BatchError> {
        let total = prepared.len();
        let mut out: Vec<Option<Delivered>> = Vec::with_capacity(total);
        let mut rest = prepared.into_iter().peekable();
        while let Some(first) = rest.next() {
            let start = out.len();
            let topic = first.topic.clone();
            let (event_id, event_type) = (first.event_id, first.event_type);
            let mut run = vec![first.message];
            while let Some(p) = rest.next_if(|p| p.topic == topic) {
                run.push(p.message);
            }
            let fail = |source: ProduceError, delivered: Vec<Option<Delivered>>| {
                let mut e = BatchError::new(start, event_id, event_type, source);
                e.delivered = delivered;
                e
            };
            let transport = match self.transport.get().await {
                Ok(t) => t,
                Err(e) => return Err(fail(e.into(), pad(out, total))),
            };
            match transport.publish_batch(&topic, run).await {
                Ok(receipts) => out.extend(
                    receipts
                        .into_iter()
                        .map(|r| Some(Delivered::from_receipt(r))),
                ),
                Err(source) => {
                    let e = ProduceError::Delivery { topic, source };
                    return Err(fail(e, pad(out, total)));
                }
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    async fn prepare<E: Event + 'static>(
        &self,
        topic: &str,
        event: &E,
        trace: Option<&TraceContext>,
    ) -> Result<Prepared, ProduceError> {
        let value = self
            .serializer
            .serialize(event)
            .await
            .map_err(ProduceError::Serialize)?;
        Ok(prepared(
            topic,
            event.partition_key(),
            value,
            event.event_id(),
            E::FULL_NAME,
            trace,
        ))
    }

    async fn prepare_topic<E: TopicEvent + 'static>(
        &self,
        topic: &str,
        event: &E,
        trace: Option<&TraceContext>,
    ) -> Result<Prepared, ProduceError> {
        let value = self
            .serializer
            .serialize_topic(event)
            .await
            .map_err(ProduceError::Serialize)?;
        Ok(prepared(
            topic,
            event.partition_key(),
            value,
            event.event_id(),
            event.full_name(),
            trace,
        ))
    }
}

fn prepared(
    topic: &str,
    key: String,
    value: Vec<u8>,
    event_id: Option<Uuid>,
    event_type: &'static str,
    trace: Option<&TraceContext>,
) -> Prepared {
    let mut message = Outgoing::new(key, value);
    message.headers = event_headers(event_id, event_type);
    if let Some(trace) = trace {
        trace_headers(&mut message.headers, trace);
    }
    Prepared {
        topic: topic.to_string(),
        message,
        event_id,
        event_type,
    }
}

/// What was confirmed so far, then `None` for the rest of the batch.
fn pad(mut out: Vec<Option<Delivered>>, total: usize) -> Vec<Option<Delivered>> {
    out.resize(total, None);
    out
}
