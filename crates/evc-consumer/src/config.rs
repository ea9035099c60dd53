//! Consumer configuration: the broker, retries, dead letters, and Kafka's own settings.

use std::time::Duration;

use evc_transport::kafka::{KafkaOptions, KafkaTransport};
use evc_transport::{AnyTransport, Endpoint, LazyTransport};

use crate::ConsumeError;

/// Kafka settings evc sets on the consumer and refuses to have overridden: offsets are stored
/// by evc after a message is done, and committed by evc (periodically, on revoke, on shutdown).
const ENFORCED_CONSUMER: &[(&str, &str)] = &[
    ("enable.auto.offset.store", "false"),
    ("enable.auto.commit", "false"),
];

/// Settings evc sets on the dead-letter producer and refuses to have overridden.
const ENFORCED_PRODUCER: &[(&str, &str)] = &[("enable.idempotence", "true"), ("acks", "all")];

/// Bounded exponential backoff: the wait before retry `n` (1-based) is
/// `initial_backoff * 2^(n-1)`, capped at `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: no retry). Ignored where retries are unbounded
    /// (transient failures).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// Configuration of an [`EventConsumer`](crate::EventConsumer).
///
/// ```
/// use std::time::Duration;
/// use evc_consumer::{ConsumerConfig, RetryPolicy};
///
/// let config = ConsumerConfig::new("localhost:9092", "billing") // or redis://..., amqp://...
///     .handler_retry(RetryPolicy {
///         max_attempts: 3,
///         initial_backoff: Duration::from_millis(200),
///         max_backoff: Duration::from_secs(5),
///     })
///     .commit_interval(Duration::from_secs(1))
///     .set("session.timeout.ms", "10000");
/// assert_eq!(config.dlq_topic_for("orders"), "orders.dlq");
/// // Offsets are evc's business:
/// assert!(config.clone().set("enable.auto.offset.store", "true").kafka_options("b:9092").is_err());
/// ```
/// How many events a consumer handles in one transaction unless told otherwise
/// ([`ConsumerConfig::batch_size`]).
pub const DEFAULT_BATCH_SIZE: u16 = 64;

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub(crate) broker: String,
    pub(crate) group_id: String,
    pub(crate) topics: Vec<String>,
    pub(crate) handler_retry: RetryPolicy,
    pub(crate) transient_retry: RetryPolicy,
    pub(crate) commit_interval: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) takeover_after: Duration,
    pub(crate) prefetch: u16,
    pub(crate) lag_interval: Duration,
    pub(crate) batch_size: u16,
    pub(crate) batch_linger: Duration,
    consumer_overrides: Vec<(String, String)>,
    producer_overrides: Vec<(String, String)>,
}

impl ConsumerConfig {
    /// A consumer of `group_id` on `broker`: a Kafka bootstrap list (`host:port[,...]` or
    /// `kafka://...`), `redis://...` (feature `redis`) or `amqp://...` (feature `rabbitmq`),
    /// checked when the consumer is built. Defaults: the event type's own topic, dead letters
    /// to `<topic>.dlq`, handler failures tried 5 times (100 ms doubling up to 5 s),
    /// transient failures (registry or database unreachable) retried without limit (250 ms
    /// doubling up to 10 s), a dead member's shards taken over after 10 s, batches of up to
    /// 64 events per transaction (`batch_size`); on Kafka, stored
    /// offsets committed every 5 s, `auto.offset.reset=earliest` and
    /// `partition.assignment.strategy=cooperative-sticky`.
    ///
    /// Why cooperative: with it, partitions are revoked after the group has agreed on the new
    /// assignment, while the group accepts commits, and only the partitions that move are
    /// revoked. With an eager strategy (`range`, `roundrobin`) every partition is revoked while
    /// the group is rejoining; Kafka accepts the commit on revoke then, but some brokers (the
    /// librdkafka mock cluster) answer `REBALANCE_IN_PROGRESS`, and the new owner then
    /// redelivers from the previous commit (absorbed by the processed-events store).
    pub fn new(broker: impl Into<String>, group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            broker: broker.into(),
            group_id: group_id.into(),
            topics: Vec::new(),
            handler_retry: RetryPolicy {
                max_attempts: 5,
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
            },
            transient_retry: RetryPolicy {
                max_attempts: u32::MAX,
                initial_backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(10),
            },
            commit_interval: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            takeover_after: Duration::from_secs(10),
            prefetch: 64,
            lag_interval: Duration::from_secs(5),
            batch_size: DEFAULT_BATCH_SIZE,
            batch_linger: Duration::ZERO,
            consumer_overrides: Vec::new(),
            producer_overrides: Vec::new(),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Subscribes to `topic` instead of (or, called again, besides) the event type's topic.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// The broker URL this consumer reads from.
    pub fn broker(&self) -> &str {
        &self.broker
    }

    /// The dead-letter destination of messages from `topic`: `<topic>.dlq` on every transport.
    pub fn dlq_topic_for(&self, topic: &str) -> String {
        evc_transport::dlq_name(topic)
    }

    /// How long a shard stays with a member that stopped answering before another member of
    /// the group takes it over (Redis lease; Kafka `session.timeout.ms`, at least 6 s).
    /// How often the subscriptions measure the group's lag per shard (exported as
    /// `evc_consumer_lag_messages`), in the background; 5 s by default.
    pub fn lag_interval(mut self, every: Duration) -> Self {
        self.lag_interval = every;
        self
    }

    pub fn takeover_after(mut self, after: Duration) -> Self {
        self.takeover_after = after;
        self
    }

    /// How many messages per shard the subscription may fetch ahead.
    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Up to `size` events (at least 1) handled in one database transaction: their handlers
    /// run one after the other, each event's marker and writes in the one transaction, acked
    /// in order after it commits. It is also how many deliveries of one shard may be out at
    /// once. 1: one transaction per event, the next delivery of a shard only after the
    /// previous one is settled. Default [`DEFAULT_BATCH_SIZE`] (64).
    ///
    /// In a batch whose handler fails on one event, the transaction is rolled back and the
    /// events before it are handled again in a new one: writes through the transaction happen
    /// once, but side effects outside the database (which are never covered) may then run
    /// twice. Handlers with such side effects and no way to make them idempotent can set 1.
    pub fn batch_size(mut self, size: u16) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// How long a batch waits for more events once it has one (default 0: it takes what is
    /// ready). A longer linger makes fuller batches at a trickle, at the price of latency.
    pub fn batch_linger(mut self, linger: Duration) -> Self {
        self.batch_linger = linger;
        self
    }

    /// How a failing handler is retried before its message is dead-lettered.
    pub fn handler_retry(mut self, policy: RetryPolicy) -> Self {
        self.handler_retry = policy;
        self
    }

    /// The backoff of transient failures (registry down, database unreachable, dead-letter
    /// topic not writable): retried until they pass or the consumer is stopped;
    /// `max_attempts` is ignored.
    pub fn transient_retry(mut self, policy: RetryPolicy) -> Self {
        self.transient_retry = policy;
        self
    }

    /// Kafka: how often stored offsets are committed while running (they are also committed
    /// on partition revoke and on shutdown). Redis and RabbitMQ record every ack at once.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// How long the shutdown commit is retried while the group is rebalancing (default 10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Any librdkafka consumer property (`session.timeout.ms`, `auto.offset.reset`, ...);
    /// used only when the broker is Kafka.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.consumer_overrides.push((key.into(), value.into()));
        self
    }

