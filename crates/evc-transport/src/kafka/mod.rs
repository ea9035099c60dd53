//! Kafka (feature `kafka`, rdkafka): the transport evc started with, on the common interface.
//!
//! | concept | Kafka |
//! |---|---|
//! | topic, shard | topic, partition; the dead-letter topic `<topic>.dlq` with as many partitions |
//! | key → shard | librdkafka's `murmur2_random` partitioner (the Java client's), the same as [`crate::hash`] |
//! | publish confirmation | idempotent producer, `acks=all` (as `evc-producer`); the receipt names partition and offset |
//! | group | a consumer group, `cooperative-sticky` assignment, `auto.offset.reset=earliest` |
//! | ack | `enable.auto.offset.store=false`: the offset is stored on ack and committed every [`KafkaOptions::commit_interval`], on revoke and on close |
//! | nack | the subscription holds the message and hands it out again after the delay (Kafka has no per-message negative ack); nothing later in its partition goes out meanwhile |
//! | delivery count | counted by the subscription: a new member starts again at 1 ([`Capabilities::durable_delivery_count`] is false) |
//! | dead letter | produced to `<topic>.dlq` with the original key and headers plus `evc.dlq.*`, acknowledged by the broker, then the original is acked |
//! | replay | `<topic>.dlq` read under the group `<topic>.dlq.replay` up to the end it had when the replay started; each message produced to its original topic, then its offset committed |
//!
//! Acks between two commits are lost if the member dies: those messages are delivered again
//! (at least once); evc's idempotent consumer absorbs that.

mod lag;
mod replay;
mod subscription;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::{
    check_name, dlq_name, Capabilities, Delivery, Headers, Outgoing, Receipt, ReplayReport,
    SubscribeOptions, Transport, TransportError, TransportKind,
};

pub use subscription::KafkaSubscription;

const KIND: TransportKind = TransportKind::Kafka;
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach Kafka.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub bootstrap: String,
    /// How often acked offsets are committed.
    pub commit_interval: Duration,
    /// How long a publish may take, librdkafka's retries included (`delivery.timeout.ms`).
    pub delivery_timeout: Duration,
    /// Partition count and replication of topics [`Transport::declare_topic`] creates
    /// (replication -1: the broker's default).
    pub replication: i32,
    /// Extra librdkafka properties for every client (not the guarantees: idempotence,
    /// `acks`, offset storing).
    pub overrides: Vec<(String, String)>,
    /// Extra properties of the group members' consumers only (`session.timeout.ms`, ...),
    /// applied after evc's defaults; offset storing and committing stay evc's.
    pub consumer_overrides: Vec<(String, String)>,
    /// Extra properties of the producers only (`linger.ms`, `message.timeout.ms`, ...),
    /// applied after evc's defaults; idempotence and `acks=all` stay on.
    pub producer_overrides: Vec<(String, String)>,
    /// How long [`Subscription::close`](crate::Subscription::close) keeps retrying its commit
    /// while the group is rebalancing (it polls meanwhile, so the rebalance can finish).
    pub close_timeout: Duration,
}

impl KafkaOptions {
    /// Bootstrap servers `host:port[,host:port]`; commits every second; 2 minute delivery
    /// timeout.
    pub fn new(bootstrap: impl Into<String>) -> KafkaOptions {
        KafkaOptions {
            bootstrap: bootstrap.into(),
            commit_interval: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(120),
            replication: -1,
            overrides: Vec::new(),
            consumer_overrides: Vec::new(),
            producer_overrides: Vec::new(),
            close_timeout: Duration::from_secs(10),
        }
    }

    pub fn commit_interval(mut self, every: Duration) -> KafkaOptions {
        self.commit_interval = every;
        self
    }

    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> KafkaOptions {
        self.overrides.push((key.into(), value.into()));
        self
    }

    pub(crate) fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in &self.overrides {
            c.set(k, v);
        }
        c
    }

    /// The producer settings: idempotent, `acks=all`, Java's partitioner, then
    /// [`KafkaOptions::producer_overrides`] (the guarantees set again after them).
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("partitioner", "murmur2_random")
            .set("allow.auto.create.topics", "false")
            .set(
                "delivery.timeout.ms",
                self.delivery_timeout.as_millis().max(1).to_string(),
            )
            .set("enable.idempotence", "true")
            .set("acks", "all");
        for (k, v) in &self.producer_overrides {
            c.set(k, v);
        }
        c.set("enable.idempotence", "true").set("acks", "all");
        c
    }
}

pub(crate) fn kafka_error(operation: &'static str, target: &str, e: KafkaError) -> TransportError {
    let transient = matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
        )
    );
    if transient {
        TransportError::Unavailable {
            kind: KIND,
            endpoint: target.to_string(),
            source: Box::new(e),
        }
    } else {
        TransportError::broker(KIND, operation, target, e)
    }
}

pub(crate) fn to_kafka_headers(h: &Headers) -> OwnedHeaders {
    let mut out = OwnedHeaders::new_with_capacity(h.len());
    for (key, value) in h.iter() {
        out = out.insert(Header {
            key,
            value: Some(value),
        });
    }
    out
}

pub(crate) fn from_kafka_headers<H: rdkafka::message::Headers>(h: Option<&H>) -> Headers {
    h.map(|h| {
        h.iter()
            .map(|x| (x.key.to_string(), x.value.unwrap_or_default().to_vec()))
            .collect()
    })
    .unwrap_or_default()
}

/// The Kafka transport (see the [module](self) docs).
pub struct KafkaTransport {
    options: KafkaOptions,
    producer: FutureProducer,
    metadata: Arc<BaseConsumer>,
    partitions: Mutex<HashMap<String, u32>>,
}

impl KafkaTransport {
    pub fn new(options: KafkaOptions) -> Result<KafkaTransport, TransportError> {
        let producer: FutureProducer = options
            .producer_config()
            .create()
            .map_err(|e| kafka_error("creating the producer", &options.bootstrap, e))?;
        let metadata: BaseConsumer = options
            .base()
            .set("allow.auto.create.topics", "false")
            .create()
            .map_err(|e| kafka_error("creating a metadata client", &options.bootstrap, e))?;
        Ok(KafkaTransport {
            options,
            producer,
            metadata: Arc::new(metadata),
            partitions: Mutex::default(),
        })
    }

    fn admin(&self, topic: &str) -> Result<AdminClient<DefaultClientContext>, TransportError> {
        self.options
            .base()
            .create()
            .map_err(|e| kafka_error("creating an admin client", topic, e))
    }

    pub fn options(&self) -> &KafkaOptions {
        &self.options
    }