    /// Any librdkafka property of the dead-letter producer; used only when the broker is Kafka.
    pub fn set_dlq_producer(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.producer_overrides.push((key.into(), value.into()));
        self
    }

    /// The Kafka transport's options for `bootstrap`, with the enforced settings checked.
    pub fn kafka_options(&self, bootstrap: &str) -> Result<KafkaOptions, ConsumeError> {
        check(&self.consumer_overrides, ENFORCED_CONSUMER, "consumers")?;
        check(
            &self.producer_overrides,
            ENFORCED_PRODUCER,
            "dead-letter producers",
        )?;
        let mut options = KafkaOptions::new(bootstrap).commit_interval(self.commit_interval);
        options.close_timeout = self.shutdown_timeout;
        options.consumer_overrides = self.consumer_overrides.clone();
        options.producer_overrides = self.producer_overrides.clone();
        Ok(options)
    }

    /// The transport of [`ConsumerConfig::broker`]: Kafka is built now (with this
    /// configuration's librdkafka settings), Redis and RabbitMQ connect when the consumer
    /// starts.
    pub fn transport(&self) -> Result<LazyTransport<AnyTransport>, ConsumeError> {
        let endpoint =
            Endpoint::parse(&self.broker).map_err(evc_transport::TransportError::from)?;
        match endpoint {
            Endpoint::Kafka { bootstrap } => {
                let kafka = KafkaTransport::new(self.kafka_options(&bootstrap)?)?;
                Ok(LazyTransport::ready(std::sync::Arc::new(
                    AnyTransport::Kafka(kafka),
                )))
            }
            _ => Ok(LazyTransport::url(&self.broker)?),
        }
    }
}

fn check(
    overrides: &[(String, String)],
    enforced: &[(&'static str, &'static str)],
    who: &'static str,
) -> Result<(), ConsumeError> {
    for (k, v) in overrides {
        if let Some((_, want)) = enforced.iter().find(|(key, _)| key == k) {
            if v != want && !(k == "acks" && v == "-1") {
                return Err(ConsumeError::Config {
                    key: k.clone(),
                    value: v.clone(),
                    enforced: want,
                    who,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (1..=5).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(p.delay(200), Duration::from_millis(500));
    }

    #[test]
    fn enforced_settings() {
        let c = ConsumerConfig::new("b:9092", "g")
            .set("enable.auto.commit", "false")
            .kafka_options("b:9092")
            .unwrap();
        assert_eq!(c.consumer_overrides.len(), 1);
        let err = ConsumerConfig::new("b:9092", "g")
            .set("enable.auto.commit", "true")
            .kafka_options("b:9092")
            .unwrap_err();
        assert!(err.to_string().contains("enable.auto.commit"), "{err}");
        assert!(ConsumerConfig::new("b:9092", "g")
            .set_dlq_producer("acks", "-1")
            .kafka_options("b:9092")
            .is_ok());
        assert!(ConsumerConfig::new("b", "g")
            .set_dlq_producer("enable.idempotence", "false")
            .kafka_options("b")
            .is_err());
    }

    #[test]
    fn a_malformed_broker_url_is_refused_with_its_reason() {
        let err = ConsumerConfig::new("nats://x:4222", "g")
            .transport()
            .unwrap_err();
        assert!(err.to_string().contains("nats://"), "{err}");
    }
}