    /// The partition count of `topic` per the cluster's metadata (None: no such topic).
    async fn lookup(&self, topic: &str) -> Result<Option<u32>, TransportError> {
        let client = self.metadata.clone();
        let name = topic.to_string();
        let metadata = tokio::task::spawn_blocking(move || {
            client.fetch_metadata(Some(&name), METADATA_TIMEOUT)
        })
        .await
        .map_err(|e| TransportError::broker(KIND, "reading metadata", topic, e.to_string()))?
        .map_err(|e| kafka_error("reading metadata", topic, e))?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            .map(|t| t.partitions().len() as u32))
    }

    async fn partition_count(&self, topic: &str) -> Result<u32, TransportError> {
        if let Some(n) = self.partitions.lock().expect("not poisoned").get(topic) {
            return Ok(*n);
        }
        let n = self
            .lookup(topic)
            .await?
            .ok_or_else(|| TransportError::UnknownTopic {
                kind: KIND,
                topic: topic.to_string(),
            })?;
        self.partitions
            .lock()
            .expect("not poisoned")
            .insert(topic.to_string(), n);
        Ok(n)
    }

    /// Enqueues one record, waiting while librdkafka's queue is full.
    pub(crate) async fn enqueue(
        producer: &FutureProducer,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<DeliveryFuture, TransportError> {
        let started = Instant::now();
        loop {
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .payload(payload)
                .headers(headers.clone());
            if let Some(k) = key {
                record = record.key(k);
            }
            match producer.send_result(record) {
                Ok(f) => return Ok(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if started.elapsed() < Duration::from_secs(30) =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(kafka_error("enqueueing", topic, e)),
            }
        }
    }

    pub(crate) async fn confirmed(
        topic: &str,
        f: DeliveryFuture,
    ) -> Result<Receipt, TransportError> {
        match f.await {
            Ok(Ok(d)) => Ok(Receipt {
                topic: topic.to_string(),
                shard: Some(d.partition as u32),
                position: Some(d.offset.to_string()),
            }),
            Ok(Err((e, _))) => Err(TransportError::NotConfirmed {
                kind: KIND,
                topic: topic.to_string(),
                reason: e.to_string(),
            }),
            Err(_canceled) => Err(TransportError::NotConfirmed {
                kind: KIND,
                topic: topic.to_string(),
                reason: "the producer went away before the delivery report".into(),
            }),
        }
    }
}

impl Transport for KafkaTransport {
    type Subscription = KafkaSubscription;

    fn kind(&self) -> TransportKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            durable_delivery_count: false,
            balanced_shards: true,
        }
    }

    async fn declare_topic(&self, topic: &str, shards: u32) -> Result<(), TransportError> {
        check_name(KIND, "topic", topic)?;
        if shards == 0 {
            return Err(TransportError::invalid(
                KIND,
                format!("topic `{topic}`"),
                "0 shards",
            ));
        }
        let dlq = dlq_name(topic);
        let mut missing = Vec::new();
        for name in [topic, dlq.as_str()] {
            match self.lookup(name).await? {
                Some(found) if name == topic && found != shards => {
                    return Err(TransportError::ShardMismatch {
                        kind: KIND,
                        topic: topic.to_string(),
                        wanted: shards,
                        found,
                    })
                }
                Some(_) => {}
                None => missing.push(name.to_string()),
            }
        }
        if !missing.is_empty() {
            let admin = self.admin(topic)?;
            let new: Vec<NewTopic<'_>> = missing
                .iter()
                .map(|n| {
                    NewTopic::new(
                        n,
                        shards as i32,
                        TopicReplication::Fixed(self.options.replication),
                    )
                })
                .collect();
            let results = admin
                .create_topics(
                    &new,
                    &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT)),
                )
                .await
                .map_err(|e| kafka_error("CreateTopics", topic, e))?;
            for r in results {
                match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((name, code)) => {
                        return Err(TransportError::broker(
                            KIND,
                            "CreateTopics",
                            name,
                            code.to_string(),
                        ))
                    }
                }
            }
        }
        self.partitions
            .lock()
            .expect("not poisoned")
            .insert(topic.to_string(), shards);
        Ok(())
    }

    async fn declare_group(&self, topic: &str, group: &str) -> Result<(), TransportError> {
        check_name(KIND, "group", group)?;
        // A group is created when its first member joins; with `auto.offset.reset=earliest`
        // it starts at the oldest retained message.
        self.partition_count(topic).await.map(|_| ())
    }

    async fn publish(&self, topic: &str, message: Outgoing) -> Result<Receipt, TransportError> {
        self.partition_count(topic).await?;
        let f = Self::enqueue(
            &self.producer,
            topic,
            Some(message.key.as_bytes()),
            &message.payload,
            to_kafka_headers(&message.headers),
        )
        .await?;
        Self::confirmed(topic, f).await
    }

    async fn publish_batch(
        &self,
        topic: &str,
        messages: Vec<Outgoing>,
    ) -> Result<Vec<Receipt>, TransportError> {
        self.partition_count(topic).await?;
        let mut pending = Vec::with_capacity(messages.len());
        for m in &messages {
            pending.push(
                Self::enqueue(
                    &self.producer,
                    topic,
                    Some(m.key.as_bytes()),
                    &m.payload,
                    to_kafka_headers(&m.headers),
                )
                .await?,
            );
        }
        let mut out = Vec::with_capacity(pending.len());
        for f in pending {
            out.push(Self::confirmed(topic, f).await?);
        }
        Ok(out)
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<KafkaSubscription, TransportError> {
        check_name(KIND, "group", &options.group)?;
        self.partition_count(topic).await?;
        KafkaSubscription::start(&self.options, topic, options)
    }

    async fn delete_group(&self, topic: &str, group: &str) -> Result<(), TransportError> {
        let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
        let results = self
            .admin(topic)?
            .delete_groups(&[group], &options)
            .await
            .map_err(|e| kafka_error("DeleteGroups", group, e))?;
        for r in results {
            if let Err((name, code)) = r {
                if code != RDKafkaErrorCode::GroupIdNotFound {
                    return Err(TransportError::broker(
                        KIND,
                        "DeleteGroups",
                        name,
                        code.to_string(),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), TransportError> {
        let dlq = dlq_name(topic);
        let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
        let results = self
            .admin(topic)?
            .delete_topics(&[topic, dlq.as_str()], &options)
            .await
            .map_err(|e| kafka_error("DeleteTopics", topic, e))?;
        for r in results {
            if let Err((name, code)) = r {
                if code != RDKafkaErrorCode::UnknownTopicOrPartition {
                    return Err(TransportError::broker(
                        KIND,
                        "DeleteTopics",
                        name,
                        code.to_string(),
                    ));
                }
            }
        }
        self.partitions.lock().expect("not poisoned").remove(topic);
        Ok(())
    }

    async fn dead_letters(
        &self,
        topic: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, TransportError> {
        replay::read_dead_letters(&self.options, &dlq_name(topic), limit).await
    }

    async fn replay_dead_letters(&self, topic: &str) -> Result<ReplayReport, TransportError> {
        replay::replay(&self.options, &self.producer, &dlq_name(topic)).await
    }
}

/// Each partition's low and high watermark.
pub(crate) fn watermarks(
    consumer: &impl Consumer,
    topic: &str,
) -> Result<Vec<(i32, i64, i64)>, TransportError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|e| kafka_error("reading metadata", topic, e))?;
    let mut out = Vec::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), METADATA_TIMEOUT)
                .map_err(|e| kafka_error("reading watermarks", topic, e))?;
            out.push((p.id(), low, high));
        }
    }
    Ok(out)
}

pub(crate) fn assignment(
    topic: &str,
    starts: &[(i32, i64)],
) -> Result<TopicPartitionList, TransportError> {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in starts {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .map_err(|e| kafka_error("assigning", topic, e))?;
    }
    Ok(tpl)
}
